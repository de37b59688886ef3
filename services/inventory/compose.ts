import { InventoryServiceService } from "../../gen/shop/inventory/v1/inventory";
import { served, type ServiceModule } from "../../mesh";
import { migrations } from "./migrations";
import { createInventoryService } from "./service";
import { createInventoryStore } from "./store";

/** Inventory: products, stock and reservations; it calls no other service. */
export const inventory: ServiceModule = {
  migrations,
  // Full durability: a reservation lost to a power cut after orders confirmed would oversell.
  durability: "full",
  async compose({ store }) {
    const handlers = createInventoryService({ store: createInventoryStore(store) });
    return { services: [served(InventoryServiceService, handlers)] };
  },
};
