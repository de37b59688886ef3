import type { Migration } from "../../../mesh";
import * as createPayments from "./20261126010000_create_payments";

/** The payments store's schema history, oldest first. */
export const migrations: Migration[] = [createPayments];
