// The Photo Search window: search box with query chips, filters, a virtualized result grid, a
// preview, the indexing status bar, first-run steps and settings. The same code runs in the
// desktop app (Tauri IPC) and in a browser against `photo-search serve` (HTTP).

import type { AppStatus, DuplicateGroups, Filters, Hit, PhotoDetails, SavedSearch, Settings } from "./bindings";
import { addChip, canSearch, type Chip, chipLabel, parseChips, stepWeight, toggleNegative, toTerm, toTerms } from "./chips";
import { Client, ClientError, HttpTransport, type Transport } from "./client";
import { Grid } from "./grid";
import { statusAnnouncement } from "./status";

/** Results per page: the first page arrives with each keystroke, later ones as the grid scrolls. */
const PAGE_SIZE = 200;
const TYPING_DEBOUNCE_MS = 220;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

/** Replaces `container`'s children only when the new ones differ in markup: the notice and the
 * empty state are rendered again at every status tick, and a button that has the keyboard focus
 * must survive a tick that changes nothing. */
function replaceIfChanged(container: HTMLElement, parts: Node[]): void {
  const markup = parts.map((p) => (p instanceof Element ? p.outerHTML : (p.textContent ?? ""))).join("");
  if (container.dataset.markup === markup && container.childNodes.length === parts.length) return;
  container.dataset.markup = markup;
  container.replaceChildren(...parts);
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function formatCount(n: number): string {
  return n.toLocaleString();
}

function formatDuration(seconds: number): string {
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function formatBytes(bytes: number): string {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1e3))} KB`;
}

function formatDate(unix: number | null): string {
  return unix === null ? "unknown" : new Date(unix * 1000).toLocaleString();
}

function fileName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

function inTauri(): boolean {
  return "__TAURI_INTERNALS__" in window;
}

async function makeTransport(): Promise<Transport> {
  if (inTauri()) {
    const { TauriTransport } = await import("./tauri");
    return new TauriTransport();
  }
  const params = new URLSearchParams(location.search);
  const token = params.get("token") ?? sessionStorage.getItem("photo-search-token");
  if (params.has("token") && token) {
    sessionStorage.setItem("photo-search-token", token);
    history.replaceState(null, "", location.pathname);
  }
  return new HttpTransport("", token);
}

const COLLAPSE_KEY = "photo-search:collapse";

class App {
  private chips: Chip[] = [];
  private hits: Hit[] = [];
  /** More results follow the loaded ones; a page is being fetched. */
  private more = false;
  /** The first `strong` hits are strong matches (null: all so far are); `weak`: none stands out. */
  private strong: number | null = null;
  private weak = false;
  private showWeaker = false;
  private tookMs = 0;
  /** What the words were understood as (dates), and whether the user turned that off. */
  private understood: string[] = [];
  private literal = false;
  private loadingMore = false;
  private status: AppStatus | null = null;
  private seq = 0;
  private timer = 0;
  private revision = -1;
  private previewIndex = -1;
  private previewDetails: PhotoDetails | null = null;
  private readonly grid: Grid;
  private readonly search = $<HTMLInputElement>("search");

  constructor(private readonly client: Client) {
    this.grid = new Grid($("grid"), $("grid-inner"), {
      thumbnailUrl: (hit) => client.thumbnailUrl(hit),
      onOpen: (index) => void this.openPreview(index),
      onNearEnd: () => void this.loadMore(),
      onPick: (ids) => this.renderSelection(ids.size),
      onUnfold: (index) => this.unfold(index),
    });
    this.wireSearch();
    this.wireSaved();
    this.wireDuplicates();
    this.wireSelection();
    this.wireFilters();
    this.wireDrops();
    this.wirePreview();
    this.wireSettings();
    this.wireStatusBar();
    client.subscribe((status) => this.onStatus(status));
    this.search.focus();
    this.renderEmpty();
  }

  // ---- searching ----

  private wireSearch(): void {
    this.search.addEventListener("input", () => {
      // New words: their dates are understood again.
      this.literal = false;
      this.scheduleSearch();
    });
    this.search.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        void this.runSearch();
      } else if ((e.key === "," || e.key === "Tab") && this.search.value.trim() && !e.shiftKey) {
        e.preventDefault();
        this.commitTyping();
      } else if (e.key === "Backspace" && !this.search.value && this.chips.length) {
        this.chips = this.chips.slice(0, -1);
        this.renderChips();
        this.scheduleSearch();
      } else if (e.key === "ArrowDown" && this.grid.items.length) {
        e.preventDefault();
        this.grid.select(Math.max(this.grid.selection, 0));
      } else if (e.key === "Escape" && (this.search.value || this.chips.length)) {
        this.search.value = "";
        this.chips = [];
        this.renderChips();
        void this.runSearch();
      }
    });
    $("add-image").addEventListener("click", () => $("image-input").click());
    $<HTMLInputElement>("image-input").addEventListener("change", (e) => {
      const file = (e.target as HTMLInputElement).files?.[0];
      if (file) void this.addImageBlob(file, file.name);
      (e.target as HTMLInputElement).value = "";
    });
    document.addEventListener("keydown", (e) => {
      const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement;
      if (e.key === "/" && !typing && !document.querySelector("dialog[open]")) {
        e.preventDefault();
        this.search.focus();
      } else if (e.key === "," && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        void this.openSettings();
      }
    });
  }

  private commitTyping(): void {
    for (const chip of parseChips(this.search.value)) this.chips = addChip(this.chips, chip);
    this.search.value = "";
    this.renderChips();
    void this.runSearch();
  }

  private scheduleSearch(): void {
    clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.runSearch(), TYPING_DEBOUNCE_MS);
  }

  private filters(): Filters {
    const format = $<HTMLSelectElement>("filter-format").value;
    return {
      folder: $<HTMLSelectElement>("filter-folder").value || null,
      from: $<HTMLInputElement>("filter-from").value || null,
      to: $<HTMLInputElement>("filter-to").value || null,
      formats: format ? [format] : [],
      place: $<HTMLSelectElement>("filter-place").value || null,
    };
  }

  /** The hits the grid shows: the strong matches only, unless there are none or more were asked for. */
  private visible(): Hit[] {
    return this.strong !== null && !this.showWeaker ? this.hits.slice(0, this.strong) : this.hits;
  }

  /** Where the strong matches end, or that there are no close matches, above the grid. */
  private renderRelevance(): void {
    const bar = $("relevance");
    const parts: Node[] = [];
    if (this.understood.length) {
      const chips = this.understood.map((label) =>
        el("span", { className: "chip understood" }, el("span", { textContent: label }), el("button", {
          className: "understood-remove",
          textContent: "×",
          ariaLabel: `Take the words as they are instead of "${label}"`,
          onclick: () => { this.literal = true; void this.runSearch(); },
        })),
      );
      parts.push(el("span", { className: "understood-chips" }, ...chips));
    }
    const toggle = (label: string, showWeaker: boolean) =>
      el("button", { className: "small", id: "relevance-toggle", textContent: label, onclick: () => { this.showWeaker = showWeaker; this.showResults(true); this.showCount(); } });
    if (this.hits.length && this.weak) {
      parts.push(el("span", { textContent: "No close matches; these are the closest results." }));
    } else if (this.strong !== null && !this.showWeaker) {
      parts.push(el("span", { textContent: `${formatCount(this.strong)} strong match${this.strong === 1 ? "" : "es"}.` }), toggle("Show more (weaker matches)", true));
    } else if (this.strong !== null) {
      parts.push(el("span", { textContent: `The first ${formatCount(this.strong)} are strong matches; weaker ones follow.` }), toggle("Strong matches only", false));
    }
    bar.hidden = parts.length === 0;
    bar.replaceChildren(...parts);
  }

  private async runSearch(keepScroll = false): Promise<void> {
    clearTimeout(this.timer);
    const terms = toTerms(this.chips, this.search.value);
    const seq = ++this.seq;
    if (!canSearch(terms)) {
      this.hits = [];
      this.more = false;
      [this.strong, this.weak, this.understood] = [null, false, []];
      this.showResults(false);
      $("result-count").textContent = terms.length ? "Add a term to search for, not only ones to avoid" : "";
      return;
    }
    try {
      const response = await this.client.search({ terms, filters: this.filters(), limit: PAGE_SIZE, offset: 0, literal: this.literal, collapse: this.collapse });
      if (seq !== this.seq) return;
      this.hits = response.hits;
      this.more = response.more;
      [this.strong, this.weak, this.showWeaker] = [response.strong, response.weak, keepScroll && this.showWeaker];
      this.understood = response.understood;
      this.showCount(response.took_ms);
      this.showResults(keepScroll);
    } catch (error) {
      if (seq !== this.seq) return;
      this.hits = [];
      this.more = false;
      [this.strong, this.weak, this.understood] = [null, false, []];
      this.showResults(false);
      $("result-count").textContent = "";
      this.renderEmpty(error instanceof ClientError ? error : new ClientError("internal", String(error)));
    }
  }

  /** Fetches the next page of the current query and adds it to the grid. */
  private async loadMore(): Promise<void> {
    // Past the strong matches only when asked to.
    if (!this.more || this.loadingMore || (this.strong !== null && !this.showWeaker)) return;
    const terms = toTerms(this.chips, this.search.value);
    if (!canSearch(terms)) return;
    const seq = this.seq;
    this.loadingMore = true;
    try {
      const response = await this.client.search({ terms, filters: this.filters(), limit: PAGE_SIZE, offset: this.hits.length, literal: this.literal, collapse: this.collapse });
      if (seq !== this.seq || response.offset !== this.hits.length) return;
      this.hits = this.hits.concat(response.hits);
      this.more = response.more && response.hits.length > 0;
      const cutFound = this.strong === null && response.strong !== null;
      [this.strong, this.weak] = [response.strong, response.weak];
      this.showCount(response.took_ms);
      if (cutFound && !this.showWeaker) this.showResults(true);
      else if ($<HTMLSelectElement>("sort").value === "relevance") this.grid.append(response.hits);
      else this.grid.set(this.sorted(), true);
    } catch {
      this.more = false;
    } finally {
      this.loadingMore = false;
    }
  }

  private showCount(tookMs = this.tookMs): void {
    this.tookMs = tookMs;
    const folded = this.hits.reduce((n, h) => n + h.similar.length, 0);
    const all = folded
      ? `${formatCount(this.hits.length)}${this.more ? "+" : ""} results (${formatCount(this.hits.length + folded)} photos)`
      : `${formatCount(this.hits.length)}${this.more ? "+" : ""} photos`;
    const count = this.strong !== null && !this.showWeaker ? `${formatCount(this.strong)} of ${all}` : all;
    $("result-count").textContent = `${count} · ${Math.round(tookMs)} ms`;
  }

  private sorted(): Hit[] {
    const sort = $<HTMLSelectElement>("sort").value;
    if (sort === "relevance") return this.visible();
    const sign = sort === "newest" ? -1 : 1;
    return [...this.visible()].sort((a, b) => sign * ((a.taken_at ?? 0) - (b.taken_at ?? 0)));
  }

  private showResults(keepScroll: boolean): void {
    this.renderRelevance();
    this.grid.set(this.sorted(), keepScroll);
    this.renderEmpty();
  }

  private renderChips(): void {
    const list = $("chips");
    list.replaceChildren(
      ...this.chips.map((chip, i) => {
        const replace = (next: Chip | null) => {
          this.chips = next ? this.chips.map((c, j) => (j === i ? next : c)) : this.chips.filter((_, j) => j !== i);
          this.renderChips();
          void this.runSearch();
        };
        const item = el("li", { className: chip.weight < 0 ? "chip negative" : "chip" });
        if (chip.kind === "photo") item.append(el("img", { src: this.client.thumbnailUrl({ id: chip.id, thumbnail: this.hits.find((h) => h.id === chip.id)?.thumbnail ?? null }), alt: "" }));
        item.append(
          el("span", { className: "chip-label", textContent: chipLabel(chip) }),
          el("button", { title: "Weigh less", ariaLabel: `Weigh ${chipLabel(chip)} less`, textContent: "−", onclick: () => replace(stepWeight(chip, false)) }),
          el("button", { title: "Weigh more", ariaLabel: `Weigh ${chipLabel(chip)} more`, textContent: "+", onclick: () => replace(stepWeight(chip, true)) }),
          el("button", { title: chip.weight < 0 ? "Search for this" : "Avoid this", ariaLabel: `Toggle not: ${chipLabel(chip)}`, textContent: "¬", onclick: () => replace(toggleNegative(chip)) }),
          el("button", { title: "Remove", ariaLabel: `Remove ${chipLabel(chip)}`, textContent: "×", onclick: () => replace(null) }),
        );
        return item;
      }),
    );
  }

  /** Replaces the query with one image or photo chip (drop, paste, "find similar"). */
  private searchSimilar(chip: Chip): void {
    this.chips = [chip];
    this.search.value = "";
    this.renderChips();
    void this.runSearch();
  }

  private async addImageBlob(blob: Blob, label: string): Promise<void> {
    await this.withImage(() => this.client.uploadImage(blob, label));
  }

  /** The desktop app's drop events give paths: the drop handler and the tests call this. */
  async dropPaths(paths: string[]): Promise<void> {
    const path = paths.find((p) => /\.(jpe?g|png|gif|webp|tiff?|bmp|heic|heif|avif)$/i.test(p)) ?? paths[0];
    if (path) await this.withImage(() => this.client.imageFromPath(path));
  }

  private async withImage(load: () => Promise<{ token: string; label: string }>): Promise<void> {
    $("result-count").textContent = "Reading the image…";
    try {
      const image = await load();
      this.searchSimilar({ kind: "image", token: image.token, label: image.label, weight: 1 });
    } catch (error) {
      $("result-count").textContent = "";
      this.renderEmpty(error instanceof ClientError ? error : new ClientError("internal", String(error)));
    }
  }

  private wireDrops(): void {
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
    if (this.client.desktop) {
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

  // ---- filters ----

  private wireFilters(): void {
    for (const id of ["filter-folder", "filter-from", "filter-to", "filter-format", "filter-place"]) {
      $(id).addEventListener("change", () => void this.runSearch());
    }
    $("sort").addEventListener("change", () => this.showResults(false));
    const collapse = $<HTMLInputElement>("collapse");
    collapse.checked = localStorage.getItem(COLLAPSE_KEY) === "1";
    collapse.addEventListener("change", () => {
      localStorage.setItem(COLLAPSE_KEY, collapse.checked ? "1" : "0");
      void this.runSearch();
    });
  }

  /** Whether similar shots are folded into one result ("Group similar shots"). */
  private get collapse(): boolean {
    return $<HTMLInputElement>("collapse").checked;
  }

  /** Shows the similar shots folded into the result at `index` of the grid, right after it. */
  private unfold(index: number): void {
    const hit = this.grid.items[index];
    const at = this.hits.indexOf(hit);
    if (at < 0 || !hit.similar.length) return;
    this.hits.splice(at, 1, { ...hit, similar: [] }, ...hit.similar);
    if (this.strong !== null && at < this.strong) this.strong += hit.similar.length;
    this.showCount();
    this.showResults(true);
  }

  // ---- duplicates and similar shots ----

  private duplicateGroups: DuplicateGroups | null = null;

  private wireDuplicates(): void {
    const dialog = $<HTMLDialogElement>("duplicates");
    $("open-duplicates").addEventListener("click", () => {
      if (!dialog.open) dialog.showModal();
      void this.loadDuplicates();
    });
    $("duplicates-close").addEventListener("click", () => dialog.close());
    $("duplicates-kind").addEventListener("change", () => void this.loadDuplicates());
    $("duplicates-copy").addEventListener("click", () => {
      const g = this.duplicateGroups;
      const groups = g ? ($<HTMLSelectElement>("duplicates-kind").value ? g.similar : g.exact) : [];
      const text = groups.map((group) => group.map((p) => p.path).join("\n")).join("\n\n");
      navigator.clipboard.writeText(text).then(
        () => ($("duplicates-summary").textContent = `Copied ${formatCount(groups.length)} groups.`),
        () => ($("duplicates-summary").textContent = "The clipboard is not available here."),
      );
    });
  }

  private async loadDuplicates(): Promise<void> {
    const kind = $<HTMLSelectElement>("duplicates-kind").value;
    $("duplicates-summary").textContent = "Looking…";
    $("duplicates-list").replaceChildren();
    try {
      const found = await this.client.duplicates(kind || null);
      this.duplicateGroups = found;
      const groups = kind ? found.similar : found.exact;
      $("duplicates-summary").textContent = groups.length
        ? `${formatCount(groups.length)} group${groups.length === 1 ? "" : "s"} of ${kind ? "similar shots" : "exact copies"}`
        : `No ${kind ? "similar shots" : "exact copies"} found.`;
      $("duplicates-list").replaceChildren(
        ...groups.map((group) =>
          el(
            "li",
            {},
            el("div", { className: "group-thumbs" }, ...group.map((p) => el("img", { src: this.client.thumbnailUrl({ id: p.id, thumbnail: p.thumbnail }), alt: p.path.split(/[\\/]/).pop() ?? "", title: p.path }))),
            el("div", { className: "group-paths", textContent: group.map((p) => p.path).join("\n") }),
          ),
        ),
      );
    } catch (error) {
      $("duplicates-summary").textContent = (error as Error).message;
    }
  }

  // ---- saved searches, in the sidebar ----

  private saved: SavedSearch[] = [];

  private wireSaved(): void {
    $("save-search").addEventListener("click", () => void this.saveSearch());
    void this.client.settings().then((s) => this.renderSaved(s.saved_searches), () => undefined);
  }

  private async saveSearch(): Promise<void> {
    const chips = [...this.chips, ...parseChips(this.search.value)];
    if (chips.some((c) => c.kind === "image")) {
      $("result-count").textContent = "A search with a dropped image cannot be saved.";
      return;
    }
    if (!chips.length) return;
    const name = chips.map(chipLabel).join(", ");
    const entry: SavedSearch = { name, terms: chips.map(toTerm), filters: this.filters() };
    const saved = [...this.saved.filter((s) => s.name !== name), entry];
    try {
      this.renderSaved((await this.client.updateSettings({ saved_searches: saved })).saved_searches);
    } catch (error) {
      $("result-count").textContent = (error as Error).message;
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
              void this.client.updateSettings({ saved_searches: rest }).then((s) => this.renderSaved(s.saved_searches));
            },
          }),
        ),
      ),
    );
  }

  private openSaved(entry: SavedSearch): void {
    this.chips = entry.terms.flatMap((t): Chip[] => {
      if (t.kind === "text") return [{ kind: "text", text: t.text, weight: t.weight }];
      if (t.kind === "photo") return [{ kind: "photo", id: t.id, label: `photo ${t.id}`, weight: t.weight }];
      return [];
    });
    this.search.value = "";
    const f = entry.filters;
    $<HTMLSelectElement>("filter-folder").value = f.folder ?? "";
    $<HTMLInputElement>("filter-from").value = f.from ?? "";
    $<HTMLInputElement>("filter-to").value = f.to ?? "";
    $<HTMLSelectElement>("filter-format").value = f.formats[0] ?? "";
    $<HTMLSelectElement>("filter-place").value = f.place ?? "";
    this.literal = false;
    this.renderChips();
    void this.runSearch();
  }

  // ---- picked photos: copy their paths, export them ----

  private wireSelection(): void {
    const say = (text: string) => ($("selection-message").textContent = text);
    $("selection-all").addEventListener("click", () => this.grid.pickAll());
    $("selection-clear").addEventListener("click", () => this.grid.clearPicks());
    $("selection-copy").addEventListener("click", () => {
      const paths = this.grid.pickedHits.map((h) => h.path).join("\n");
      navigator.clipboard.writeText(paths).then(
        () => say(`Copied ${formatCount(this.grid.pickedHits.length)} paths.`),
        () => say("The clipboard is not available here."),
      );
    });
    const choose = $<HTMLButtonElement>("export-choose");
    choose.hidden = !this.client.transport.pickFolder;
    choose.addEventListener("click", () => {
      void this.client.transport.pickFolder?.().then((folder) => {
        if (folder) $<HTMLInputElement>("export-folder").value = folder;
      });
    });
    $("export-start").addEventListener("click", () => {
      const folder = $<HTMLInputElement>("export-folder").value.trim();
      const ids = this.grid.pickedHits.map((h) => h.id);
      if (!folder) return say("Type or choose the folder to export to.");
      say("");
      this.client.exportPhotos(ids, folder).catch((e: Error) => say(e.message));
    });
  }

  private renderSelection(count: number): void {
    $("selection-bar").hidden = count === 0;
    $("selection-count").textContent = `${formatCount(count)} selected`;
  }

  /** The places of the library's photos (from their GPS positions), most photos first. */
  private renderPlaceFilter(status: AppStatus): void {
    const select = $<HTMLSelectElement>("filter-place");
    const current = select.value;
    const wanted = status.places.map((p) => p.name);
    $("filter-place-label").hidden = wanted.length === 0 && !current;
    const have = [...select.options].slice(1).map((o) => o.value);
    if (wanted.join("\n") === have.join("\n")) return;
    select.replaceChildren(el("option", { value: "", textContent: "Anywhere" }), ...status.places.map((p) => el("option", { value: p.name, textContent: `${p.name} (${formatCount(p.photos)})` })));
    select.value = wanted.includes(current) ? current : "";
  }

  private renderFolderFilter(status: AppStatus): void {
    const select = $<HTMLSelectElement>("filter-folder");
    const current = select.value;
    const wanted = status.folders.map((f) => f.path);
    const have = [...select.options].slice(1).map((o) => o.value);
    if (wanted.join("\n") === have.join("\n")) return;
    select.replaceChildren(el("option", { value: "", textContent: "All folders" }), ...wanted.map((p) => el("option", { value: p, textContent: p })));
    select.value = wanted.includes(current) ? current : "";
  }

  // ---- status, first run, empty states ----

  private onStatus(status: AppStatus): void {
    const first = this.status === null;
    this.status = status;
    this.renderStatusBar(status);
    this.renderFolderFilter(status);
    this.renderPlaceFilter(status);
    this.renderNotice(status);
    this.renderEmpty();
    if (status.revision !== this.revision) {
      const refresh = !first && this.revision !== -1;
      this.revision = status.revision;
      if (refresh && this.hits.length < 200 && canSearch(toTerms(this.chips, this.search.value))) void this.runSearch(true);
    }
  }

  /** What the status region last announced. */
  private announced = "";

  private renderStatusBar(s: AppStatus): void {
    const i = s.indexing;
    const progress = $<HTMLProgressElement>("status-progress");
    let text: string;
    switch (i.phase) {
      case "scanning":
        text = "Looking for new and changed photos…";
        break;
      case "indexing": {
        const rate = i.rate > 0 ? ` · ${i.rate.toFixed(1)} photos/s` : "";
        const eta = i.eta_s !== null ? ` · about ${formatDuration(i.eta_s)} left` : "";
        const what = s.switching_to ? `Switching to ${s.switching_to}:` : "Indexing";
        text = `${i.paused ? `Paused · ${what}` : what} ${formatCount(i.done)} / ${formatCount(i.queued)}${rate}${eta}`;
        if (s.switching_to) text += ` · searching with ${s.model.name} until then`;
        break;
      }
      case "watching":
        text = i.paused
          ? `${formatCount(s.photos.indexed)} photos indexed · paused: new and changed photos wait`
          : `${formatCount(s.photos.indexed)} photos indexed · watching ${s.folders.length} folder${s.folders.length === 1 ? "" : "s"} for changes`;
        break;
      case "error":
        text = `Indexing stopped: ${i.message ?? "unknown error"}`;
        break;
      default:
        text = s.folders.length ? `${formatCount(s.photos.indexed)} photos indexed` : "No folders yet";
    }
    if (s.switching_to && i.phase !== "indexing") {
      // The model being switched to is still being downloaded, or cannot run yet.
      const d = s.download;
      const why =
        d.phase === "running"
          ? `downloading${d.total ? ` ${Math.floor((100 * d.received) / d.total)}%` : ""}`
          : d.phase === "failed"
            ? "the download failed (see Settings)"
            : (i.message ?? "waiting to start");
      text = `Switching to ${s.switching_to}: ${why} · searching with ${s.model.name} until then`;
    }
    $("status-text").title = s.switching_to && s.download.phase === "failed" ? (s.download.error ?? "") : "";
    if (s.photos.offline) text += ` · ${formatCount(s.photos.offline)} offline`;
    const x = s.export;
    if (x.phase === "running") text = `Exporting ${formatCount(x.done)} / ${formatCount(x.total)} to ${x.folder ?? ""} · ${text}`;
    if (!$("selection-bar").hidden && x.phase !== "idle" && x.phase !== "running") {
      const failed = x.failed.length ? ` · ${x.failed.length} could not be copied: ${x.failed[0]}` : "";
      $("selection-message").textContent = `Exported ${formatCount(x.copied)} to ${x.folder ?? ""}${x.already_there ? ` (${formatCount(x.already_there)} already there)` : ""}${failed}`;
    }
    // The bar changes several times a second while indexing; a screen reader hears only the
    // changes that matter (a phase starting or ending, a pause, an error) through its own region.
    if ($("status-text").textContent !== text) $("status-text").textContent = text;
    const announcement = statusAnnouncement(s);
    if (announcement !== this.announced) {
      this.announced = announcement;
      $("status-announce").textContent = announcement;
    }
    progress.hidden = i.phase !== "indexing" || i.queued === 0;
    progress.max = Math.max(1, i.queued);
    progress.value = i.done;
    const pause = $<HTMLButtonElement>("pause");
    pause.hidden = !(["indexing", "scanning", "watching"].includes(i.phase) || i.paused);
    pause.textContent = i.paused ? "Resume indexing" : "Pause indexing";
    const failed = $<HTMLButtonElement>("failed");
    failed.hidden = s.photos.failed === 0;
    failed.textContent = `${formatCount(s.photos.failed)} could not be indexed`;
    $("provider").textContent = s.provider ? `${s.model.name} · ${s.provider}` : "";
  }

  private renderNotice(s: AppStatus): void {
    const notice = $("notice");
    const parts: Node[] = [];
    if (s.runtime_problem) {
      parts.push(el("h2", { textContent: "ONNX Runtime missing" }), el("p", { textContent: `${s.runtime_problem}. Run scripts/setup.sh, or put libonnxruntime beside the program.` }));
    } else if (s.model.problem) {
      const d = s.download;
      const size = s.model.download_mb ? ` (about ${s.model.download_mb} MB)` : "";
      parts.push(el("h2", { textContent: "The search model is needed" }));
      if (d.phase === "running") {
        const pct = d.total ? Math.floor((100 * d.received) / d.total) : null;
        const bar = el("progress", { max: d.total ?? 1, value: d.total ? d.received : 0 });
        parts.push(
          el("p", { textContent: `Downloading ${d.file ?? "the model"}${pct !== null ? ` · ${pct}%` : ""} · ${(d.received / 1e6).toFixed(1)} MB` }),
          bar,
          el("div", { className: "row" }, el("button", { id: "model-cancel", textContent: "Cancel", onclick: () => void this.client.cancelFetch() })),
        );
      } else {
        if (d.phase === "failed") parts.push(el("p", { className: "error", role: "alert", textContent: `The download failed: ${d.error ?? "unknown error"}` }));
        else if (d.phase === "cancelled") parts.push(el("p", { textContent: "Download cancelled; it resumes where it stopped." }));
        else parts.push(el("p", { textContent: `Photo Search finds photos with a CLIP model that runs on this computer. ${s.model.problem}` }));
        const row = el("div", { className: "row" });
        if (s.model.downloadable) {
          row.append(el("button", { id: "model-download", className: "primary", textContent: d.phase === "failed" ? "Retry the download" : `Download the search model${size}`, onclick: () => void this.client.fetchModel().then(() => undefined, (e) => this.renderEmpty(e)) }));
        }
        row.append(el("button", { id: "model-folder", textContent: "Use a model folder on this computer", onclick: () => void this.chooseModelFolder() }));
        parts.push(row);
        parts.push(el("p", { className: "muted", textContent: "You can add folders meanwhile; they are indexed once the model is there." }));
      }
    }
    notice.hidden = parts.length === 0;
    replaceIfChanged(notice, parts);
  }

  private renderEmpty(error?: ClientError): void {
    const empty = $("empty");
    const s = this.status;
    const parts: Node[] = [];
    if (error) {
      const hint = error.kind === "model_missing" ? "Download the search model above, or choose a model folder in Settings." : error.kind === "network" ? "Is `photo-search serve` still running?" : "";
      parts.push(el("h2", { textContent: "Something went wrong" }), el("p", { className: "error", role: "alert", textContent: error.message }), el("p", { textContent: hint }));
    } else if (s && s.folders.length === 0) {
      parts.push(
        el("h2", { textContent: "No folders yet" }),
        el("p", { textContent: "Add the folders that hold your photos. They are indexed in the background and watched for new photos; nothing leaves this computer." }),
        el("div", { className: "row" }, el("button", { id: "first-folder", className: "primary", textContent: "Add a photo folder…", onclick: () => void this.addFolderInteractive() })),
      );
    } else if (!this.hits.length && toTerms(this.chips, this.search.value).length === 0) {
      const count = s ? `${formatCount(s.photos.indexed)} photos` : "your photos";
      parts.push(el("h2", { textContent: "Search by meaning" }), el("p", { textContent: `Type what you are looking for (“kids on a beach at sunset”), drop or paste an image to find similar ones, or combine terms: “beach, not: people”. Searching ${count}.` }));
    } else if (!this.hits.length && canSearch(toTerms(this.chips, this.search.value))) {
      parts.push(el("h2", { textContent: "No matching photos" }), el("p", { textContent: "Try other words, or clear the filters." }));
    }
    empty.hidden = parts.length === 0;
    replaceIfChanged(empty, parts);
  }

  // ---- status bar ----

  private wireStatusBar(): void {
    $("pause").addEventListener("click", () => {
      const paused = this.status?.indexing.paused;
      void (paused ? this.client.resume() : this.client.pause());
    });
    $("failed").addEventListener("click", () => void this.openFailures());
    $("failures-close").addEventListener("click", () => $<HTMLDialogElement>("failures").close());
  }

  private async openFailures(): Promise<void> {
    const list = $("failures-list");
    list.replaceChildren(el("li", { textContent: "Loading…" }));
    $<HTMLDialogElement>("failures").showModal();
    try {
      const failures = await this.client.failures();
      list.replaceChildren(...failures.map((f) => el("li", {}, el("span", { className: "mono", textContent: f.path }), el("span", { className: "reason", textContent: f.reason }))));
    } catch (error) {
      list.replaceChildren(el("li", { className: "error", textContent: String(error) }));
    }
  }

  // ---- preview ----

  private wirePreview(): void {
    const dialog = $<HTMLDialogElement>("preview");
    $("preview-close").addEventListener("click", () => dialog.close());
    $("preview-prev").addEventListener("click", () => void this.openPreview(this.previewIndex - 1));
    $("preview-next").addEventListener("click", () => void this.openPreview(this.previewIndex + 1));
    dialog.addEventListener("keydown", (e) => {
      if (e.key === "ArrowLeft") void this.openPreview(this.previewIndex - 1);
      else if (e.key === "ArrowRight") void this.openPreview(this.previewIndex + 1);
    });
    dialog.addEventListener("close", () => {
      if (this.previewIndex >= 0) this.grid.select(this.previewIndex);
    });
    $("preview-similar").addEventListener("click", () => {
      const d = this.previewDetails;
      if (!d) return;
      dialog.close();
      this.searchSimilar({ kind: "photo", id: d.id, label: fileName(d.path), weight: 1 });
    });
    $("preview-open").addEventListener("click", () => {
      const d = this.previewDetails;
      if (!d) return;
      if (this.client.transport.openPhoto) void this.client.transport.openPhoto(d.id);
      else window.open(this.client.originalUrl(d), "_blank", "noopener");
    });
    $("preview-reveal").addEventListener("click", () => {
      const d = this.previewDetails;
      if (d && this.client.transport.revealPhoto) void this.client.transport.revealPhoto(d.id);
    });
    $("preview-reveal").hidden = !this.client.transport.revealPhoto;
    $("preview-open").textContent = this.client.transport.openPhoto ? "Open with default app" : "Open original";
  }

  private async openPreview(index: number): Promise<void> {
    const items = this.grid.items;
    if (index < 0 || index >= items.length) return;
    this.previewIndex = index;
    const hit = items[index];
    const dialog = $<HTMLDialogElement>("preview");
    const img = $<HTMLImageElement>("preview-img");
    img.src = this.client.thumbnailUrl(hit);
    img.alt = fileName(hit.path);
    $("preview-title").textContent = fileName(hit.path);
    $("preview-facts").replaceChildren();
    if (!dialog.open) dialog.showModal();
    $("preview-close").focus();
    try {
      const d = await this.client.photo(hit.id);
      if (this.previewIndex !== index) return;
      this.previewDetails = d;
      const browserShows = !["heic", "tiff", "avif"].includes(d.format ?? "") || d.format === "avif";
      if (browserShows) {
        const full = new Image();
        full.onload = () => {
          if (this.previewIndex === index) img.src = full.src;
        };
        full.src = this.client.originalUrl(d);
      }
      const facts: [string, string][] = [
        ["Date", formatDate(d.taken_at)],
        ["Camera", d.camera ?? "unknown"],
        ["Size", [d.width && d.height ? `${d.width} × ${d.height} px` : "", formatBytes(d.size_bytes)].filter(Boolean).join(" · ")],
        ["Format", (d.format ?? "unknown").toUpperCase()],
        ["Path", d.path],
      ];
      $("preview-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { textContent: k }), el("dd", { textContent: v })]));
    } catch (error) {
      $("preview-facts").replaceChildren(el("dd", { className: "error", textContent: String(error) }));
    }
  }

  // ---- folders and settings ----

  /** Picks a model folder (the native dialog on the desktop, a typed path in a browser). */
  private async chooseModelFolder(): Promise<void> {
    const picked = this.client.transport.pickFolder ? await this.client.transport.pickFolder() : null;
    if (!picked) {
      await this.openSettings("model-dir");
      return;
    }
    try {
      await this.client.updateSettings({ model_dir: picked });
    } catch (error) {
      await this.openSettings("model-dir");
      $("settings-error").textContent = (error as Error).message ?? String(error);
    }
  }

  private async addFolderInteractive(path?: string): Promise<void> {
    let chosen = path ?? null;
    if (!chosen && this.client.transport.pickFolder) chosen = await this.client.transport.pickFolder();
    if (!chosen) {
      await this.openSettings("folder-path");
      return;
    }
    try {
      await this.client.addFolder(chosen);
      $("settings-error").textContent = "";
    } catch (error) {
      $("settings-error").textContent = String((error as Error).message ?? error);
      if (!$<HTMLDialogElement>("settings").open) this.renderEmpty(error as ClientError);
    }
    await this.refreshSettings();
  }

  private wireSettings(): void {
    $("open-settings").addEventListener("click", () => void this.openSettings());
    $("settings-close").addEventListener("click", () => $<HTMLDialogElement>("settings").close());
    $("folder-add").addEventListener("click", () => {
      const typed = $<HTMLInputElement>("folder-path").value.trim();
      void this.addFolderInteractive(typed || undefined).then(() => ($<HTMLInputElement>("folder-path").value = ""));
    });
    $("folder-rescan").addEventListener("click", () => void this.client.rescan());
    const guard = (work: () => Promise<unknown>) => () => void this.settingsAction(work);
    $("excludes-save").addEventListener("click", guard(() => this.client.updateSettings({ excludes: $<HTMLTextAreaElement>("excludes").value.split("\n") })));
    $("model-dir-use").addEventListener("click", guard(() => this.client.updateSettings({ model_dir: $<HTMLInputElement>("model-dir").value.trim() })));
    $("model-dir-reset").addEventListener("click", guard(() => this.client.updateSettings({ model_dir: "" })));
    $("query-encoder").addEventListener("change", guard(() => this.client.updateSettings({ query_encoder: $<HTMLSelectElement>("query-encoder").value })));
    $("perf-save").addEventListener("click", guard(() => this.client.updateSettings({ threads: Number($<HTMLInputElement>("threads").value) || 0, workers: Number($<HTMLInputElement>("workers").value) || 0 })));
  }

  /** The models this library can search with, each with what it costs and what it holds. */
  private renderModels(settings: Settings): void {
    const act = (work: () => Promise<unknown>) => () => void this.settingsAction(work);
    $("settings-models").replaceChildren(
      ...settings.models.map((m) => {
        const d = this.status?.download;
        const switchState = d?.phase === "failed" ? `Switching to it: the download failed: ${d.error ?? "unknown error"}` : "Switching to it: embedding your photos in the background";
        const state = m.searching ? "In use" : m.switching_to ? switchState : `${formatCount(m.vectors)} photos embedded`;
        const buttons: HTMLElement[] = [];
        const switching = settings.models.some((o) => o.switching_to);
        if (m.searching && switching) {
          buttons.push(el("button", { className: "small", textContent: "Stay with this model", ariaLabel: `Stay with ${m.name}`, onclick: act(() => this.client.updateSettings({ model: m.id })) }));
        }
        if (!m.searching && !m.switching_to && m.builtin) {
          buttons.push(el("button", { className: "small", textContent: "Use", ariaLabel: `Use ${m.name}`, onclick: act(() => this.client.updateSettings({ model: m.id })) }));
        }
        if (!m.searching && !m.switching_to && m.vectors > 0) {
          buttons.push(el("button", { className: "small", textContent: "Remove its vectors", ariaLabel: `Remove the vectors of ${m.name}`, onclick: act(() => this.client.removeModelVectors(m.id)) }));
        }
        return el(
          "li",
          { className: m.searching ? "model current" : "model" },
          el("div", {}, el("strong", { textContent: m.name }), el("span", { className: "muted", textContent: ` · ${state}` }), el("p", { className: "muted", textContent: `${m.description}${m.license ? ` · Licence: ${m.license}` : ""}` })),
          ...buttons,
        );
      }),
    );
    const queries = $<HTMLSelectElement>("query-encoder");
    queries.replaceChildren(el("option", { value: "", textContent: "The model's own (English)" }), ...settings.query_encoders.map((q) => el("option", { value: q.id, textContent: q.name, title: q.description })));
    queries.value = settings.query_encoder ?? "";
    $("query-encoder-row").hidden = settings.query_encoders.length === 0;
    const chosen = settings.query_encoders.find((q) => q.id === settings.query_encoder);
    $("query-encoder-about").textContent = chosen ? `${chosen.description}${chosen.license ? ` Licence: ${chosen.license}.` : ""}` : "";
  }

  /** Runs a change made in the settings, then shows them again (or why it failed). */
  private async settingsAction(work: () => Promise<unknown>): Promise<void> {
    $("settings-error").textContent = "";
    try {
      await work();
      await this.refreshSettings();
    } catch (error) {
      $("settings-error").textContent = (error as Error).message ?? String(error);
    }
  }

  private async openSettings(focus?: string): Promise<void> {
    const dialog = $<HTMLDialogElement>("settings");
    if (!dialog.open) dialog.showModal();
    await this.refreshSettings();
    if (focus) $(focus).focus();
  }

  private async refreshSettings(): Promise<void> {
    try {
      const [settings, folders] = await Promise.all([this.client.settings(), this.client.folders()]);
      $("settings-folders").replaceChildren(
        ...(folders.length
          ? folders.map((f) =>
              el("li", {}, el("span", { className: "mono", textContent: f.path + (f.offline ? " (offline)" : "") }), el("button", {
                className: "small",
                textContent: "Remove",
                ariaLabel: `Remove ${f.path}`,
                onclick: () => void this.client.removeFolder(f.path).then(() => this.refreshSettings(), (e) => ($("settings-error").textContent = e.message)),
              })),
            )
          : [el("li", { className: "muted", textContent: "No folders yet." })]),
      );
      $<HTMLTextAreaElement>("excludes").value = settings.excludes.join("\n");
      $("builtin-excludes").textContent = `Always skipped: hidden files and folders, ${settings.builtin_excludes.join(", ")}.`;
      const m = this.status?.model;
      $("settings-model").textContent = m ? `${m.name} (${m.precision}) in ${m.dir}${m.problem ? ` — ${m.problem}` : ""}` : "";
      $("settings-model-about").textContent = m ? `${m.description}${m.license ? ` Licence: ${m.license}.` : ""}` : "";
      $<HTMLInputElement>("model-dir").value = settings.model_dir ?? "";
      this.renderModels(settings);
      $("settings-provider").textContent = `Runs on: ${settings.provider ?? "unknown (ONNX Runtime not loaded)"}`;
      $<HTMLInputElement>("threads").value = String(settings.threads);
      $<HTMLInputElement>("workers").value = String(settings.workers);
      $("settings-library").textContent = settings.library;
      $("folder-path").hidden = !!this.client.transport.pickFolder;
      $("folder-add").textContent = this.client.transport.pickFolder ? "Add folder…" : "Add folder";
    } catch (error) {
      $("settings-error").textContent = (error as Error).message ?? String(error);
    }
  }
}

declare global {
  interface Window {
    photoSearch?: { dropPaths(paths: string[]): Promise<void> };
  }
}

void makeTransport().then((transport) => {
  const app = new App(new Client(transport));
  // The desktop drop handler's own entry point, for automation that cannot drag real files.
  window.photoSearch = { dropPaths: (paths) => app.dropPaths(paths) };
});
