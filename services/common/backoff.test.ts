import { backoffDelay } from "./backoff";

describe("reconnection backoff", () => {
  it("doubles from 100 ms up to the 5 s cap when the jitter is neutral", () => {
    const neutral = (): number => 0.5;

    const delays = [0, 1, 2, 3, 5, 6, 20].map((n) => backoffDelay(n, {}, neutral));

    expect(delays).toEqual([100, 200, 400, 800, 3_200, 5_000, 5_000]);
  });

  it("spreads each delay by at most 20% either way, and never past the cap", () => {
    expect(backoffDelay(1, {}, () => 0)).toBe(160);
    expect(backoffDelay(1, {}, () => 0.999_999)).toBe(240);
    expect(backoffDelay(10, {}, () => 0.999_999)).toBe(5_000);
    expect(backoffDelay(10, {}, () => 0)).toBe(4_000);
  });

  it("follows its options", () => {
    const delay = backoffDelay(2, { initialMs: 10, multiplier: 3, maxMs: 50, jitter: 0 });

    expect(delay).toBe(50);
    expect(backoffDelay(1, { initialMs: 10, multiplier: 3, jitter: 0 })).toBe(30);
  });
});
