import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { status } from "@grpc/grpc-js";
import { loadTopology } from "../../mesh";
import { TopologyError } from "../../mesh/config";
import { faultsWithOverrides } from "../../mesh/server";
import { HttpError } from "./http-errors";

/**
 * The runtime fault overrides the dashboard controls: a JSON file `{ "faults": [...] }` in
 * the data folder that every service watches next to the topology file (mesh/faults.ts).
 */
export interface FaultOverrides {
  /** The override entries, as written, and the topology file's own faults. */
  list(): { overrides: unknown[]; topology: unknown[] };
  /** Checks `fault` as a topology entry and puts it first; a 400 names a bad field. */
  add(fault: unknown): unknown[];
  /** Removes the override at `index`; a 404 when there is none. */
  remove(index: number): unknown[];
}

/** Options for {@link createFaultOverrides}. */
export interface FaultOverridesOptions {
  /** The topology file the services read. */
  topologyFile: string;
  /** The override file (mesh `faultsOverrideFile`). */
  file: string;
}

/** Reads and writes the override file; every write replaces it at once (rename). */
export function createFaultOverrides({
  topologyFile,
  file,
}: FaultOverridesOptions): FaultOverrides {
  const read = (): unknown[] => {
    try {
      return (JSON.parse(readFileSync(file, "utf8")) as { faults?: unknown[] }).faults ?? [];
    } catch {
      return [];
    }
  };
  const write = (faults: unknown[]): unknown[] => {
    try {
      faultsWithOverrides(topologyFile, faults);
    } catch (err) {
      if (err instanceof TopologyError) {
        const detail = err.message.split("\n").slice(1).join("; ").trim() || err.message;
        throw new HttpError(status.INVALID_ARGUMENT, `fault: ${detail}`);
      }
      throw err;
    }
    mkdirSync(dirname(file), { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify({ faults }, null, 2)}\n`);
    // A rename, so a service never reads half a file (it notices the new inode).
    renameSync(temporary, file);
    return faults;
  };
  return {
    list: () => ({
      overrides: read(),
      topology: loadTopology({ ...process.env, MESH_TOPOLOGY: topologyFile }).faults,
    }),
    add: (fault) => write([fault, ...read()]),
    remove(index) {
      const faults = read();
      if (!(index >= 0 && index < faults.length)) {
        throw new HttpError(status.NOT_FOUND, `no fault override at index ${index}`);
      }
      faults.splice(index, 1);
      return write(faults);
    },
  };
}
