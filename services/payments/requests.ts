import { decodePageToken, pageSize, StatusError, Validator } from "../../mesh";
import type {
  ChargeRequest,
  GetPaymentRequest,
  ListPaymentsRequest,
  RefundRequest,
} from "../../gen/shop/payments/v1/payments";
import { checkMoney, toMicros } from "../common/money";
import type { PaymentFilter } from "./store";

/** The test card that is always approved; also the method of a request that names none. */
export const APPROVED_CARD = "tok_visa";
/** The test card that is always declined (Stripe's name for it). */
export const DECLINED_CARD = "tok_chargeDeclined";

const PAYMENT_METHODS = [APPROVED_CARD, DECLINED_CARD];
const MAX_ID = 64;
const MAX_REASON = 500;

/** A checked ChargeRequest. */
export interface ChargeCommand {
  orderId: string;
  userId: string;
  amountMicros: number;
  currencyCode: string;
  /** Never "": an empty method is already {@link APPROVED_CARD}. */
  paymentMethod: string;
}

/** A checked RefundRequest. */
export interface RefundCommand {
  refundId: string;
  paymentId: string;
  amountMicros: number;
  currencyCode: string;
  reason: string;
}

/** A checked ListPaymentsRequest. */
export interface ListQuery {
  filter: PaymentFilter;
  /** Fingerprint of `filter`, bound into page tokens so one only serves the query it came from. */
  fingerprint: string;
  size: number;
  afterId: string | undefined;
}

/** Checks a ChargeRequest; throws one INVALID_ARGUMENT naming every bad field. */
export function checkCharge(request: ChargeRequest): ChargeCommand {
  const v = new Validator();
  v.string(request.orderId, "order_id", { max: MAX_ID });
  v.string(request.userId, "user_id", { max: MAX_ID });
  const amount = checkMoney(v, request.amount, "amount", { allowZero: false })
    ? request.amount
    : undefined;
  const paymentMethod = request.paymentMethod === "" ? APPROVED_CARD : request.paymentMethod;
  if (!PAYMENT_METHODS.includes(paymentMethod)) {
    v.fail("payment_method", `must be one of ${PAYMENT_METHODS.join(", ")}`);
  }
  const money = doneWith(v, amount);
  return {
    orderId: request.orderId,
    userId: request.userId,
    amountMicros: toMicros(money),
    currencyCode: money.currencyCode,
    paymentMethod,
  };
}

/** Checks a RefundRequest; throws one INVALID_ARGUMENT naming every bad field. */
export function checkRefund(request: RefundRequest): RefundCommand {
  const v = new Validator();
  v.string(request.refundId, "refund_id", { max: MAX_ID });
  v.string(request.paymentId, "payment_id", { max: MAX_ID });
  const amount = checkMoney(v, request.amount, "amount", { allowZero: false })
    ? request.amount
    : undefined;
  v.string(request.reason, "reason", { max: MAX_REASON, required: false });
  const money = doneWith(v, amount);
  return {
    refundId: request.refundId,
    paymentId: request.paymentId,
    amountMicros: toMicros(money),
    currencyCode: money.currencyCode,
    reason: request.reason,
  };
}

/**
 * Throws the collected violations, if any; otherwise returns `value`, which is set whenever
 * its check passed (this only tells the compiler so).
 */
function doneWith<T>(v: Validator, value: T | undefined): T {
  v.done();
  if (value === undefined) throw new Error("a checked field has no value");
  return value;
}

/** Checks a GetPaymentRequest and returns the id. */
export function checkGet(request: GetPaymentRequest): string {
  const v = new Validator();
  v.string(request.paymentId, "payment_id", { max: MAX_ID });
  v.done();
  return request.paymentId;
}

/** Checks a ListPaymentsRequest, page token included. */
export function checkList(request: ListPaymentsRequest): ListQuery {
  const v = new Validator();
  v.string(request.orderId, "order_id", { max: MAX_ID, required: false });
  v.string(request.userId, "user_id", { max: MAX_ID, required: false });
  const size = pageSize(v, request.pageSize);
  const filter: PaymentFilter = {};
  if (request.orderId !== "") filter.orderId = request.orderId;
  if (request.userId !== "") filter.userId = request.userId;
  const fingerprint = JSON.stringify([request.orderId, request.userId]);
  const afterId = pageAfter(v, request.pageToken, fingerprint);
  v.done();
  return { filter, fingerprint, size, afterId };
}

/** The payment id a page token continues after; a bad token becomes one more violation. */
function pageAfter(v: Validator, token: string, fingerprint: string): string | undefined {
  let after: (string | number)[] | undefined;
  try {
    after = decodePageToken(token, fingerprint);
  } catch (err) {
    if (!(err instanceof StatusError)) throw err;
    for (const f of err.fieldViolations) v.fail(f.field, f.description);
    return undefined;
  }
  if (after === undefined) return undefined;
  if (after.length !== 1 || typeof after[0] !== "string") {
    v.fail("page_token", "is not a token this method returned");
    return undefined;
  }
  return after[0];
}
