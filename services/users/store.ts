import type { Store } from "../../mesh";
import type { User } from "../../gen/shop/users/v1/users";

interface UserRow {
  user_id: string;
  email: string;
  display_name: string;
  create_time: number;
}

const toUser = (row: UserRow): User => ({
  userId: row.user_id,
  email: row.email,
  displayName: row.display_name,
  createTime: new Date(row.create_time),
});

/** Queries of the users table. */
export interface UsersStore {
  /** Inserts a user; resolves false when the email is taken. */
  insert(user: User): Promise<boolean>;
  get(userId: string): Promise<User | undefined>;
  /** Users by id (and so by creation time), after `afterId`. */
  list(limit: number, afterId: string | undefined): Promise<User[]>;
}

export function createUsersStore({ db }: Store): UsersStore {
  return {
    async insert(user) {
      const rows = await db<UserRow>("users")
        .insert({
          user_id: user.userId,
          email: user.email,
          display_name: user.displayName,
          create_time: (user.createTime ?? new Date()).getTime(),
        })
        .onConflict("email")
        .ignore()
        // RETURNING yields no row when the conflict ignored the insert (sqlite3's lastID
        // would still report the connection's previous insert).
        .returning("user_id");
      return rows.length === 1;
    },

    async get(userId) {
      const row = await db<UserRow>("users").where({ user_id: userId }).first();
      return row && toUser(row);
    },

    async list(limit, afterId) {
      const query = db<UserRow>("users").orderBy("user_id").limit(limit);
      if (afterId !== undefined) void query.where("user_id", ">", afterId);
      return (await query).map(toUser);
    },
  };
}
