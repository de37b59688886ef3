import type { Migration } from "../../../mesh";
import * as createInventory from "./20261126000100_create_inventory";

/** The inventory store's schema history, oldest first. */
export const migrations: Migration[] = [createInventory];
