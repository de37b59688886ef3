import type { Money } from "../../gen/shop/common/v1/common";
import type { Validator } from "../../mesh";

/**
 * Amounts are kept as integer micros (millionths of a unit) in the stores: exact, summable
 * in SQL, and enough for every ISO 4217 currency (at most 4 decimals). Money on the wire has
 * nanos, so an amount must be a whole number of micros.
 */
const NANOS_PER_MICRO = 1_000;
const MICROS_PER_UNIT = 1_000_000;
/** Largest amount anywhere in the shop: a billion units keeps every sum exact in a double. */
export const MAX_UNITS = 1_000_000_000;
const MAX_MICROS = MAX_UNITS * MICROS_PER_UNIT;
const CURRENCY = /^[A-Z]{3}$/;

/** Options of {@link checkMoney}. */
export interface MoneyRule {
  /** Whether zero is allowed (a free product) or the amount must be positive (a charge). */
  allowZero: boolean;
}

/** Checks a Money field: present, ISO currency, consistent signs, not negative, in range. */
export function checkMoney(
  v: Validator,
  money: Money | undefined,
  field: string,
  rule: MoneyRule,
): money is Money {
  if (!v.present(money, field)) return false;
  const before = v.violations.length;
  if (!CURRENCY.test(money.currencyCode)) {
    v.fail(`${field}.currency_code`, "must be a three-letter ISO 4217 code such as USD");
  }
  if (!Number.isInteger(money.units) || money.units < 0 || money.units > MAX_UNITS) {
    v.fail(`${field}.units`, `must be an integer from 0 to ${MAX_UNITS}`);
  }
  if (!Number.isInteger(money.nanos) || money.nanos < 0 || money.nanos >= 1e9) {
    v.fail(`${field}.nanos`, "must be from 0 to 999,999,999");
  } else if (money.nanos % NANOS_PER_MICRO !== 0) {
    v.fail(`${field}.nanos`, "must be a whole number of micros (a multiple of 1000)");
  }
  if (v.violations.length > before) return false;
  if (!rule.allowZero && money.units === 0 && money.nanos === 0)
    v.fail(field, "must be more than zero");
  else if (toMicros(money) > MAX_MICROS) v.fail(field, `must be at most ${MAX_UNITS} units`);
  return v.violations.length === before;
}

/** A checked Money as integer micros. */
export function toMicros(money: Money): number {
  return money.units * MICROS_PER_UNIT + money.nanos / NANOS_PER_MICRO;
}

/** Integer micros as Money. */
export function fromMicros(micros: number, currencyCode: string): Money {
  const units = Math.trunc(micros / MICROS_PER_UNIT);
  return { currencyCode, units, nanos: (micros - units * MICROS_PER_UNIT) * NANOS_PER_MICRO };
}

/**
 * Sum of quantity × unit price over lines, in micros; undefined when it would exceed
 * {@link MAX_UNITS} (computed in BigInt so that nothing rounds on the way).
 */
export function totalMicros(
  lines: readonly { quantity: number; unitPriceMicros: number }[],
): number | undefined {
  let total = 0n;
  for (const line of lines) total += BigInt(line.quantity) * BigInt(line.unitPriceMicros);
  return total > BigInt(MAX_MICROS) ? undefined : Number(total);
}

const NANOS_DIGITS = 9;
// Cents always; finer digits only when the amount has them.
const TRAILING_ZEROS_BEYOND_CENTS = /0{1,7}$/;

/** An amount for a message, such as "46.50 USD" or "0.125 EUR". */
export function formatMoney(money: Money): string {
  const fraction = String(Math.abs(money.nanos))
    .padStart(NANOS_DIGITS, "0")
    .replace(TRAILING_ZEROS_BEYOND_CENTS, "");
  const sign = money.units < 0 || money.nanos < 0 ? "-" : "";
  return `${sign}${Math.abs(money.units)}.${fraction} ${money.currencyCode}`;
}
