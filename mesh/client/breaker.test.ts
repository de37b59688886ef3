import { status } from "@grpc/grpc-js";
import {
  ADMITTED,
  createCircuitBreaker,
  PROBE,
  REJECTED,
  type BreakerState,
  type CircuitBreaker,
} from "./breaker";

const THRESHOLD = 3;
const OPEN_FOR_MS = 1_000;

describe("circuit breaker", () => {
  let clock: number;
  let breaker: CircuitBreaker;
  beforeEach(() => {
    clock = 0;
    breaker = createCircuitBreaker({
      name: "shop.users.v1.UserService",
      failureThreshold: THRESHOLD,
      openFor: OPEN_FOR_MS,
      now: () => clock,
    });
  });

  /** `n` admitted calls that each end with `code`. */
  const calls = (n: number, code: status): void => {
    for (let i = 0; i < n; i++) breaker.record(breaker.admit(), code);
  };
  const open = (): void => calls(THRESHOLD, status.UNAVAILABLE);

  it("starts closed and admits calls", () => {
    expect(breaker.state()).toBe("closed");
    expect(breaker.admit()).toBeGreaterThanOrEqual(ADMITTED);
  });

  it("counts the calls that fail together (in flight when a connection drops) as one failure", () => {
    // THRESHOLD + 2 calls out at once, then the connection they share drops.
    const inFlight = Array.from({ length: THRESHOLD + 2 }, () => breaker.admit());
    for (const ticket of inFlight) breaker.record(ticket, status.UNAVAILABLE);
    expect(breaker.state()).toBe("closed");

    // Calls that keep failing, each sent after the last one failed: the service is down.
    calls(THRESHOLD - 1, status.UNAVAILABLE);

    expect(breaker.state()).toBe("open");
  });

  it("opens after failureThreshold UNAVAILABLE outcomes in a row, and then rejects calls", () => {
    calls(THRESHOLD - 1, status.UNAVAILABLE);
    expect(breaker.state()).toBe("closed");

    calls(1, status.UNAVAILABLE);

    expect(breaker.state()).toBe("open");
    expect(breaker.admit()).toBe(REJECTED);
  });

  it("counts failures only in a row: an answer in between starts the count again", () => {
    calls(THRESHOLD - 1, status.UNAVAILABLE);
    calls(1, status.OK);
    calls(THRESHOLD - 1, status.UNAVAILABLE);

    expect(breaker.state()).toBe("closed");
  });

  it.each([
    status.NOT_FOUND,
    status.FAILED_PRECONDITION,
    status.INVALID_ARGUMENT,
    status.ALREADY_EXISTS,
    status.PERMISSION_DENIED,
    status.UNAUTHENTICATED,
    status.ABORTED,
    status.OUT_OF_RANGE,
    status.RESOURCE_EXHAUSTED,
  ])("treats a refusal (%s) as an answer from a live peer, which resets the count", (code) => {
    calls(THRESHOLD - 1, status.UNAVAILABLE);
    calls(1, code);
    calls(THRESHOLD - 1, status.UNAVAILABLE);

    expect(breaker.state()).toBe("closed");
  });

  it.each([status.INTERNAL, status.UNKNOWN])(
    "counts %s as a failure, as it counts UNAVAILABLE",
    (code) => {
      calls(THRESHOLD, code);

      expect(breaker.state()).toBe("open");
    },
  );

  it("ignores CANCELLED and DEADLINE_EXCEEDED (a partitioned instance's burst): they neither count nor reset", () => {
    calls(THRESHOLD - 1, status.UNAVAILABLE);
    calls(5, status.CANCELLED);
    calls(5, status.DEADLINE_EXCEEDED);
    expect(breaker.state()).toBe("closed");

    calls(1, status.UNAVAILABLE);

    expect(breaker.state()).toBe("open");
  });

  it("says in its rejection that the circuit to the service is open, and when it probes next", () => {
    open();
    clock += 250;

    expect(breaker.rejectionDetails()).toBe(
      "circuit to shop.users.v1.UserService is open after 3 calls in a row failed (unavailable or broken); next probe in 750 ms",
    );
  });

  it("is half-open after openFor and lets exactly one probe through", () => {
    open();
    clock += OPEN_FOR_MS - 1;
    expect(breaker.admit()).toBe(REJECTED);

    clock += 1;

    expect(breaker.state()).toBe("half-open");
    expect(breaker.admit()).toBe(PROBE);
    expect(breaker.admit()).toBe(REJECTED);
    expect(breaker.rejectionDetails()).toMatch(/^circuit to shop.users.v1.UserService is open: /);
  });

  it("closes when the probe succeeds", () => {
    open();
    clock += OPEN_FOR_MS;
    const probe = breaker.admit();

    breaker.record(probe, status.OK);

    expect(breaker.state()).toBe("closed");
    expect(breaker.admit()).toBeGreaterThanOrEqual(ADMITTED);
  });

  it("re-opens for another openFor when the probe fails", () => {
    open();
    clock += OPEN_FOR_MS;
    const probe = breaker.admit();

    breaker.record(probe, status.UNAVAILABLE);

    expect(breaker.state()).toBe("open");
    clock += OPEN_FOR_MS - 1;
    expect(breaker.admit()).toBe(REJECTED);
    clock += 1;
    expect(breaker.admit()).toBe(PROBE);
  });

  it.each([status.CANCELLED, status.DEADLINE_EXCEEDED])(
    "lets the next call probe when the probe ended %s",
    (code) => {
      open();
      clock += OPEN_FOR_MS;
      const probe = breaker.admit();

      breaker.record(probe, code);

      expect(breaker.state()).toBe("half-open");
      expect(breaker.admit()).toBe(PROBE);
    },
  );

  it("lets calls admitted before the circuit opened end without deciding anything", () => {
    const early = breaker.admit();
    open();
    clock += OPEN_FOR_MS;
    const probe = breaker.admit();

    breaker.record(early, status.OK);
    expect(breaker.state()).toBe("half-open");
    breaker.record(probe, status.UNAVAILABLE);

    expect(breaker.state()).toBe("open");
  });

  it("tells listeners of every change, with the state before it, until they unsubscribe", () => {
    const changes: [BreakerState, BreakerState][] = [];
    const unsubscribe = breaker.onStateChange((state, previous) => changes.push([state, previous]));

    open();
    clock += OPEN_FOR_MS;
    breaker.record(breaker.admit(), status.OK);
    unsubscribe();
    open();

    expect(changes).toEqual([
      ["open", "closed"],
      ["half-open", "open"],
      ["closed", "half-open"],
    ]);
  });

  it("reads no clock while closed", () => {
    const now = jest.fn(() => 0);
    const closed = createCircuitBreaker({ name: "s", failureThreshold: 2, openFor: 10, now });

    for (let i = 0; i < 100; i++) closed.record(closed.admit(), status.OK);

    expect(now).not.toHaveBeenCalled();
  });
});
