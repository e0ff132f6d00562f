// A virtualized grid of thumbnails: only the rows in view (plus a margin) exist in the DOM, so
// 10,000 results scroll as smoothly as 10. Arrow keys move the selection; Enter opens it.

import type { Hit } from "./bindings";

export interface GridOptions {
  thumbnailUrl: (hit: Hit) => string;
  onOpen: (index: number) => void;
  /** The rows in view reach the last loaded results: time to load the next page. */
  onNearEnd?: () => void;
  /** The set of picked photos (Ctrl/Cmd-click, Shift-click, Ctrl+A) changed. */
  onPick?: (ids: ReadonlySet<number>) => void;
  /** The "+N" badge of a result standing for similar shots was clicked: show them. */
  onUnfold?: (index: number) => void;
}

const GAP = 8;
const OVERSCAN_ROWS = 3;

/** Which items are visible for a scroll position: pure, so it can be tested. */
export function visibleRange(count: number, columns: number, rowHeight: number, scrollTop: number, viewHeight: number) {
  const rows = Math.ceil(count / Math.max(1, columns));
  const first = Math.min(rows, Math.max(0, Math.floor(scrollTop / rowHeight) - OVERSCAN_ROWS));
  const last = Math.min(rows, Math.ceil((scrollTop + viewHeight) / rowHeight) + OVERSCAN_ROWS);
  return { start: first * columns, end: Math.min(count, last * columns), rows };
}

export class Grid {
  private hits: Hit[] = [];
  private selected = -1;
  private columns = 1;
  private cell = 180;
  private frame = 0;
  private readonly rendered = new Map<number, HTMLButtonElement>();
  /** Photos picked for acting on together, by id, and where a Shift-click range starts. */
  private readonly picked = new Set<number>();
  private anchor = -1;

  constructor(
    private readonly scroller: HTMLElement,
    private readonly inner: HTMLElement,
    private readonly options: GridOptions,
  ) {
    scroller.addEventListener("scroll", () => this.schedule());
    new ResizeObserver(() => this.layout()).observe(scroller);
    scroller.addEventListener("keydown", (e) => this.onKey(e));
  }

  get items(): readonly Hit[] {
    return this.hits;
  }

  get selection(): number {
    return this.selected;
  }

  /** The picked photos, in the order shown. */
  get pickedHits(): Hit[] {
    return this.hits.filter((h) => this.picked.has(h.id));
  }

  pickAll(): void {
    for (const hit of this.hits) this.picked.add(hit.id);
    this.pickChanged();
  }

  clearPicks(): void {
    if (!this.picked.size) return;
    this.picked.clear();
    this.pickChanged();
  }

  private toggle(index: number): void {
    const id = this.hits[index].id;
    if (!this.picked.delete(id)) this.picked.add(id);
    this.anchor = index;
    this.pickChanged();
  }

  private pickRange(index: number): void {
    const from = this.anchor >= 0 ? this.anchor : Math.max(this.selected, 0);
    for (let i = Math.min(from, index); i <= Math.max(from, index); i++) this.picked.add(this.hits[i].id);
    this.pickChanged();
  }

  private pickChanged(): void {
    for (const [index, el] of this.rendered) {
      const on = this.picked.has(this.hits[index].id);
      el.classList.toggle("picked", on);
      el.setAttribute("aria-selected", String(on));
    }
    this.options.onPick?.(this.picked);
  }

  /** Adds a page of results after the ones shown; the scroll position and selection stay. */
  append(hits: Hit[]): void {
    if (!hits.length) return;
    this.hits = this.hits.concat(hits);
    const rows = Math.ceil(this.hits.length / this.columns);
    this.inner.style.height = `${Math.max(0, rows * (this.cell + GAP) - GAP)}px`;
    this.render();
  }

  set(hits: Hit[], keepScroll = false): void {
    this.hits = hits;
    this.selected = hits.length ? Math.min(Math.max(this.selected, 0), hits.length - 1) : -1;
    for (const el of this.rendered.values()) el.remove();
    this.rendered.clear();
    if (!keepScroll) {
      this.scroller.scrollTop = 0;
      this.selected = hits.length ? 0 : -1;
      this.anchor = -1;
      if (this.picked.size) {
        this.picked.clear();
        this.options.onPick?.(this.picked);
      }
    }
    this.layout();
  }

  select(index: number, focus = true): void {
    if (index < 0 || index >= this.hits.length) return;
    this.rendered.get(this.selected)?.classList.remove("selected");
    this.selected = index;
    const row = Math.floor(index / this.columns);
    const top = row * (this.cell + GAP);
    if (top < this.scroller.scrollTop) this.scroller.scrollTop = top;
    else if (top + this.cell > this.scroller.scrollTop + this.scroller.clientHeight - 2 * GAP) {
      this.scroller.scrollTop = top + this.cell - this.scroller.clientHeight + 3 * GAP;
    }
    this.render();
    const el = this.rendered.get(index);
    el?.classList.add("selected");
    if (focus) el?.focus({ preventScroll: true });
  }

  private layout(): void {
    const width = this.scroller.clientWidth - 2 * GAP;
    const target = Number.parseInt(getComputedStyle(document.documentElement).getPropertyValue("--cell"), 10) || 180;
    this.columns = Math.max(1, Math.floor((width + GAP) / (target + GAP)));
    this.cell = Math.floor((width - (this.columns - 1) * GAP) / this.columns);
    const rows = Math.ceil(this.hits.length / this.columns);
    this.inner.style.height = `${Math.max(0, rows * (this.cell + GAP) - GAP)}px`;
    for (const el of this.rendered.values()) el.remove();
    this.rendered.clear();
    this.render();
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  private render(): void {
    const rowHeight = this.cell + GAP;
    const { start, end } = visibleRange(this.hits.length, this.columns, rowHeight, this.scroller.scrollTop, this.scroller.clientHeight);
    if (this.hits.length && end >= this.hits.length - this.columns * OVERSCAN_ROWS) this.options.onNearEnd?.();
    for (const [index, el] of this.rendered) {
      if (index < start || index >= end) {
        el.remove();
        this.rendered.delete(index);
      }
    }
    for (let index = start; index < end; index++) {
      if (this.rendered.has(index)) continue;
      const hit = this.hits[index];
      const el = document.createElement("button");
      el.className = index === this.selected ? "cell selected" : "cell";
      if (this.picked.has(hit.id)) el.classList.add("picked");
      el.setAttribute("role", "option");
      el.setAttribute("aria-selected", String(this.picked.has(hit.id)));
      el.draggable = true;
      el.addEventListener("dragstart", (e) => this.onDragStart(e, index));
      el.tabIndex = -1;
      el.dataset.index = String(index);
      el.dataset.id = String(hit.id);
      el.title = hit.path;
      el.style.width = `${this.cell}px`;
      el.style.height = `${this.cell}px`;
      el.style.transform = `translate(${(index % this.columns) * rowHeight}px, ${Math.floor(index / this.columns) * rowHeight}px)`;
      const img = document.createElement("img");
      img.loading = "lazy";
      img.decoding = "async";
      img.alt = hit.path.split(/[\\/]/).pop() ?? "";
      img.src = this.options.thumbnailUrl(hit);
      el.append(img);
      if (hit.similar.length) {
        const shots = `${hit.similar.length} similar shot${hit.similar.length === 1 ? "" : "s"}`;
        const badge = document.createElement("span");
        badge.className = "stack-count";
        badge.textContent = `+${hit.similar.length}`;
        badge.title = `${shots}: click (or press +) to show them`;
        el.title = `${hit.path}\nand ${shots}`;
        el.append(badge);
      }
      el.addEventListener("click", (e) => {
        if (e.target instanceof HTMLElement && e.target.classList.contains("stack-count")) {
          this.options.onUnfold?.(index);
          return;
        }
        // With photos picked, a click picks too; Ctrl/Cmd-click toggles, Shift-click picks a range.
        if (e.shiftKey) this.pickRange(index);
        else if (e.ctrlKey || e.metaKey || this.picked.size) this.toggle(index);
        else {
          this.select(index);
          this.options.onOpen(index);
          return;
        }
        this.select(index, false);
      });
      this.inner.append(el);
      this.rendered.set(index, el);
    }
  }

  /** Dragging a photo out of the window drags the picked ones (or this one) as files. */
  private onDragStart(e: DragEvent, index: number): void {
    const hit = this.hits[index];
    const hits = this.picked.has(hit.id) ? this.pickedHits : [hit];
    const urls = hits.map((h) => `file://${encodeURI(h.path.replace(/\\/g, "/"))}`);
    e.dataTransfer?.setData("text/uri-list", urls.join("\r\n"));
    e.dataTransfer?.setData("text/plain", hits.map((h) => h.path).join("\n"));
  }

  private onKey(e: KeyboardEvent): void {
    if (!this.hits.length) return;
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "a") {
      e.preventDefault();
      this.pickAll();
      return;
    }
    if (e.key === "Escape" && this.picked.size) {
      e.preventDefault();
      this.clearPicks();
      return;
    }
    const moves: Record<string, number> = {
      ArrowRight: 1,
      ArrowLeft: -1,
      ArrowDown: this.columns,
      ArrowUp: -this.columns,
      PageDown: this.columns * 4,
      PageUp: -this.columns * 4,
    };
    if (e.key in moves) {
      e.preventDefault();
      const next = Math.min(this.hits.length - 1, Math.max(0, Math.max(this.selected, 0) + moves[e.key]));
      this.select(next);
    } else if (e.key === "Home" || e.key === "End") {
      e.preventDefault();
      this.select(e.key === "Home" ? 0 : this.hits.length - 1);
    } else if (e.key === "+" && this.hits[this.selected]?.similar.length) {
      e.preventDefault();
      this.options.onUnfold?.(this.selected);
    } else if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      this.options.onOpen(Math.max(this.selected, 0));
    }
  }
}
