import type { Migration } from "../../../mesh";
import * as createUsers from "./20261126000000_create_users";
import * as addPasswordHash from "./20261126050000_add_password_hash";

/** The users store's schema history, oldest first. */
export const migrations: Migration[] = [createUsers, addPasswordHash];
