import {
  outlierBalancerPrototype,
  subchannelAddressToString,
  type OutlierBalancer,
} from "../internals/grpc-js";

/**
 * Outlier ejections (gRFC A50) as events. grpc-js ejects and re-admits instances inside its
 * load balancer and exposes no counter or event for it; its `outlier_detection` tracer does log
 * "Ejecting candidate …", but (grpc-js 1.14.7) with the address printed as "[object Object]",
 * and only if GRPC_NODE_TRACE was set before grpc-js loaded. So the balancer's `eject` method
 * is wrapped instead, once per process, and the ejected endpoint's address is handed to the
 * listeners. Nothing runs on the call path: `eject` runs on grpc-js's ejection timer.
 */

/** Told the address (`host:port`) of every instance an outlier-detecting channel ejects. */
export type EjectionListener = (address: string) => void;

const listeners = new Set<EjectionListener>();
let installed: boolean | undefined;

function install(): boolean {
  const prototype = outlierBalancerPrototype();
  if (!prototype) return false;
  const original = prototype.eject;
  // Called with the balancer as `this`, as grpc-js calls it.
  prototype.eject = function (this: OutlierBalancer, mapEntry, timestamp) {
    original.call(this, mapEntry, timestamp);
    for (const [endpoint, value] of this.entryMap.entries()) {
      if (value !== mapEntry) continue;
      for (const address of endpoint.addresses) {
        const text = subchannelAddressToString(address);
        for (const listener of listeners) listener(text);
      }
    }
  };
  return true;
}

/**
 * Calls `listener` for each instance any channel of this process ejects; returns a function
 * that removes it. Returns undefined when this grpc-js has no balancer method to wrap (a
 * version whose internals moved): ejections are then not counted.
 */
export function onEjection(listener: EjectionListener): (() => void) | undefined {
  installed ??= install();
  if (!installed) return undefined;
  listeners.add(listener);
  return () => void listeners.delete(listener);
}

/** The `host:port` addresses of a grpc-js target: `ipv4:a:1,b:2`, `dns:///h:1` or `h:1`. */
export function addressesOf(target: string): string[] {
  const list = target.replace(/^(ipv4|ipv6):(\/\/\/)?/, "").replace(/^dns:(\/\/[^/]*)?\/?/, "");
  return list.split(",").filter(Boolean);
}
