import type { Sample } from "./prom-text";

/** A member as the supervisor running the mesh reports it (start:all's `mesh_supervisor_*`). */
export interface SupervisedView {
  /** Restarts after it exited, since the supervisor started. */
  restarts: number;
  /** Exits that were not clean (code 0). */
  crashes: number;
  /** Crashed often enough, recently enough, to be a crash loop (scripts/supervisor.ts). */
  crashLoop: boolean;
  /** Whether its process runs now. */
  running: boolean;
}

const FIELDS: Record<string, (view: SupervisedView, value: number) => void> = {
  mesh_supervisor_restarts_total: (v, n) => void (v.restarts = n),
  mesh_supervisor_crashes_total: (v, n) => void (v.crashes = n),
  mesh_supervisor_crash_looping: (v, n) => void (v.crashLoop = n === 1),
  mesh_supervisor_member_running: (v, n) => void (v.running = n === 1),
};

/**
 * The supervisor's records by the dashboard's member names. The supervisor labels a service
 * of one instance by the service's name ("notifications", "gateway"), the dashboard always
 * `<service>-<n>`: a label that names no member is taken as its service's first instance.
 */
export function supervisedMembers(
  samples: readonly Sample[],
  members: readonly string[],
): Map<string, SupervisedView> {
  const known = new Set(members);
  const views = new Map<string, SupervisedView>();
  for (const s of samples) {
    const set = FIELDS[s.name];
    const label = s.labels.member;
    if (!set || label === undefined) continue;
    const member = known.has(label) ? label : `${label}-1`;
    let view = views.get(member);
    if (!view) {
      view = { restarts: 0, crashes: 0, crashLoop: false, running: false };
      views.set(member, view);
    }
    set(view, s.value);
  }
  return views;
}
