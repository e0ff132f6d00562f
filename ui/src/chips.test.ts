import { describe, expect, it } from "vitest";

import { addChip, canSearch, chipLabel, parseChip, parseChips, stepWeight, toTerms, toggleNegative } from "./chips";

describe("parseChip", () => {
  it("reads plain text as one positive term", () => {
    expect(parseChip("  kids on a beach ")).toEqual({ kind: "text", text: "kids on a beach", weight: 1 });
  });
  it("reads not: and a leading minus as negative", () => {
    expect(parseChip("not: people")).toEqual({ kind: "text", text: "people", weight: -1 });
    expect(parseChip("NOT:people")?.weight).toBe(-1);
    expect(parseChip("-people")).toEqual({ kind: "text", text: "people", weight: -1 });
  });
  it("keeps a hyphen inside a word", () => {
    expect(parseChip("t-shirt")).toEqual({ kind: "text", text: "t-shirt", weight: 1 });
  });
  it("reads weights, capped, and combined with a negative", () => {
    expect(parseChip("2*sunset")).toEqual({ kind: "text", text: "sunset", weight: 2 });
    expect(parseChip("0.5 * beach")?.weight).toBe(0.5);
    expect(parseChip("3x dog")).toEqual({ kind: "text", text: "dog", weight: 3 });
    expect(parseChip("99*dog")?.weight).toBe(10);
    expect(parseChip("not: 2*rain")).toEqual({ kind: "text", text: "rain", weight: -2 });
  });
  it("unquotes and refuses empty terms", () => {
    expect(parseChip('"red car"')?.kind === "text" && parseChip('"red car"')).toMatchObject({ text: "red car" });
    expect(parseChip("   ")).toBeNull();
    expect(parseChip("not:")).toBeNull();
    expect(parseChip("2*")).toBeNull();
  });
});

describe("queries from chips", () => {
  it("splits typed text at commas", () => {
    expect(parseChips("beach, not: people,, 2*sunset").map(chipLabel)).toEqual(["beach", "not: people", "2× sunset"]);
  });
  it("joins committed chips and typed text into terms", () => {
    const chips = [{ kind: "image" as const, token: "abc", label: "dog.jpg", weight: 1 }];
    expect(toTerms(chips, "not: grass")).toEqual([
      { kind: "image", token: "abc", weight: 1 },
      { kind: "text", text: "grass", weight: -1 },
    ]);
  });
  it("needs one positive term to search", () => {
    expect(canSearch(toTerms([], "not: people"))).toBe(false);
    expect(canSearch(toTerms([], "beach, not: people"))).toBe(true);
    expect(canSearch([])).toBe(false);
  });
  it("toggles, steps and replaces chips", () => {
    const chip = parseChip("sunset")!;
    expect(toggleNegative(chip).weight).toBe(-1);
    expect(stepWeight(chip, true).weight).toBe(1.5);
    expect(stepWeight(toggleNegative(chip), false).weight).toBe(-0.5);
    expect(stepWeight({ ...chip, weight: 10 }, true).weight).toBe(10);
    const photo = { kind: "photo" as const, id: 7, label: "photo 7", weight: 1 };
    const chips = addChip(addChip([chip, photo], parseChip("Sunset")!), { ...photo, weight: 2 });
    expect(chips.map(chipLabel)).toEqual(["Sunset", "2× photo 7"]);
  });
});
