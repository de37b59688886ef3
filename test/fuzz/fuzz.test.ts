import { formatReport, problemsOf } from "../../scripts/fuzz/report";
import { ADMIN_PATH, runFuzz, type FuzzReport } from "../../scripts/fuzz/run";
import { checkHealth } from "../../scripts/health-wait";
import { membersOf, shopServices } from "../../scripts/members";
import { startScratchMesh, type ScratchMesh } from "../../scripts/scratch-mesh";

// FUZZ_SEED=… FUZZ_CALLS=… replay a run (npm run fuzz -- --seed … --calls … does the same);
// a failure names its case number.
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_126);
const CALLS = Number(process.env.FUZZ_CALLS ?? 10_000);

describe("fuzzing every method of every port of a running mesh", () => {
  // Start-up, 10,000 calls on a loaded two-core machine, and shutdown.
  jest.setTimeout(600_000);
  let mesh: ScratchMesh;
  let report: FuzzReport;

  beforeAll(async () => {
    // Every service of mesh.yaml, one process per instance, mTLS, stores in a temp folder.
    mesh = await startScratchMesh({ services: shopServices(), healthListeners: true });
    report = await runFuzz(mesh, { calls: CALLS, seed: SEED });
    process.stdout.write(`${formatReport(report)}\n`);
  });
  afterAll(() => mesh?.stop());

  it(`answers ${CALLS} malformed calls without one INTERNAL, UNKNOWN or unanswered call`, () => {
    expect(report.failures.slice(0, 10)).toEqual([]);
    expect(report.calls).toBe(CALLS);
  });

  it("reaches every method of every port, health, reflection and event streams included", () => {
    const targets = [...report.perTarget.keys()];
    // Every member × (their gRPC methods, 3 on the health port, the admin port).
    expect(targets.length).toBeGreaterThanOrEqual(report.members.length * (3 + 3 + 1));
    for (const wanted of [
      "users /grpc.health.v1.Health/Watch",
      "inventory-2 /grpc.health.v1.Health/List",
      "orders-1 /grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
      "payments-1 /grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      "orders-2 /shop.orders.v1.OrderService/StreamEvents",
      "payments-2 /shop.payments.v1.PaymentService/StreamEvents",
      "users /shop.users.v1.AuthService/Login",
      "notifications /shop.notifications.v1.NotificationService/ListNotifications",
      // The plaintext health listener (MESH_HEALTH_PORT) and the admin HTTP port.
      "payments-1/health-port /grpc.health.v1.Health/Watch",
      "users/health-port /grpc.health.v1.Health/Check",
      `orders-1/admin-port ${ADMIN_PATH}`,
      `inventory-2/admin-port ${ADMIN_PATH}`,
    ]) {
      expect(targets).toContain(wanted);
    }
    expect(Math.min(...report.perTarget.values())).toBeGreaterThanOrEqual(
      Math.floor(CALLS / targets.length),
    );
  });

  it("leaves every member running, the same process, at most 50 MB larger than before the first call", () => {
    expect(problemsOf(report)).toEqual([]);
    // Every instance mesh.yaml has, measured.
    expect(report.members.map((m) => m.member).sort()).toEqual(
      membersOf(mesh.topology)
        .map((m) => m.label)
        .sort(),
    );
  });

  it("serves normally afterwards: every member answers SERVING", async () => {
    for (const member of membersOf(mesh.topology)) {
      const health = await checkHealth(
        member.listen,
        5_000,
        mesh.identity.dialOptions(member.service),
      );
      expect({ member: member.label, health }).toEqual({ member: member.label, health: "SERVING" });
    }
  });
});
