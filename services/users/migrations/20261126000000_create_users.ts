import type { Knex } from "knex";

export const name = "20261126000000_create_users";

export async function up(db: Knex): Promise<void> {
  await db.schema.createTable("users", (t) => {
    t.string("user_id").primary();
    t.string("email").notNullable().unique();
    t.string("display_name").notNullable();
    t.bigInteger("create_time").notNullable();
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable("users");
}
