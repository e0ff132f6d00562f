// Acting on results: the picked photos (copy their paths, export them) and the duplicates view
// (exact copies and similar shots).

import type { DuplicateGroups } from "./bindings";
import { $, el } from "./dom";
import { fileName, formatCount } from "./format";
import type { Context } from "./state";

/** The bar shown while photos are picked: copy their paths, export them to a folder. */
export class SelectionBar {
  constructor(private readonly ctx: Context) {
    const { client, grid } = ctx;
    const say = (text: string) => ($("selection-message").textContent = text);
    $("selection-all").addEventListener("click", () => grid.pickAll());
    $("selection-clear").addEventListener("click", () => grid.clearPicks());
    $("selection-copy").addEventListener("click", () => {
      const picked = grid.pickedHits;
      navigator.clipboard.writeText(picked.map((h) => h.path).join("\n")).then(
        () => say(`Copied ${formatCount(picked.length)} paths.`),
        () => say("The clipboard is not available here."),
      );
    });
    const choose = $<HTMLButtonElement>("export-choose");
    choose.hidden = !client.transport.pickFolder;
    choose.addEventListener("click", () => {
      void client.transport.pickFolder?.().then((folder) => {
        if (folder) $<HTMLInputElement>("export-folder").value = folder;
      });
    });
    $("export-start").addEventListener("click", () => {
      const folder = $<HTMLInputElement>("export-folder").value.trim();
      const ids = this.ctx.grid.pickedHits.map((h) => h.id);
      if (!folder) return say("Type or choose the folder to export to.");
      say("");
      client.exportPhotos(ids, folder).catch((e: Error) => say(e.message));
    });
  }

  render(count: number): void {
    $("selection-bar").hidden = count === 0;
    $("selection-count").textContent = `${formatCount(count)} selected`;
  }
}

/** The duplicates dialog: groups of exact copies, or of similar shots at a chosen threshold. */
export class DuplicatesDialog {
  private groups: DuplicateGroups | null = null;
  private readonly kind = $<HTMLSelectElement>("duplicates-kind");

  constructor(private readonly ctx: Context) {
    const dialog = $<HTMLDialogElement>("duplicates");
    $("open-duplicates").addEventListener("click", () => {
      if (!dialog.open) dialog.showModal();
      void this.load();
    });
    $("duplicates-close").addEventListener("click", () => dialog.close());
    this.kind.addEventListener("change", () => void this.load());
    $("duplicates-copy").addEventListener("click", () => {
      const groups = this.shown();
      const text = groups.map((group) => group.map((p) => p.path).join("\n")).join("\n\n");
      navigator.clipboard.writeText(text).then(
        () => ($("duplicates-summary").textContent = `Copied ${formatCount(groups.length)} groups.`),
        () => ($("duplicates-summary").textContent = "The clipboard is not available here."),
      );
    });
  }

  /** The groups of the kind chosen. */
  private shown() {
    const g = this.groups;
    return g ? (this.kind.value ? g.similar : g.exact) : [];
  }

  private async load(): Promise<void> {
    const kind = this.kind.value;
    const what = kind ? "similar shots" : "exact copies";
    $("duplicates-summary").textContent = "Looking…";
    $("duplicates-list").replaceChildren();
    try {
      this.groups = await this.ctx.client.duplicates(kind || null);
      const groups = this.shown();
      $("duplicates-summary").textContent = groups.length
        ? `${formatCount(groups.length)} group${groups.length === 1 ? "" : "s"} of ${what}`
        : `No ${what} found.`;
      $("duplicates-list").replaceChildren(
        ...groups.map((group) =>
          el(
            "li",
            {},
            el(
              "div",
              { className: "group-thumbs" },
              ...group.map((p) => el("img", { src: this.ctx.client.thumbnailUrl({ id: p.id, thumbnail: p.thumbnail }), alt: fileName(p.path), title: p.path })),
            ),
            el("div", { className: "group-paths", textContent: group.map((p) => p.path).join("\n") }),
          ),
        ),
      );
    } catch (error) {
      $("duplicates-summary").textContent = (error as Error).message;
    }
  }
}
