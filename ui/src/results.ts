// The results: one page per query as it is typed, more pages as the grid scrolls, where the
// strong matches end, the count, and similar shots folded into one result.

import { canSearch } from "./chips";
import { asClientError } from "./client";
import { $, el } from "./dom";
import { formatCount } from "./format";
import type { Context } from "./state";

/** Results per page: the first page arrives with each keystroke, later ones as the grid scrolls. */
const PAGE_SIZE = 200;

export class Results {
  private seq = 0;
  private loadingMore = false;

  constructor(
    private readonly ctx: Context,
    /** Reads the typed text into terms; false when it cannot be read. */
    private readonly readTyped: () => Promise<boolean>,
  ) {}

  async run(keepScroll = false): Promise<void> {
    const { state, client, actions } = this.ctx;
    const seq = ++this.seq;
    const readable = await this.readTyped();
    if (seq !== this.seq) return;
    if (!readable) {
      // Half-typed ("beach -"): the results stay, and the count line says what is missing.
      $("result-count").textContent = state.typedError ?? "";
      return;
    }
    const terms = state.terms();
    if (!canSearch(terms)) {
      state.clearResults();
      this.show(false);
      $("result-count").textContent = terms.length ? "Add a term to search for, not only ones to avoid" : "";
      return;
    }
    try {
      const response = await client.search({ terms, filters: state.filters, limit: PAGE_SIZE, offset: 0, literal: state.literal, collapse: state.collapse });
      if (seq !== this.seq) return;
      state.hits = response.hits;
      state.more = response.more;
      [state.strong, state.weak, state.showWeaker] = [response.strong, response.weak, keepScroll && state.showWeaker];
      state.understood = response.understood;
      this.showCount(response.took_ms);
      this.show(keepScroll);
    } catch (error) {
      if (seq !== this.seq) return;
      state.clearResults();
      this.show(false);
      $("result-count").textContent = "";
      actions.renderEmpty(asClientError(error));
    }
  }

  /** Fetches the next page of the current query and adds it to the grid. */
  async loadMore(): Promise<void> {
    const { state, client, grid } = this.ctx;
    // Past the strong matches only when asked to.
    if (!state.more || this.loadingMore || (state.strong !== null && !state.showWeaker)) return;
    const terms = state.terms();
    if (!canSearch(terms)) return;
    const seq = this.seq;
    this.loadingMore = true;
    try {
      const response = await client.search({
        terms,
        filters: state.filters,
        limit: PAGE_SIZE,
        offset: state.hits.length,
        literal: state.literal,
        collapse: state.collapse,
      });
      if (seq !== this.seq || response.offset !== state.hits.length) return;
      state.hits = state.hits.concat(response.hits);
      state.more = response.more && response.hits.length > 0;
      const cutFound = state.strong === null && response.strong !== null;
      [state.strong, state.weak] = [response.strong, response.weak];
      this.showCount(response.took_ms);
      if (cutFound && !state.showWeaker) this.show(true);
      else if (state.sort === "relevance") grid.append(response.hits);
      else grid.set(state.sorted(), true);
    } catch {
      state.more = false;
    } finally {
      this.loadingMore = false;
    }
  }

  /** The library changed: a short result list is searched again, keeping its place. */
  refresh(): void {
    if (this.ctx.state.hits.length < PAGE_SIZE && canSearch(this.ctx.state.terms())) void this.run(true);
  }

  /** Shows the similar shots folded into the result at `index` of the grid, right after it. */
  unfold(index: number): void {
    const { state, grid } = this.ctx;
    const hit = grid.items[index];
    const at = state.hits.indexOf(hit);
    if (at < 0 || !hit.similar.length) return;
    state.hits.splice(at, 1, { ...hit, similar: [] }, ...hit.similar);
    if (state.strong !== null && at < state.strong) state.strong += hit.similar.length;
    this.showCount();
    this.show(true);
  }

  show(keepScroll: boolean): void {
    this.renderRelevance();
    this.ctx.grid.set(this.ctx.state.sorted(), keepScroll);
    this.ctx.actions.renderEmpty();
  }

  private showCount(tookMs = this.ctx.state.tookMs): void {
    const state = this.ctx.state;
    state.tookMs = tookMs;
    const folded = state.hits.reduce((n, h) => n + h.similar.length, 0);
    const shown = `${formatCount(state.hits.length)}${state.more ? "+" : ""}`;
    const all = folded ? `${shown} results (${formatCount(state.hits.length + folded)} photos)` : `${shown} photos`;
    const count = state.strong !== null && !state.showWeaker ? `${formatCount(state.strong)} of ${all}` : all;
    $("result-count").textContent = `${count} · ${Math.round(tookMs)} ms`;
  }

  /** Where the strong matches end, or that there are no close matches, above the grid. */
  private renderRelevance(): void {
    const { state } = this.ctx;
    const bar = $("relevance");
    const parts: Node[] = [];
    if (state.understood.length) {
      const chips = state.understood.map((label) =>
        el(
          "span",
          { className: "chip understood" },
          el("span", { textContent: label }),
          el("button", {
            className: "understood-remove",
            textContent: "×",
            ariaLabel: `Take the words as they are instead of "${label}"`,
            onclick: () => {
              state.literal = true;
              void this.run();
            },
          }),
        ),
      );
      parts.push(el("span", { className: "understood-chips" }, ...chips));
    }
    const toggle = (label: string, showWeaker: boolean) =>
      el("button", {
        className: "small",
        id: "relevance-toggle",
        textContent: label,
        onclick: () => {
          state.showWeaker = showWeaker;
          this.show(true);
          this.showCount();
        },
      });
    if (state.hits.length && state.weak) {
      parts.push(el("span", { textContent: "No close matches; these are the closest results." }));
    } else if (state.strong !== null && !state.showWeaker) {
      parts.push(
        el("span", { textContent: `${formatCount(state.strong)} strong match${state.strong === 1 ? "" : "es"}.` }),
        toggle("Show more (weaker matches)", true),
      );
    } else if (state.strong !== null) {
      parts.push(
        el("span", { textContent: `The first ${formatCount(state.strong)} are strong matches; weaker ones follow.` }),
        toggle("Strong matches only", false),
      );
    }
    bar.hidden = parts.length === 0;
    bar.replaceChildren(...parts);
  }
}
