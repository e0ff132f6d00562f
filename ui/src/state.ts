// The window's state in one object: every part of the window reads and changes it here instead
// of reading it back from the DOM, and asks another part for work through `Actions`.

import type { AppStatus, Filters, Hit, QueryTerm } from "./bindings";
import { type Chip, toTerm } from "./chips";
import type { Client, ClientError } from "./client";
import type { Grid } from "./grid";

export type Sort = "relevance" | "newest" | "oldest";

export class State {
  /** The committed chips of the query. */
  chips: Chip[] = [];
  /** The terms of the text being typed, as the service read them, or why it could not. */
  typed: QueryTerm[] = [];
  typedError: string | null = null;
  /** The words are taken as they are: no dates are understood in them. */
  literal = false;
  filters: Filters = { folder: null, from: null, to: null, formats: [], place: null };
  sort: Sort = "relevance";
  /** Similar shots are folded into one result ("Group similar shots"). */
  collapse = false;

  /** The loaded results of the query, and whether more follow. */
  hits: Hit[] = [];
  more = false;
  /** The first `strong` hits are strong matches (null: all so far are); `weak`: none stands out. */
  strong: number | null = null;
  weak = false;
  showWeaker = false;
  /** What the words were understood as (dates). */
  understood: string[] = [];
  tookMs = 0;

  status: AppStatus | null = null;

  /** The query's terms: the committed chips, then what is being typed. */
  terms(): QueryTerm[] {
    return [...this.chips.map(toTerm), ...this.typed];
  }

  /** The hits the grid shows: the strong matches only, unless there are none or more were asked for. */
  visible(): Hit[] {
    return this.strong !== null && !this.showWeaker ? this.hits.slice(0, this.strong) : this.hits;
  }

  /** The visible hits in the chosen order. */
  sorted(): Hit[] {
    if (this.sort === "relevance") return this.visible();
    const sign = this.sort === "newest" ? -1 : 1;
    return [...this.visible()].sort((a, b) => sign * ((a.taken_at ?? 0) - (b.taken_at ?? 0)));
  }

  clearResults(): void {
    this.hits = [];
    this.more = false;
    [this.strong, this.weak, this.understood] = [null, false, []];
  }
}

/** What one part of the window asks of another. */
export interface Actions {
  runSearch(keepScroll?: boolean): Promise<void>;
  /** Shows the empty state again, with an error when there is one. */
  renderEmpty(error?: ClientError): void;
  /** Replaces the query with one image or photo chip (drop, paste, "find similar"). */
  searchSimilar(chip: Chip): void;
  openPreview(index: number): Promise<void>;
  openSettings(focus?: string): Promise<void>;
  addFolder(path?: string): Promise<void>;
  chooseModelFolder(): Promise<void>;
}

/** What every part of the window is built with. */
export interface Context {
  readonly client: Client;
  readonly state: State;
  readonly grid: Grid;
  readonly actions: Actions;
}
