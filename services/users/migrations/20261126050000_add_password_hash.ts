import type { Knex } from "knex";

export const name = "20261126050000_add_password_hash";

export async function up(db: Knex): Promise<void> {
  // Null for users created without a password: they cannot log in.
  await db.schema.alterTable("users", (t) => t.string("password_hash").nullable());
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable("users", (t) => t.dropColumn("password_hash"));
}
