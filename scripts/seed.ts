import { status } from "@grpc/grpc-js";
import { InventoryServiceService } from "../gen/shop/inventory/v1/inventory";
import { UserServiceService } from "../gen/shop/users/v1/users";
import { hasCode } from "../mesh/api";
import { createPeer } from "../mesh/client";
import type { Topology } from "../mesh/config";
import { type MeshIdentity } from "../mesh/identity";

/** Every demo user's password, printed by start:all: demo data, never a real secret. */
export const DEMO_PASSWORD = "demo-password";
/** The demo user start:all logs in for its example commands. */
export const DEMO_LOGIN = "ada@example.com";

/** The demo shop: a few people and a few products, one of them nearly sold out. */
export const DEMO_USERS = [
  { email: DEMO_LOGIN, displayName: "Ada Lovelace", password: DEMO_PASSWORD },
  { email: "grace@example.com", displayName: "Grace Hopper", password: DEMO_PASSWORD },
  { email: "alan@example.com", displayName: "Alan Turing", password: DEMO_PASSWORD },
];

export const DEMO_PRODUCTS = [
  { sku: "sku-espresso", name: "Espresso beans, 1 kg", units: 18, nanos: 500_000_000, stock: 100 },
  { sku: "sku-grinder", name: "Burr grinder", units: 129, nanos: 0, stock: 10 },
  { sku: "sku-mug", name: "Ceramic mug", units: 9, nanos: 900_000_000, stock: 50 },
  { sku: "sku-kettle", name: "Gooseneck kettle", units: 59, nanos: 0, stock: 3 },
];

/** The services {@link seedDemoData} calls: it can start once every instance of these serves. */
export const SEEDED_SERVICES: readonly string[] = ["users", "inventory"];

/** What the seed left in place, for the printed examples. */
export interface SeedResult {
  /** Email → user id of every demo user. */
  userIds: Map<string, string>;
  /** How many users and products this run created (0 when they were there already). */
  created: number;
}

// An ALREADY_EXISTS is the demo data from an earlier run: seeding is safe to repeat.
const tolerateExisting = (err: unknown): undefined => {
  if (hasCode(err, status.ALREADY_EXISTS)) return undefined;
  throw err;
};

/** Creates the demo users and products that are not there yet, as `identity` (an operator). */
export async function seedDemoData(
  topology: Topology,
  identity: MeshIdentity,
): Promise<SeedResult> {
  const users = createPeer(UserServiceService, {
    target: topology.services.users.target,
    policy: topology.policy,
    ...identity.dialOptions("users"),
  });
  const inventory = createPeer(InventoryServiceService, {
    target: topology.services.inventory.target,
    policy: topology.policy,
    ...identity.dialOptions("inventory"),
  });
  try {
    // What is there already, so that a restart sends no CreateUser: each one hashes its
    // password (scrypt, tens of milliseconds of CPU and 32 MiB) before it finds the email taken.
    const listUserIds = async (): Promise<Map<string, string>> => {
      const ids = new Map<string, string>();
      let pageToken = "";
      do {
        const page = await users.listUsers({ pageSize: 1_000, pageToken });
        for (const user of page.users) ids.set(user.email, user.userId);
        pageToken = page.nextPageToken;
      } while (pageToken !== "");
      return ids;
    };
    let userIds = await listUserIds();
    const skus = new Set<string>();
    let pageToken = "";
    do {
      const page = await inventory.listProducts({ pageSize: 1_000, pageToken });
      for (const product of page.products) skus.add(product.sku);
      pageToken = page.nextPageToken;
    } while (pageToken !== "");

    // Another start:all on the same data may create the same rows meanwhile: tolerated. One
    // user at a time: each hashes a password, and three at once on a busy machine can take
    // longer than the call's deadline.
    const newUsers = [];
    for (const user of DEMO_USERS.filter((u) => !userIds.has(u.email))) {
      newUsers.push(await users.createUser(user).catch(tolerateExisting));
    }
    if (newUsers.length > 0) userIds = await listUserIds();
    const newProducts = await Promise.all(
      DEMO_PRODUCTS.filter((p) => !skus.has(p.sku)).map((p) =>
        inventory
          .createProduct({
            sku: p.sku,
            name: p.name,
            description: "",
            price: { currencyCode: "USD", units: p.units, nanos: p.nanos },
            initialStock: p.stock,
          })
          .catch(tolerateExisting),
      ),
    );
    const created = [...newUsers, ...newProducts].filter(Boolean).length;
    // No Login here: on a restart it would hash the demo password in users (a worker thread,
    // scrypt's 32 MiB) only to check what the printed Login command checks anyway.
    return { userIds, created };
  } finally {
    users.close();
    inventory.close();
  }
}
