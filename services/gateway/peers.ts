import { InventoryServiceService } from "../../gen/shop/inventory/v1/inventory";
import { NotificationServiceService } from "../../gen/shop/notifications/v1/notifications";
import { OrderServiceService } from "../../gen/shop/orders/v1/orders";
import { AuthServiceService } from "../../gen/shop/users/v1/auth";
import { UserServiceService } from "../../gen/shop/users/v1/users";
import { createPeer, type Logger, type Peer, type PolicyConfig } from "../../mesh";
import { type DialOptions } from "../../mesh/identity";

/** The services the gateway calls, each through a mesh peer (deadlines, retries, balancing). */
export interface GatewayPeers {
  users: Peer<typeof UserServiceService>;
  /** Login, served by the users process. */
  auth: Peer<typeof AuthServiceService>;
  inventory: Peer<typeof InventoryServiceService>;
  orders: Peer<typeof OrderServiceService>;
  notifications: Peer<typeof NotificationServiceService>;
}

/** The mesh service names of {@link GatewayPeers}, as the topology and metrics name them. */
export const PEER_NAMES = ["users", "inventory", "orders", "notifications"] as const;
export type PeerName = (typeof PEER_NAMES)[number];

/** Options for {@link createGatewayPeers}. */
export interface GatewayPeersOptions {
  /** The grpc-js target of each service (the topology's `targetOf`). */
  targets: Record<PeerName, string>;
  /** The mesh policy: the same file the services use. */
  policy: PolicyConfig;
  /** Logs breaker changes. Defaults to none. */
  log?: Logger;
  /** How to dial each service (the gateway's mTLS identity). Defaults to plaintext. */
  dial?: (service: PeerName) => DialOptions;
}

/** One peer per service the gateway calls. Close them with {@link closePeers}. */
export function createGatewayPeers({
  targets,
  policy,
  log,
  dial,
}: GatewayPeersOptions): GatewayPeers {
  const options = (name: PeerName) => ({ target: targets[name], policy, log, ...dial?.(name) });
  return {
    users: createPeer(UserServiceService, options("users")),
    auth: createPeer(AuthServiceService, options("users")),
    inventory: createPeer(InventoryServiceService, options("inventory")),
    orders: createPeer(OrderServiceService, options("orders")),
    notifications: createPeer(NotificationServiceService, options("notifications")),
  };
}

/** Closes every channel. */
export function closePeers(peers: GatewayPeers): void {
  for (const name of PEER_NAMES) peers[name].close();
  peers.auth.close();
}
