/** What handlers work with: the call's context, errors, validation, pagination and ids. */
export type { CallContext, EndUser, ServerSurfaceCall } from "./call-context";
export {
  BAD_REQUEST_TYPE,
  badRequestMetadata,
  fieldViolationsOf,
  STATUS_DETAILS_KEY,
  type FieldViolation,
} from "./error-details";
export {
  alreadyExists,
  failedPrecondition,
  hasCode,
  invalidArgument,
  isGrpcError,
  notFound,
  StatusError,
  unavailable,
} from "./errors";
export { idPattern, newId } from "./ids";
export {
  DEFAULT_PAGE_SIZE,
  decodePageToken,
  encodePageToken,
  MAX_PAGE_SIZE,
  pageSize,
} from "./pagination";
export { seededRandom } from "./random";
export { Validator, type IntRule, type StringRule } from "./validate";
