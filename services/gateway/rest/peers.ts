import {
  fromBinary,
  toBinary,
  type DescMethod,
  type DescService,
  type Message,
} from "@bufbuild/protobuf";
import type { ServiceDefinition } from "@grpc/grpc-js";
import { createPeer, type Logger, type PeerCallOptions, type PolicyConfig } from "../../../mesh";
import { type Descriptors } from "../../../mesh/config";
import { type DialOptions } from "../../../mesh/identity";
import { type Telemetry } from "../../../mesh/telemetry";

/** Calls one unary method of a service whose types are known only from descriptors. */
export type DynamicCall = (request: Message, options: PeerCallOptions) => Promise<Message>;

/** A mesh peer of a service described by descriptors: a call per method, by method name. */
export interface DynamicPeer {
  call(method: DescMethod): DynamicCall;
  close(): void;
}

/**
 * The grpc-js service definition of `service`'s unary methods, (de)serializing with
 * @bufbuild/protobuf from its descriptors, so that no generated code is needed to call it.
 */
export function definitionOf(service: DescService): ServiceDefinition {
  const definition: Record<string, ServiceDefinition[string]> = {};
  for (const method of service.methods) {
    if (method.methodKind !== "unary") continue;
    definition[method.name] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (message: Message) => Buffer.from(toBinary(method.input, message)),
      requestDeserialize: (bytes: Buffer) => fromBinary(method.input, bytes),
      responseSerialize: (message: Message) => Buffer.from(toBinary(method.output, message)),
      responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
      originalName: method.name,
    };
  }
  return definition as ServiceDefinition;
}

/** Options for {@link createDynamicPeer}. */
export interface DynamicPeerOptions {
  /** The mesh service that serves it, the metrics' `peer` label ("orders"). */
  peer: string;
  /** A grpc-js target. */
  target: string;
  policy: PolicyConfig;
  /** The same descriptors the service was read from: the policy reads their idempotency. */
  descriptors: Descriptors;
  telemetry?: Telemetry;
  log?: Logger;
  /** How to dial (the gateway's mTLS identity). Defaults to plaintext. */
  dial?: DialOptions;
}

/**
 * A mesh peer (deadlines, retries, balancing, breaker, client spans and metrics) of a service
 * known from its descriptors.
 */
export function createDynamicPeer(service: DescService, options: DynamicPeerOptions): DynamicPeer {
  const { peer, target, policy, descriptors, telemetry, log, dial } = options;
  const client = createPeer(definitionOf(service), {
    target,
    policy,
    descriptors,
    telemetry,
    log,
    peerName: peer,
    ...dial,
  }) as unknown as Record<string, DynamicCall> & { close(): void };
  return {
    call(method) {
      const call = client[method.name];
      if (!call) throw new Error(`${service.typeName}.${method.name} is not a unary method`);
      return call;
    },
    close: () => client.close(),
  };
}
