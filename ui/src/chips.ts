// Query chips: the committed terms of a query, as a person sees and changes them. Typed text
// becomes terms through the service's `parse_query` (the core's grammar: "beach, not: people,
// 2*sunset"); dropped images and "find similar" photos are chips too.

import type { QueryTerm } from "./bindings";

export type Chip =
  | { kind: "text"; text: string; weight: number }
  | { kind: "image"; token: string; label: string; weight: number }
  | { kind: "photo"; id: number; label: string; weight: number };

/** A term the service read from typed text, or from a saved search, as a chip. */
export function fromTerm(term: QueryTerm): Chip {
  switch (term.kind) {
    case "text":
      return { kind: "text", text: term.text, weight: term.weight };
    case "photo":
      return { kind: "photo", id: term.id, label: `photo ${term.id}`, weight: term.weight };
    case "image":
      return { kind: "image", token: term.token, label: "image", weight: term.weight };
  }
}

export function chipLabel(chip: Chip): string {
  const name = chip.kind === "text" ? chip.text : chip.label;
  const magnitude = Math.abs(chip.weight);
  const weight = magnitude === 1 ? "" : `${Number(magnitude.toFixed(2))}× `;
  return `${chip.weight < 0 ? "not: " : ""}${weight}${name}`;
}

export function toTerm(chip: Chip): QueryTerm {
  switch (chip.kind) {
    case "text":
      return { kind: "text", text: chip.text, weight: chip.weight };
    case "image":
      return { kind: "image", token: chip.token, weight: chip.weight };
    case "photo":
      return { kind: "photo", id: chip.id, weight: chip.weight };
  }
}

/** A query can run when at least one term pulls towards something. */
export function canSearch(terms: QueryTerm[]): boolean {
  return terms.some((t) => t.weight > 0);
}

export function toggleNegative(chip: Chip): Chip {
  return { ...chip, weight: -chip.weight };
}

/** Steps a chip's weight up or down (keeping its sign), between 0.25 and 10. */
export function stepWeight(chip: Chip, up: boolean): Chip {
  const steps = [0.25, 0.5, 1, 1.5, 2, 3, 5, 10];
  const magnitude = Math.abs(chip.weight);
  const index = steps.findIndex((s) => s >= magnitude - 1e-9);
  const current = index === -1 ? steps.length - 1 : index;
  const next = steps[Math.max(0, Math.min(steps.length - 1, current + (up ? 1 : -1)))];
  return { ...chip, weight: Math.sign(chip.weight || 1) * next };
}

/** Two chips for the same thing are one: the later replaces the earlier. */
export function addChip(chips: Chip[], chip: Chip): Chip[] {
  const same = (a: Chip) =>
    (a.kind === "text" && chip.kind === "text" && a.text.toLowerCase() === chip.text.toLowerCase()) ||
    (a.kind === "image" && chip.kind === "image" && a.token === chip.token) ||
    (a.kind === "photo" && chip.kind === "photo" && a.id === chip.id);
  return [...chips.filter((c) => !same(c)), chip];
}
