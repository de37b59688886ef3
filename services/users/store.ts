import { statement, type Store } from "../../mesh";
import type { User } from "../../gen/shop/users/v1/users";

interface UserRow {
  user_id: string;
  email: string;
  display_name: string;
  create_time: number;
  password_hash: string | null;
}

const toUser = (row: UserRow): User => ({
  userId: row.user_id,
  email: row.email,
  displayName: row.display_name,
  createTime: new Date(row.create_time),
});

/** What a login is checked against. */
export interface Credentials {
  userId: string;
  /** See passwords.ts; null when the user has no password. */
  passwordHash: string | null;
}

/** Queries of the users table. */
export interface UsersStore {
  /** Inserts a user with its password hash (null: none); resolves false when the email is taken. */
  insert(user: User, passwordHash?: string | null): Promise<boolean>;
  /** The credentials of the user with this (lower-case) email. */
  credentials(email: string): Promise<Credentials | undefined>;
  get(userId: string): Promise<User | undefined>;
  /** Users by id (and so by creation time), after `afterId`. */
  list(limit: number, afterId: string | undefined): Promise<User[]>;
}

// GetUser is on every order's path (orders asks for the buyer): a prepared statement.
const USER_BY_ID = statement<UserRow>(
  "SELECT user_id, email, display_name, create_time FROM users WHERE user_id = ?",
);

export function createUsersStore({ db }: Store): UsersStore {
  return {
    async insert(user, passwordHash = null) {
      const rows = await db<UserRow>("users")
        .insert({
          user_id: user.userId,
          email: user.email,
          display_name: user.displayName,
          create_time: (user.createTime ?? new Date()).getTime(),
          password_hash: passwordHash,
        })
        .onConflict("email")
        .ignore()
        // RETURNING yields no row when the conflict ignored the insert (sqlite3's lastID
        // would still report the connection's previous insert).
        .returning("user_id");
      return rows.length === 1;
    },

    async credentials(email) {
      const row = await db<UserRow>("users")
        .select("user_id", "password_hash")
        .where({ email })
        .first();
      return row && { userId: row.user_id, passwordHash: row.password_hash };
    },

    async get(userId) {
      const row = await USER_BY_ID.first(db, [userId]);
      return row && toUser(row);
    },

    async list(limit, afterId) {
      const query = db<UserRow>("users").orderBy("user_id").limit(limit);
      if (afterId !== undefined) void query.where("user_id", ">", afterId);
      return (await query).map(toUser);
    },
  };
}
