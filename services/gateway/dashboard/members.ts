import { type Topology } from "../../../mesh";
import { adminPortOf } from "../../../mesh/telemetry";

/** One process of the mesh as the dashboard sees it. */
export interface MeshMember {
  service: string;
  /** `<service>-<n>`, n from 1, as the telemetry contract names members. */
  member: string;
  /** Its gRPC address, `host:port`. */
  address: string;
  /** Base URL of its admin server. */
  adminUrl: string;
}

/** Every instance of every service in the topology. */
export function meshMembers(topology: Topology): MeshMember[] {
  return Object.values(topology.services).flatMap((service) =>
    service.instances.map((instance) => {
      const colon = instance.listen.lastIndexOf(":");
      const host = instance.listen.slice(0, colon);
      const port = Number(instance.listen.slice(colon + 1));
      return {
        service: service.name,
        member: `${service.name}-${instance.index + 1}`,
        address: instance.listen,
        adminUrl: `http://${host.includes(":") ? `[${host}]` : host}:${adminPortOf(port)}`,
      };
    }),
  );
}
