// The query bar: the search box and its chips, the filters, the saved searches in the sidebar,
// and images dropped, pasted or chosen to search by.

import type { AppStatus, SavedSearch } from "./bindings";
import { addChip, type Chip, chipLabel, fromTerm, stepWeight, toggleNegative, toTerm } from "./chips";
import { asClientError } from "./client";
import { $, el } from "./dom";
import { formatCount } from "./format";
import type { Context, Sort } from "./state";

const TYPING_DEBOUNCE_MS = 220;
const COLLAPSE_KEY = "photo-search:collapse";
const IMAGE_PATH = /\.(jpe?g|png|gif|webp|tiff?|bmp|heic|heif|avif)$/i;

export class QueryBar {
  private readonly search = $<HTMLInputElement>("search");
  private timer = 0;
  /** The typed text the service last read, so that it is read once. */
  private parsedText = "";
  private saved: SavedSearch[] = [];

  constructor(private readonly ctx: Context) {
    this.wireSearchBox();
    this.wireFilters();
    this.wireSaved();
    this.wireDrops();
    this.search.focus();
  }

  /** Something is typed or chosen: the query is not empty. */
  get hasQuery(): boolean {
    return this.ctx.state.chips.length > 0 || this.search.value.trim() !== "";
  }

  /** Reads the typed text into terms (the service's grammar); false when it cannot be read. */
  async readTyped(): Promise<boolean> {
    const { state, client } = this.ctx;
    const text = this.search.value;
    if (text === this.parsedText) return state.typedError === null;
    if (!text.trim()) {
      [state.typed, state.typedError, this.parsedText] = [[], null, text];
      return true;
    }
    try {
      const terms = await client.parseQuery(text);
      [state.typed, state.typedError, this.parsedText] = [terms, null, text];
      return true;
    } catch (error) {
      [state.typedError, this.parsedText] = [asClientError(error).message, text];
      return false;
    }
  }

  private wireSearchBox(): void {
    const { state, grid, actions } = this.ctx;
    this.search.addEventListener("input", () => {
      // New words: their dates are understood again.
      state.literal = false;
      this.scheduleSearch();
    });
    this.search.addEventListener("keydown", (e) => {
      const text = this.search.value;
      // A comma inside quotes is part of the term.
      const inQuotes = (text.match(/"/g) ?? []).length % 2 === 1;
      if (e.key === "Enter") {
        e.preventDefault();
        void actions.runSearch();
      } else if ((e.key === "," || e.key === "Tab") && text.trim() && !e.shiftKey && !inQuotes) {
        e.preventDefault();
        void this.commitTyping();
      } else if (e.key === "Backspace" && !text && state.chips.length) {
        state.chips = state.chips.slice(0, -1);
        this.renderChips();
        this.scheduleSearch();
      } else if (e.key === "ArrowDown" && grid.items.length) {
        e.preventDefault();
        grid.select(Math.max(grid.selection, 0));
      } else if (e.key === "Escape" && (text || state.chips.length)) {
        this.search.value = "";
        state.chips = [];
        this.renderChips();
        void actions.runSearch();
      }
    });
    document.addEventListener("keydown", (e) => {
      const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement;
      if (e.key === "/" && !typing && !document.querySelector("dialog[open]")) {
        e.preventDefault();
        this.search.focus();
      } else if (e.key === "," && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        void actions.openSettings();
      }
    });
  }

  /** The typed text becomes chips (Tab or a comma). */
  private async commitTyping(): Promise<void> {
    const { state, actions } = this.ctx;
    if (!(await this.readTyped())) {
      $("result-count").textContent = state.typedError ?? "";
      return;
    }
    for (const term of state.typed) state.chips = addChip(state.chips, fromTerm(term));
    this.search.value = "";
    [state.typed, this.parsedText] = [[], ""];
    this.renderChips();
    void actions.runSearch();
  }

  private scheduleSearch(): void {
    clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.ctx.actions.runSearch(), TYPING_DEBOUNCE_MS);
  }

  /** A search starts now: one that was waiting for the typing to pause is not needed. */
  cancelScheduled(): void {
    clearTimeout(this.timer);
  }

  /** Replaces the query with one chip (a dropped image, "find similar"). */
  replaceWith(chip: Chip): void {
    this.ctx.state.chips = [chip];
    this.search.value = "";
    this.renderChips();
    void this.ctx.actions.runSearch();
  }

  renderChips(): void {
    const { state, client, actions } = this.ctx;
    $("chips").replaceChildren(
      ...state.chips.map((chip, i) => {
        const replace = (next: Chip | null) => {
          state.chips = next ? state.chips.map((c, j) => (j === i ? next : c)) : state.chips.filter((_, j) => j !== i);
          this.renderChips();
          void actions.runSearch();
        };
        const label = chipLabel(chip);
        const item = el("li", { className: chip.weight < 0 ? "chip negative" : "chip" });
        if (chip.kind === "photo") {
          const thumbnail = state.hits.find((h) => h.id === chip.id)?.thumbnail ?? null;
          item.append(el("img", { src: client.thumbnailUrl({ id: chip.id, thumbnail }), alt: "" }));
        }
        item.append(
          el("span", { className: "chip-label", textContent: label }),
          el("button", { title: "Weigh less", ariaLabel: `Weigh ${label} less`, textContent: "−", onclick: () => replace(stepWeight(chip, false)) }),
          el("button", { title: "Weigh more", ariaLabel: `Weigh ${label} more`, textContent: "+", onclick: () => replace(stepWeight(chip, true)) }),
          el("button", {
            title: chip.weight < 0 ? "Search for this" : "Avoid this",
            ariaLabel: `Toggle not: ${label}`,
            textContent: "¬",
            onclick: () => replace(toggleNegative(chip)),
          }),
          el("button", { title: "Remove", ariaLabel: `Remove ${label}`, textContent: "×", onclick: () => replace(null) }),
        );
        return item;
      }),
    );
  }

  // ---- filters ----

  private wireFilters(): void {
    const { state, actions, grid } = this.ctx;
    const folder = $<HTMLSelectElement>("filter-folder");
    const from = $<HTMLInputElement>("filter-from");
    const to = $<HTMLInputElement>("filter-to");
    const format = $<HTMLSelectElement>("filter-format");
    const place = $<HTMLSelectElement>("filter-place");
    const read = () => {
      state.filters = {
        folder: folder.value || null,
        from: from.value || null,
        to: to.value || null,
        formats: format.value ? [format.value] : [],
        place: place.value || null,
      };
      void actions.runSearch();
    };
    for (const input of [folder, from, to, format, place]) input.addEventListener("change", read);
    const sort = $<HTMLSelectElement>("sort");
    sort.addEventListener("change", () => {
      state.sort = sort.value as Sort;
      grid.set(state.sorted(), false);
    });
    const collapse = $<HTMLInputElement>("collapse");
    collapse.checked = state.collapse = localStorage.getItem(COLLAPSE_KEY) === "1";
    collapse.addEventListener("change", () => {
      state.collapse = collapse.checked;
      localStorage.setItem(COLLAPSE_KEY, collapse.checked ? "1" : "0");
      void actions.runSearch();
    });
  }

  /** Shows the filters a saved search keeps. */
  private showFilters(): void {
    const f = this.ctx.state.filters;
    $<HTMLSelectElement>("filter-folder").value = f.folder ?? "";
    $<HTMLInputElement>("filter-from").value = f.from ?? "";
    $<HTMLInputElement>("filter-to").value = f.to ?? "";
    $<HTMLSelectElement>("filter-format").value = f.formats[0] ?? "";
    $<HTMLSelectElement>("filter-place").value = f.place ?? "";
  }

  /** The folders and places of the library in their filters, keeping what is chosen. */
  renderFilterChoices(status: AppStatus): void {
    const { state } = this.ctx;
    const folders = status.folders.map((f) => f.path);
    if (
      refillSelect(
        $<HTMLSelectElement>("filter-folder"),
        "All folders",
        folders.map((p) => [p, p]),
      )
    ) {
      state.filters.folder = $<HTMLSelectElement>("filter-folder").value || null;
    }
    const place = $<HTMLSelectElement>("filter-place");
    $("filter-place-label").hidden = status.places.length === 0 && !place.value;
    if (
      refillSelect(
        place,
        "Anywhere",
        status.places.map((p) => [p.name, `${p.name} (${formatCount(p.photos)})`]),
      )
    ) {
      state.filters.place = place.value || null;
    }
  }

  // ---- saved searches, in the sidebar ----

  private wireSaved(): void {
    $("save-search").addEventListener("click", () => void this.saveSearch());
    void this.ctx.client.settings().then(
      (s) => this.renderSaved(s.saved_searches),
      () => undefined,
    );
  }

  private async saveSearch(): Promise<void> {
    const { state, client } = this.ctx;
    const say = (text: string): void => {
      $("result-count").textContent = text;
    };
    if (!(await this.readTyped())) return say(state.typedError ?? "");
    const chips = [...state.chips, ...state.typed.map(fromTerm)];
    if (chips.some((c) => c.kind === "image")) return say("A search with a dropped image cannot be saved.");
    if (!chips.length) return;
    const name = chips.map(chipLabel).join(", ");
    const entry: SavedSearch = { name, terms: chips.map(toTerm), filters: state.filters };
    const saved = [...this.saved.filter((s) => s.name !== name), entry];
    try {
      this.renderSaved((await client.updateSettings({ saved_searches: saved })).saved_searches);
    } catch (error) {
      say((error as Error).message);
    }
  }

  private renderSaved(saved: SavedSearch[]): void {
    this.saved = saved;
    $("saved").hidden = saved.length === 0;
    $("results").classList.toggle("has-saved", saved.length > 0);
    $("saved-list").replaceChildren(
      ...saved.map((entry) =>
        el(
          "li",
          {},
          el("button", { className: "saved-open", textContent: entry.name, title: entry.name, onclick: () => this.openSaved(entry) }),
          el("button", {
            className: "small",
            textContent: "×",
            ariaLabel: `Forget the saved search ${entry.name}`,
            onclick: () => {
              const rest = this.saved.filter((s) => s !== entry);
              void this.ctx.client.updateSettings({ saved_searches: rest }).then((s) => this.renderSaved(s.saved_searches));
            },
          }),
        ),
      ),
    );
  }

  private openSaved(entry: SavedSearch): void {
    const { state, actions } = this.ctx;
    state.chips = entry.terms.filter((t) => t.kind !== "image").map(fromTerm);
    this.search.value = "";
    state.filters = { ...entry.filters };
    state.literal = false;
    this.showFilters();
    this.renderChips();
    void actions.runSearch();
  }

  // ---- images to search by ----

  /** The desktop app's drop events give paths: the drop handler and the tests call this. */
  async dropPaths(paths: string[]): Promise<void> {
    const path = paths.find((p) => IMAGE_PATH.test(p)) ?? paths[0];
    if (path) await this.withImage(() => this.ctx.client.imageFromPath(path));
  }

  private async addImageBlob(blob: Blob, label: string): Promise<void> {
    await this.withImage(() => this.ctx.client.uploadImage(blob, label));
  }

  private async withImage(load: () => Promise<{ token: string; label: string }>): Promise<void> {
    $("result-count").textContent = "Reading the image…";
    try {
      const image = await load();
      this.replaceWith({ kind: "image", token: image.token, label: image.label, weight: 1 });
    } catch (error) {
      $("result-count").textContent = "";
      this.ctx.actions.renderEmpty(asClientError(error));
    }
  }

  private wireDrops(): void {
    $("add-image").addEventListener("click", () => $("image-input").click());
    $<HTMLInputElement>("image-input").addEventListener("change", (e) => {
      const input = e.target as HTMLInputElement;
      const file = input.files?.[0];
      if (file) void this.addImageBlob(file, file.name);
      input.value = "";
    });
    const overlay = $("drop-overlay");
    let depth = 0;
    window.addEventListener("dragenter", (e) => {
      if (!e.dataTransfer?.types.includes("Files")) return;
      depth++;
      overlay.hidden = false;
    });
    window.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) overlay.hidden = true;
    });
    window.addEventListener("dragover", (e) => e.preventDefault());
    window.addEventListener("drop", (e) => {
      e.preventDefault();
      depth = 0;
      overlay.hidden = true;
      const file = [...(e.dataTransfer?.files ?? [])].find((f) => f.type.startsWith("image/")) ?? e.dataTransfer?.files[0];
      if (file) void this.addImageBlob(file, file.name);
    });
    window.addEventListener("paste", (e) => {
      const file = [...(e.clipboardData?.files ?? [])].find((f) => f.type.startsWith("image/"));
      if (file) {
        e.preventDefault();
        void this.addImageBlob(file, "pasted image");
      }
    });
    if (this.ctx.client.desktop) {
      void import("@tauri-apps/api/webview").then(({ getCurrentWebview }) =>
        getCurrentWebview().onDragDropEvent((event) => {
          const payload = event.payload;
          if (payload.type === "enter" || payload.type === "over") overlay.hidden = false;
          else if (payload.type === "leave") overlay.hidden = true;
          else if (payload.type === "drop") {
            overlay.hidden = true;
            void this.dropPaths(payload.paths);
          }
        }),
      );
    }
  }
}

/** Gives a select its options (after the first, "any"), keeping the chosen value while it is
 * still offered; true when the choice was dropped. */
function refillSelect(select: HTMLSelectElement, any: string, options: [string, string][]): boolean {
  const have = [...select.options].slice(1).map((o) => o.value);
  if (options.map(([v]) => v).join("\n") === have.join("\n")) return false;
  const current = select.value;
  select.replaceChildren(el("option", { value: "", textContent: any }), ...options.map(([value, textContent]) => el("option", { value, textContent })));
  const kept = options.some(([v]) => v === current);
  select.value = kept ? current : "";
  return !kept;
}
