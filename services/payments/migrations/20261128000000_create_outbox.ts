import type { Knex } from "knex";
import { createOutboxTables, dropOutboxTables } from "../../common/outbox";

export const name = "20261128000000_create_outbox";

export async function up(db: Knex): Promise<void> {
  await createOutboxTables(db, (t) => {
    t.string("payment_id").notNullable();
    t.string("order_id").notNullable();
  });
}

export const down = dropOutboxTables;
