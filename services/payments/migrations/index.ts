import type { Migration } from "../../../mesh";
import * as createPayments from "./20261126010000_create_payments";
import * as createOutbox from "./20261128000000_create_outbox";

/** The payments store's schema history, oldest first. */
export const migrations: Migration[] = [createPayments, createOutbox];
