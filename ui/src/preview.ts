// The preview: one photo large, its facts, the neighbours with the arrow keys, and what can be
// done with it (find similar, open, show in the file manager).

import type { PhotoDetails } from "./bindings";
import { $, el } from "./dom";
import { fileName, formatBytes, formatDate } from "./format";
import type { Context } from "./state";

/** Formats a browser cannot show: the preview keeps the thumbnail for these. */
const NOT_IN_BROWSERS = ["heic", "tiff"];

export class Preview {
  private index = -1;
  private details: PhotoDetails | null = null;
  private readonly dialog = $<HTMLDialogElement>("preview");

  constructor(private readonly ctx: Context) {
    const { client, grid, actions } = ctx;
    const dialog = this.dialog;
    $("preview-close").addEventListener("click", () => dialog.close());
    $("preview-prev").addEventListener("click", () => void this.open(this.index - 1));
    $("preview-next").addEventListener("click", () => void this.open(this.index + 1));
    dialog.addEventListener("keydown", (e) => {
      if (e.key === "ArrowLeft") void this.open(this.index - 1);
      else if (e.key === "ArrowRight") void this.open(this.index + 1);
    });
    dialog.addEventListener("close", () => {
      if (this.index >= 0) grid.select(this.index);
    });
    $("preview-similar").addEventListener("click", () => {
      const d = this.details;
      if (!d) return;
      dialog.close();
      actions.searchSimilar({ kind: "photo", id: d.id, label: fileName(d.path), weight: 1 });
    });
    const transport = client.transport;
    $("preview-open").addEventListener("click", () => {
      const d = this.details;
      if (!d) return;
      if (transport.openPhoto) void transport.openPhoto(d.id);
      else window.open(client.originalUrl(d), "_blank", "noopener");
    });
    $("preview-reveal").addEventListener("click", () => {
      const d = this.details;
      if (d && transport.revealPhoto) void transport.revealPhoto(d.id);
    });
    $("preview-reveal").hidden = !transport.revealPhoto;
    $("preview-open").textContent = transport.openPhoto ? "Open with default app" : "Open original";
  }

  async open(index: number): Promise<void> {
    const { client, grid } = this.ctx;
    const items = grid.items;
    if (index < 0 || index >= items.length) return;
    this.index = index;
    const hit = items[index];
    const img = $<HTMLImageElement>("preview-img");
    img.src = client.thumbnailUrl(hit);
    img.alt = fileName(hit.path);
    $("preview-title").textContent = fileName(hit.path);
    $("preview-facts").replaceChildren();
    if (!this.dialog.open) this.dialog.showModal();
    $("preview-close").focus();
    try {
      const d = await client.photo(hit.id);
      if (this.index !== index) return;
      this.details = d;
      if (!NOT_IN_BROWSERS.includes(d.format ?? "")) {
        const full = new Image();
        full.onload = () => {
          if (this.index === index) img.src = full.src;
        };
        full.src = client.originalUrl(d);
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
}
