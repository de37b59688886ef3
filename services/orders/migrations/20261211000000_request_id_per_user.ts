import type { Knex } from "knex";

export const name = "20261211000000_request_id_per_user";

/**
 * A request_id is the caller's idempotency key, so it is unique per user, not across users:
 * a user who happens to pick another user's key gets an order of their own (issue 16).
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable("orders", (t) => {
    t.dropUnique(["request_id"]);
    t.unique(["user_id", "request_id"]);
  });
}

/** Fails if two users have since used the same request_id: the old rule cannot hold them. */
export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable("orders", (t) => {
    t.dropUnique(["user_id", "request_id"]);
    t.unique(["request_id"]);
  });
}
