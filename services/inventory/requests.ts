import type { CreateProductRequest } from "../../gen/shop/inventory/v1/inventory";
import type { Validator } from "../../mesh";
import { SKU_RULE } from "../common/line-items";
import { checkMoney } from "../common/money";

// The limits the contract states (proto/shop/inventory/v1/inventory.proto). Skus and line
// items follow services/common/line-items.ts, so that orders accepts what inventory does.
const MAX_NAME = 200;
const MAX_DESCRIPTION = 2_000;
const MAX_INITIAL_STOCK = 1_000_000;
const MAX_ORDER_ID = 64;

/** Checks a sku: required, 1 to 64 lower-case letters, digits and dashes. */
export function checkSku(v: Validator, sku: string, field = "sku"): void {
  v.string(sku, field, SKU_RULE);
}

/** Checks an order id: required, at most 64 characters. */
export function checkOrderId(v: Validator, orderId: string, field = "order_id"): void {
  v.string(orderId, field, { max: MAX_ORDER_ID });
}

/** Checks every field of a CreateProduct request. */
export function checkCreateProduct(v: Validator, request: CreateProductRequest): void {
  checkSku(v, request.sku);
  v.string(request.name, "name", { max: MAX_NAME });
  v.string(request.description, "description", { required: false, max: MAX_DESCRIPTION });
  checkMoney(v, request.price, "price", { allowZero: true });
  v.int(request.initialStock, "initial_stock", { min: 0, max: MAX_INITIAL_STOCK });
}
