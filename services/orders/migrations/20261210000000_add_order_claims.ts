import type { Knex } from "knex";

export const name = "20261210000000_add_order_claims";

/**
 * Who is rolling a PENDING order forward, until when: two orders instances share the store, and
 * one at a time drives a given order (claims.ts). A claim whose time has passed belongs to no
 * one (its holder died); null when no one holds it.
 */
export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable("orders", (t) => {
    t.string("claim_owner").nullable();
    t.bigInteger("claim_until").nullable();
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable("orders", (t) => {
    t.dropColumn("claim_until");
    t.dropColumn("claim_owner");
  });
}
