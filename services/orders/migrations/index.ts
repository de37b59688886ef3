import type { Migration } from "../../../mesh";
import * as createOrders from "./20261126000000_create_orders";
import * as createOutbox from "./20261127000000_create_outbox";
import * as addOrderClaims from "./20261210000000_add_order_claims";
import * as requestIdPerUser from "./20261211000000_request_id_per_user";

/** The orders store's schema history, oldest first. */
export const migrations: Migration[] = [
  createOrders,
  createOutbox,
  addOrderClaims,
  requestIdPerUser,
];
