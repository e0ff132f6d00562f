import { describe, expect, it } from "vitest";

import type { QueryTerm } from "./bindings";
import { addChip, type Chip, canSearch, chipLabel, fromTerm, stepWeight, toggleNegative, toTerm } from "./chips";

// Typed text is read by the service (`parse_query`, the core's grammar, tested there in one
// table); these are the chips a person changes after that.

const text = (t: string, weight = 1): Chip => ({ kind: "text", text: t, weight });

describe("chips", () => {
  it("come from the terms the service read, and go back to the same terms", () => {
    const terms: QueryTerm[] = [
      { kind: "text", text: "beach", weight: 1 },
      { kind: "text", text: "people", weight: -1 },
      { kind: "photo", id: 7, weight: 2 },
    ];
    const chips = terms.map(fromTerm);
    expect(chips.map(chipLabel)).toEqual(["beach", "not: people", "2× photo 7"]);
    expect(chips.map(toTerm)).toEqual(terms);
  });
  it("need one positive term to search", () => {
    expect(canSearch([toTerm(text("people", -1))])).toBe(false);
    expect(canSearch([toTerm(text("beach")), toTerm(text("people", -1))])).toBe(true);
    expect(canSearch([])).toBe(false);
  });
  it("toggle, step and replace", () => {
    const chip = text("sunset");
    expect(toggleNegative(chip).weight).toBe(-1);
    expect(stepWeight(chip, true).weight).toBe(1.5);
    expect(stepWeight(toggleNegative(chip), false).weight).toBe(-0.5);
    expect(stepWeight({ ...chip, weight: 10 }, true).weight).toBe(10);
    const photo = { kind: "photo" as const, id: 7, label: "photo 7", weight: 1 };
    const chips = addChip(addChip([chip, photo], text("Sunset")), { ...photo, weight: 2 });
    expect(chips.map(chipLabel)).toEqual(["Sunset", "2× photo 7"]);
  });
});
