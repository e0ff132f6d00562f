import { describe, expect, it } from "vitest";

import type { AppStatus } from "./bindings";
import { statusAnnouncement } from "./status";

/** A status with only the fields the announcement reads. */
function status(indexing: Partial<AppStatus["indexing"]>, switching_to: string | null = null): AppStatus {
  return {
    indexing: { phase: "indexing", paused: false, message: null, done: 0, queued: 10, rate: 0, eta_s: null, ...indexing },
    switching_to,
  } as unknown as AppStatus;
}

describe("statusAnnouncement", () => {
  it("stays the same while photos are counted, so a screen reader is not flooded", () => {
    expect(statusAnnouncement(status({ done: 1 }))).toBe(statusAnnouncement(status({ done: 9, rate: 3.5, eta_s: 2 })));
  });

  it("changes with the phase, a pause, an error and a model switch", () => {
    const said = [
      status({ phase: "scanning" }),
      status({}),
      status({ paused: true }),
      status({ phase: "watching" }),
      status({ phase: "error", message: "disk full" }),
      status({}, "CLIP"),
    ].map(statusAnnouncement);
    expect(new Set(said).size).toBe(said.length);
    expect(said[4]).toContain("disk full");
  });
});
