import { idPattern, newId } from "./ids";

describe("ids", () => {
  it("makes an id of the prefix and a 26-character ULID that its pattern matches", () => {
    const id = newId("ord");

    expect(id).toMatch(/^ord_[0-9A-Z]{26}$/);
    expect(id).toMatch(idPattern("ord"));
    expect(id).not.toMatch(idPattern("usr"));
  });

  it("encodes the time first, so ids sort by creation time", () => {
    const times = [0, 1, 31, 32, 1_700_000_000_000, 1_700_000_000_001, 2 ** 48 - 1];

    const ids = times.map((t) => newId("x", t));

    expect([...ids].sort()).toEqual(ids);
    expect(ids[ids.length - 1].slice(2, 12)).toBe("7ZZZZZZZZZ");
  });

  it("makes different, increasing ids in the same millisecond", () => {
    const now = Date.now() + 60_000;

    const ids = Array.from({ length: 1_000 }, () => newId("x", now));

    expect(new Set(ids).size).toBe(1_000);
    expect([...ids].sort()).toEqual(ids);
  });

  it("draws fresh random digits for each new millisecond, past one pool of random bytes", () => {
    const start = Date.now() + 240_000;

    // 600 ids, each in its own millisecond: more than two pools of 256 draws.
    const randomParts = Array.from({ length: 600 }, (_, i) => newId("x", start + i).slice(12));

    expect(new Set(randomParts).size).toBe(600);
  });

  it("keeps ids increasing when the clock steps back", () => {
    const first = newId("x", Date.now() + 120_000);

    const second = newId("x", Date.now());

    expect(second > first).toBe(true);
  });

  it("uses only Crockford base32, without I, L, O or U", () => {
    const ids = Array.from({ length: 200 }, () => newId("x")).join("");

    expect(ids.slice(2)).not.toMatch(/[ILOU]/);
  });
});
