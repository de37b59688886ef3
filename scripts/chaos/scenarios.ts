/** Something done to the mesh at a point of the run. */
export type ChaosAction =
  | { kind: "kill"; label: string; signal: "SIGKILL" | "SIGTERM"; restartAfterMs: number }
  /** Replaces the topology file's `faults`, as written in YAML; servers reload it live. */
  | { kind: "faults"; faults: object[] };

/** An action at a share of the run's duration (0 to 1). */
export interface ChaosEvent {
  at: number;
  action: ChaosAction;
}

const CHARGE = "shop.payments.v1.PaymentService/Charge";
const chargeFailures = (percentage: number): ChaosAction => ({
  kind: "faults",
  faults: [{ service: "payments", method: CHARGE, abort: { percentage, code: "UNAVAILABLE" } }],
});
const noFaults: ChaosAction = { kind: "faults", faults: [] };
const kill = (label: string, signal: "SIGKILL" | "SIGTERM" = "SIGKILL"): ChaosAction => ({
  kind: "kill",
  label,
  signal,
  restartAfterMs: 1_000,
});

/** The runs `npm run chaos -- --scenario NAME` knows. */
export const SCENARIOS: Record<
  string,
  {
    description: string;
    events: ChaosEvent[];
    /** Each event moves by up to ± this share of the run, from the seeded random source. */
    jitter?: number;
  }
> = {
  full: {
    description: "kills instances of payments, inventory and orders, injects faults, drains one",
    events: [
      { at: 0.1, action: kill("payments-2") },
      { at: 0.25, action: kill("inventory-1") },
      { at: 0.4, action: chargeFailures(20) },
      { at: 0.5, action: kill("orders-2") },
      { at: 0.6, action: noFaults },
      { at: 0.75, action: kill("payments-1", "SIGTERM") },
    ],
  },
  "kill-payments": {
    description: "SIGKILL one of two payments instances under steady load, restart it after 1 s",
    events: [{ at: 0.3, action: kill("payments-2") }],
  },
  "faults-payments": {
    description: "20% of Charge calls fail with UNAVAILABLE for the whole run",
    events: [{ at: 0, action: chargeFailures(20) }],
  },
  events: {
    description:
      "SIGKILL orders and notifications at moments of the load; every ended order notifies once",
    jitter: 0.08,
    events: [
      { at: 0.2, action: kill("orders-2") },
      { at: 0.35, action: kill("notifications") },
      { at: 0.55, action: kill("orders-1") },
      { at: 0.7, action: kill("notifications") },
    ],
  },
  "drain-payments": {
    description: "SIGTERM one of two payments instances under steady load (graceful drain)",
    events: [{ at: 0.3, action: kill("payments-1", "SIGTERM") }],
  },
};
