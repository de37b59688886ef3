/**
 * The transactional outbox every event producer shares: tables for its migration, append in
 * the transaction of the change, StreamEvents/AckEvents from a consumer's cursor, and
 * compaction that never drops an event a registered consumer has not acknowledged.
 */
export { createOutboxTables, dropOutboxTables } from "./tables";
export {
  createOutbox,
  type EventCodec,
  type Outbox,
  type OutboxEntry,
  type OutboxRecord,
} from "./outbox";
export {
  createEventStreamHandlers,
  type EventStreamHandlers,
  type EventStreamOptions,
} from "./stream-handlers";
export { createCompaction, type Compaction, type CompactionOptions } from "./compaction";
