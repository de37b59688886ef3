import { parseDuration, toConfigDuration } from "./duration";

describe("durations", () => {
  it.each([
    ["250ms", 250],
    ["2s", 2_000],
    ["1.5s", 1_500],
    ["1m", 60_000],
    [" 10s ", 10_000],
  ])("reads %j as %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["2 seconds", "2", "-1s", "1h", "s", "", "1e3ms"])("refuses %j", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it.each([
    [2_000, "2s"],
    [50, "0.05s"],
    [1_500, "1.5s"],
    [10, "0.01s"],
    [1, "0.001s"],
    [100_000, "100s"],
  ])("writes %d ms for a service config as %j", (ms, text) => {
    expect(toConfigDuration(ms)).toBe(text);
  });

  it("writes only what grpc-js's service config accepts: seconds with up to 9 decimals", () => {
    for (const ms of [1, 10, 50, 999, 1_000, 1_001, 59_999, 3_600_000]) {
      expect(toConfigDuration(ms)).toMatch(/^\d+(\.\d{1,9})?s$/);
    }
  });
});
