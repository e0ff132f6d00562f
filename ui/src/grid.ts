// A virtualized grid of thumbnails: only the rows in view (plus a margin) exist in the DOM, so
// 10,000 results scroll as smoothly as 10. Arrow keys move the selection; Enter opens it.

import type { Hit } from "./bindings";

export interface GridOptions {
  thumbnailUrl: (hit: Hit) => string;
  onOpen: (index: number) => void;
  /** The rows in view reach the last loaded results: time to load the next page. */
  onNearEnd?: () => void;
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
    const target = Number.parseInt(getComputedStyle(document.documentElement).getPropertyValue("--cell")) || 180;
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
      el.addEventListener("click", () => {
        this.select(index);
        this.options.onOpen(index);
      });
      this.inner.append(el);
      this.rendered.set(index, el);
    }
  }

  private onKey(e: KeyboardEvent): void {
    if (!this.hits.length) return;
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
    } else if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      this.options.onOpen(Math.max(this.selected, 0));
    }
  }
}
