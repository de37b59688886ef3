import { PaymentEvent, PaymentServiceService } from "../../gen/shop/payments/v1/payments";
import { served, type ServiceModule } from "../../mesh";
import { startEventRelay, type NatsRelay } from "../common/nats/relay";
import { createCompaction } from "../common/outbox";
import { migrations } from "./migrations";
import { createPaymentsService } from "./service";
import { createPaymentsStore } from "./store";

/** Payments: charges and refunds, idempotent on the order, with an event stream of both. */
export const payments: ServiceModule = {
  migrations,
  // Money: every commit is synced to disk before the caller hears it succeeded.
  durability: "full",
  async compose({ store, topology, log }) {
    const paymentsStore = createPaymentsStore(store);
    const compaction = createCompaction({ outbox: paymentsStore.events, log });
    const stopping = new AbortController();
    let relay: NatsRelay | undefined;
    const handlers = createPaymentsService({ store: paymentsStore, stopping: stopping.signal });
    return {
      services: [served(PaymentServiceService, handlers)],
      start() {
        // Events every consumer has acknowledged are deleted once past their retention.
        compaction.start();
        // With events.transport nats, the outbox is also published to JetStream.
        relay = startEventRelay(topology.events, {
          producer: "payments",
          outbox: paymentsStore.events,
          codec: PaymentEvent,
          log,
        });
      },
      // Event streams never end by themselves: ending them now (UNAVAILABLE, so consumers
      // resume elsewhere) keeps them from holding the drain up until the grace runs out.
      async beforeDrain() {
        stopping.abort();
      },
      async afterDrain() {
        await Promise.all([compaction.stop(), relay?.stop()]);
      },
    };
  },
};
