import {
  createMeshIdentity,
  ensurePki,
  operatorOf,
  PLAINTEXT_WARNING,
  type MeshIdentity,
} from "../mesh/identity";
import type { Topology } from "../mesh/config";

/** What the supervising scripts (start:all, chaos) call the mesh as. */
export interface OperatorSetup {
  /** The first operator of `security.operators`; anonymous in plaintext mode. */
  identity: MeshIdentity;
  /** Certificate and key files made by this run (none when all were valid already). */
  written: string[];
}

/**
 * Gets the mesh's certificates ready before any service starts (mTLS mode: the CA and a
 * certificate per service, client and operator, valid ones kept), or warns loudly that the
 * mesh runs in plaintext; then returns the operator identity to health-check and seed with.
 */
export function prepareOperator(
  topology: Topology,
  warn: (line: string) => void = console.warn,
): OperatorSetup {
  const { security } = topology;
  let written: string[] = [];
  if (security.mode === "plaintext") {
    const bar = "!".repeat(78);
    warn(`${bar}\n!! ${PLAINTEXT_WARNING}\n${bar}`);
  } else {
    const hosts = Object.values(topology.services).flatMap((s) =>
      s.instances.map((i) => i.listen.slice(0, i.listen.lastIndexOf(":"))),
    );
    written = ensurePki({ security, hosts });
  }
  return { identity: createMeshIdentity(security, operatorOf(security)), written };
}
