import type { Migration } from "../../../mesh";
import * as createUsers from "./20261126000000_create_users";

/** The users store's schema history, oldest first. */
export const migrations: Migration[] = [createUsers];
