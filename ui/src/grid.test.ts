import { describe, expect, it } from "vitest";

import { visibleRange } from "./grid";

describe("visibleRange", () => {
  it("renders only the rows in view plus a margin, however many results", () => {
    // 10,000 results, 6 columns, 188 px rows, an 800 px window scrolled far down.
    const r = visibleRange(10_000, 6, 188, 188 * 1000, 800);
    expect(r.rows).toBe(1667);
    expect(r.start).toBe((1000 - 3) * 6);
    expect(r.end - r.start).toBeLessThanOrEqual(6 * (Math.ceil(800 / 188) + 7));
  });
  it("clamps at both ends", () => {
    expect(visibleRange(10, 4, 100, 0, 1000)).toEqual({ start: 0, end: 10, rows: 3 });
    expect(visibleRange(0, 4, 100, 500, 1000)).toEqual({ start: 0, end: 0, rows: 0 });
  });
});
