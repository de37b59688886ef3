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

/**
 * Users found by id, kept: a user never changes once created (nothing updates or deletes one:
 * users.proto has CreateUser, GetUser and ListUsers, and Login only reads), so a user read once
 * reads the same later, in every instance sharing the store, and GetUser answers from memory
 * after its first read instead of a trip to sqlite3's thread pool on every order. Only users
 * found are kept: one another instance creates must be found at once. If users ever become
 * editable, this goes, or learns of the edits.
 */
const MAX_KEPT_USERS = 10_000;

/** Options for {@link createUsersStore}. */
export interface UsersStoreOptions {
  /** Most users kept in memory by id. Defaults to 10 000. */
  maxKept?: number;
}

export function createUsersStore(
  { db }: Store,
  { maxKept = MAX_KEPT_USERS }: UsersStoreOptions = {},
): UsersStore {
  // By id, least recently read first: the first to go when it is full.
  const kept = new Map<string, User>();
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
      let user = kept.get(userId);
      if (user) {
        kept.delete(userId);
      } else {
        const row = await USER_BY_ID.first(db, [userId]);
        if (!row) return undefined;
        user = toUser(row);
        if (kept.size >= maxKept) kept.delete(kept.keys().next().value as string);
      }
      kept.set(userId, user);
      // A copy: the caller may change what it gets, never what is kept.
      return { ...user, createTime: user.createTime && new Date(user.createTime) };
    },

    async list(limit, afterId) {
      const query = db<UserRow>("users").orderBy("user_id").limit(limit);
      if (afterId !== undefined) void query.where("user_id", ">", afterId);
      return (await query).map(toUser);
    },
  };
}
