import type { Knex } from "knex";
import { createOutboxTables, dropOutboxTables } from "../../common/outbox";

export const name = "20261127000000_create_outbox";

export async function up(db: Knex): Promise<void> {
  await createOutboxTables(db, (t) => {
    t.string("order_id").notNullable();
    t.string("user_id").notNullable();
  });
}

export const down = dropOutboxTables;
