import { describe, expect, it } from "vitest";

import page from "../index.html?raw";

const sources = import.meta.glob<string>(["./*.ts", "!./*.test.ts"], { query: "?raw", import: "default", eager: true });

// Every element the code looks up by id is in index.html: `$` throws on a missing one, so a
// renamed id would break the window at run time; this finds it first.
describe("the page", () => {
  it("has every element the code looks up", () => {
    const ids = new Set([...page.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]));
    const wanted = new Set<string>();
    for (const source of Object.values(sources)) {
      for (const m of source.matchAll(/\$(?:<\w+>)?\("([\w-]+)"\)/g)) wanted.add(m[1]);
    }
    expect(wanted.size).toBeGreaterThan(50);
    expect([...wanted].filter((id) => !ids.has(id))).toEqual([]);
  });
});
