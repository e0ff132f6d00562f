// What the status bar says to a screen reader: only the changes that matter.

import type { AppStatus } from "./bindings";

/** The status worth announcing: it changes with the phase, a pause, an error or a switch of
 * model, not with every photo indexed. */
export function statusAnnouncement(s: AppStatus): string {
  const i = s.indexing;
  if (i.phase === "error") return `Indexing stopped: ${i.message ?? "unknown error"}`;
  if (i.paused) return "Indexing paused";
  if (s.switching_to) return `Switching to ${s.switching_to}`;
  switch (i.phase) {
    case "scanning":
      return "Looking for new and changed photos";
    case "indexing":
      return "Indexing photos";
    case "watching":
      return "Indexing done; watching for changes";
    default:
      return "";
  }
}
