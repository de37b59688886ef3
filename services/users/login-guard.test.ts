import { createLoginGuard } from "./login-guard";

describe("the login guard", () => {
  const limits = {
    perAddress: { failures: 10, windowMs: 60_000 },
    perAccount: { failures: 3, windowMs: 60_000 },
  };

  test("an account is held after its failures, with the seconds until one more may be tried", () => {
    let now = 0;
    const guard = createLoginGuard({ ...limits, now: () => now });
    for (let i = 0; i < 3; i++) expect(guard.admit(`10.0.0.${i}`, "ada@example.com")).toBe(0);

    // Spread over addresses, so only the account's limit is reached: one failure back in 20 s.
    expect(guard.admit("10.0.0.9", "ada@example.com")).toBe(20);
    now = 20_000;
    expect(guard.admit("10.0.0.9", "ada@example.com")).toBe(0);
    expect(guard.admit("10.0.0.9", "bo@example.com")).toBe(0);
  });

  test("an address is held after its failures, whichever accounts it tries", () => {
    const guard = createLoginGuard({ ...limits, now: () => 0 });
    for (let i = 0; i < 10; i++) expect(guard.admit("10.0.0.1", `user${i}@example.com`)).toBe(0);

    expect(guard.admit("10.0.0.1", "new@example.com")).toBe(6);
    expect(guard.admit("10.0.0.2", "new@example.com")).toBe(0);
  });

  test("a login that succeeds gives back what it took, so the right password never wears it down", () => {
    const guard = createLoginGuard({ ...limits, now: () => 0 });
    for (let i = 0; i < 20; i++) {
      expect(guard.admit("10.0.0.1", "ada@example.com")).toBe(0);
      guard.succeeded("10.0.0.1", "ada@example.com");
    }
  });
});
