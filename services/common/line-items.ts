import type { LineItem } from "../../gen/shop/common/v1/common";
import type { Validator } from "../../mesh";

/** Rules shared by every service that takes line items, so that they agree on what is valid. */
export const SKU_RULE = {
  max: 64,
  pattern: /^[a-z0-9][a-z0-9-]*$/,
  patternHint: "must be lower-case letters, digits and dashes",
};
export const MAX_LINE_ITEMS = 100;
export const MAX_QUANTITY = 10_000;

/** Checks a list of line items: 1 to 100, valid skus each at most once, quantities 1 to 10,000. */
export function checkLineItems(v: Validator, items: readonly LineItem[], field = "items"): void {
  if (items.length === 0) v.fail(field, "is required");
  if (items.length > MAX_LINE_ITEMS) v.fail(field, `must have at most ${MAX_LINE_ITEMS} items`);
  const seen = new Set<string>();
  items.slice(0, MAX_LINE_ITEMS).forEach((item, i) => {
    v.string(item.sku, `${field}[${i}].sku`, SKU_RULE);
    if (item.sku !== "" && seen.has(item.sku))
      v.fail(`${field}[${i}].sku`, "appears more than once");
    seen.add(item.sku);
    v.int(item.quantity, `${field}[${i}].quantity`, { min: 1, max: MAX_QUANTITY });
  });
}
