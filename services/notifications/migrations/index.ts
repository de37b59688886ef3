import type { Migration } from "../../../mesh";
import * as createNotifications from "./20261126000000_create_notifications";

/** The notifications store's schema history, oldest first. */
export const migrations: Migration[] = [createNotifications];
