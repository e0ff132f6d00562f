// The status bar (indexing progress, pause, failures), the notice above the results (ONNX
// Runtime or the model missing, the model's download) and the empty state (first run, no
// results, errors).

import type { AppStatus } from "./bindings";
import { canSearch } from "./chips";
import type { ClientError } from "./client";
import { $, el, replaceIfChanged, setText } from "./dom";
import { formatCount, formatDuration } from "./format";
import type { Context } from "./state";
import { statusAnnouncement } from "./status";

export class StatusBar {
  /** What the status region last announced. */
  private announced = "";

  constructor(
    private readonly ctx: Context,
    /** Something is typed or chosen in the query bar. */
    private readonly hasQuery: () => boolean,
  ) {
    const { client } = ctx;
    $("pause").addEventListener("click", () => {
      const paused = ctx.state.status?.indexing.paused;
      void (paused ? client.resume() : client.pause());
    });
    $("failed").addEventListener("click", () => void this.openFailures());
    $("failures-close").addEventListener("click", () => $<HTMLDialogElement>("failures").close());
  }

  render(s: AppStatus): void {
    this.renderBar(s);
    this.renderNotice(s);
    this.renderEmpty();
  }

  private renderBar(s: AppStatus): void {
    const i = s.indexing;
    let text = barText(s);
    $("status-text").title = s.switching_to && s.download.phase === "failed" ? (s.download.error ?? "") : "";
    if (s.photos.offline) text += ` · ${formatCount(s.photos.offline)} offline`;
    const x = s.export;
    if (x.phase === "running") text = `Exporting ${formatCount(x.done)} / ${formatCount(x.total)} to ${x.folder ?? ""} · ${text}`;
    if (!$("selection-bar").hidden && x.phase !== "idle" && x.phase !== "running") {
      const failed = x.failed.length ? ` · ${x.failed.length} could not be copied: ${x.failed[0]}` : "";
      $("selection-message").textContent =
        `Exported ${formatCount(x.copied)} to ${x.folder ?? ""}${x.already_there ? ` (${formatCount(x.already_there)} already there)` : ""}${failed}`;
    }
    // The bar changes several times a second while indexing; a screen reader hears only the
    // changes that matter (a phase starting or ending, a pause, an error) through its own region.
    setText($("status-text"), text);
    const announcement = statusAnnouncement(s);
    if (announcement !== this.announced) {
      this.announced = announcement;
      $("status-announce").textContent = announcement;
    }
    const progress = $<HTMLProgressElement>("status-progress");
    progress.hidden = i.phase !== "indexing" || i.queued === 0;
    progress.max = Math.max(1, i.queued);
    progress.value = i.done;
    const pause = $<HTMLButtonElement>("pause");
    pause.hidden = !(["indexing", "scanning", "watching"].includes(i.phase) || i.paused);
    setText(pause, i.paused ? "Resume indexing" : "Pause indexing");
    const failed = $<HTMLButtonElement>("failed");
    failed.hidden = s.photos.failed === 0;
    setText(failed, `${formatCount(s.photos.failed)} could not be indexed`);
    const runsOn = s.gpu_problem ? `${s.provider} (${s.gpu_problem})` : s.provider;
    setText($("provider"), runsOn ? `${s.model.name} · ${runsOn}` : "");
  }

  private renderNotice(s: AppStatus): void {
    const { client, actions } = this.ctx;
    const notice = $("notice");
    const parts: Node[] = [];
    if (s.runtime_problem) {
      parts.push(
        el("h2", { textContent: "ONNX Runtime missing" }),
        el("p", { textContent: `${s.runtime_problem}. Run scripts/setup.sh, or put libonnxruntime beside the program.` }),
      );
    } else if (s.model.problem) {
      const d = s.download;
      const size = s.model.download_mb ? ` (about ${s.model.download_mb} MB)` : "";
      parts.push(el("h2", { textContent: "The search model is needed" }));
      if (d.phase === "running") {
        const pct = downloadPercent(d);
        const bar = el("progress", { max: d.total ?? 1, value: d.total ? d.received : 0 });
        parts.push(
          el("p", { textContent: `Downloading ${d.file ?? "the model"}${pct !== null ? ` · ${pct}%` : ""} · ${(d.received / 1e6).toFixed(1)} MB` }),
          bar,
          el("div", { className: "row" }, el("button", { id: "model-cancel", textContent: "Cancel", onclick: () => void client.cancelFetch() })),
        );
      } else {
        if (d.phase === "failed") parts.push(el("p", { className: "error", role: "alert", textContent: `The download failed: ${d.error ?? "unknown error"}` }));
        else if (d.phase === "cancelled") parts.push(el("p", { textContent: "Download cancelled; it resumes where it stopped." }));
        else parts.push(el("p", { textContent: `Photo Search finds photos with a CLIP model that runs on this computer. ${s.model.problem}` }));
        const row = el("div", { className: "row" });
        if (s.model.downloadable) {
          const label = d.phase === "failed" ? "Retry the download" : `Download the search model${size}`;
          row.append(
            el("button", {
              id: "model-download",
              className: "primary",
              textContent: label,
              onclick: () =>
                void client.fetchModel().then(
                  () => undefined,
                  (e) => actions.renderEmpty(e),
                ),
            }),
          );
        }
        row.append(el("button", { id: "model-folder", textContent: "Use a model folder on this computer", onclick: () => void actions.chooseModelFolder() }));
        parts.push(row);
        parts.push(el("p", { className: "muted", textContent: "You can add folders meanwhile; they are indexed once the model is there." }));
      }
    } else {
      parts.push(...this.gpuNotice(s));
    }
    notice.hidden = parts.length === 0;
    replaceIfChanged(notice, parts);
  }

  /** The offer to index on the user's NVIDIA GPU, its download's progress, and what to do after. */
  private gpuNotice(s: AppStatus): Node[] {
    const { client, actions } = this.ctx;
    const d = s.gpu_install;
    const name = s.gpu.name ?? "NVIDIA GPU";
    if (d.phase === "running") {
      const pct = downloadPercent(d);
      return [
        el("h2", { textContent: `Getting the GPU runtime for your ${name}` }),
        el("p", { textContent: `Downloading ${d.file ?? "the GPU runtime"}${pct !== null ? ` · ${pct}%` : ""} · ${(d.received / 1e6).toFixed(0)} MB` }),
        el("progress", { max: d.total ?? 1, value: d.total ? d.received : 0 }),
        el("div", { className: "row" }, el("button", { id: "gpu-cancel", textContent: "Cancel", onclick: () => void client.cancelGpuInstall() })),
      ];
    }
    if (d.phase === "done" || s.gpu.restart_needed) {
      return [el("p", { id: "gpu-restart", textContent: `The GPU runtime is installed: restart Photo Search to index with your ${name}.` })];
    }
    if (!s.gpu.offer) return [];
    const parts: Node[] = [el("h2", { textContent: `Index with your ${name}` })];
    if (d.phase === "failed") parts.push(el("p", { className: "error", role: "alert", textContent: `The download failed: ${d.error ?? "unknown error"}` }));
    else if (d.phase === "cancelled") parts.push(el("p", { textContent: "Download cancelled; it resumes where it stopped." }));
    else
      parts.push(
        el("p", {
          textContent:
            "Photos are indexed on the CPU now. The GPU runtime (ONNX Runtime for CUDA, with NVIDIA's CUDA and cuDNN libraries) indexes them many times faster.",
        }),
      );
    const size = s.gpu.download_mb ? `: download ${(s.gpu.download_mb / 1000).toFixed(1)} GB` : "";
    parts.push(
      el(
        "div",
        { className: "row" },
        el("button", {
          id: "gpu-download",
          className: "primary",
          textContent: d.phase === "failed" ? "Retry the download" : `Index with your ${name}${size}`,
          onclick: () =>
            void client.installGpuRuntime().then(
              () => undefined,
              (e) => actions.renderEmpty(e),
            ),
        }),
      ),
    );
    return parts;
  }

  renderEmpty(error?: ClientError): void {
    const { state, actions } = this.ctx;
    const empty = $("empty");
    const s = state.status;
    const parts: Node[] = [];
    if (error) {
      const hint =
        error.kind === "model_missing"
          ? "Download the search model above, or choose a model folder in Settings."
          : error.kind === "network"
            ? "Is `photo-search serve` still running?"
            : "";
      parts.push(
        el("h2", { textContent: "Something went wrong" }),
        el("p", { className: "error", role: "alert", textContent: error.message }),
        el("p", { textContent: hint }),
      );
    } else if (s && s.folders.length === 0) {
      parts.push(
        el("h2", { textContent: "No folders yet" }),
        el("p", {
          textContent: "Add the folders that hold your photos. They are indexed in the background and watched for new photos; nothing leaves this computer.",
        }),
        el(
          "div",
          { className: "row" },
          el("button", { id: "first-folder", className: "primary", textContent: "Add a photo folder…", onclick: () => void actions.addFolder() }),
        ),
      );
    } else if (!state.hits.length && !this.hasQuery()) {
      const count = s ? `${formatCount(s.photos.indexed)} photos` : "your photos";
      parts.push(
        el("h2", { textContent: "Search by meaning" }),
        el("p", {
          textContent: `Type what you are looking for (“kids on a beach at sunset”), drop or paste an image to find similar ones, or combine terms: “beach, not: people”. Searching ${count}.`,
        }),
      );
    } else if (!state.hits.length && canSearch(state.terms())) {
      parts.push(el("h2", { textContent: "No matching photos" }), el("p", { textContent: "Try other words, or clear the filters." }));
    }
    empty.hidden = parts.length === 0;
    replaceIfChanged(empty, parts);
  }

  private async openFailures(): Promise<void> {
    const list = $("failures-list");
    list.replaceChildren(el("li", { textContent: "Loading…" }));
    $<HTMLDialogElement>("failures").showModal();
    try {
      const failures = await this.ctx.client.failures();
      list.replaceChildren(
        ...failures.map((f) =>
          el("li", {}, el("span", { className: "mono", textContent: f.path }), el("span", { className: "reason", textContent: f.reason })),
        ),
      );
    } catch (error) {
      list.replaceChildren(el("li", { className: "error", textContent: String(error) }));
    }
  }
}

/** How much of the model's download has arrived, in whole percent; null while the size is unknown. */
function downloadPercent(d: AppStatus["download"]): number | null {
  return d.total ? Math.floor((100 * d.received) / d.total) : null;
}

/** What the status bar says about indexing and the model. */
function barText(s: AppStatus): string {
  const i = s.indexing;
  if (s.switching_to && i.phase !== "indexing") {
    // The model being switched to is still being downloaded, or cannot run yet.
    const d = s.download;
    const pct = downloadPercent(d);
    const why =
      d.phase === "running"
        ? `downloading${pct === null ? "" : ` ${pct}%`}`
        : d.phase === "failed"
          ? "the download failed (see Settings)"
          : (i.message ?? "waiting to start");
    return `Switching to ${s.switching_to}: ${why} · searching with ${s.model.name} until then`;
  }
  const folders = `${s.folders.length} folder${s.folders.length === 1 ? "" : "s"}`;
  switch (i.phase) {
    case "scanning":
      return "Looking for new and changed photos…";
    case "indexing": {
      const rate = i.rate > 0 ? ` · ${i.rate.toFixed(1)} photos/s` : "";
      const eta = i.eta_s !== null ? ` · about ${formatDuration(i.eta_s)} left` : "";
      const what = s.switching_to ? `Switching to ${s.switching_to}:` : "Indexing";
      const text = `${i.paused ? `Paused · ${what}` : what} ${formatCount(i.done)} / ${formatCount(i.queued)}${rate}${eta}`;
      return s.switching_to ? `${text} · searching with ${s.model.name} until then` : text;
    }
    case "watching":
      return i.paused
        ? `${formatCount(s.photos.indexed)} photos indexed · paused: new and changed photos wait`
        : `${formatCount(s.photos.indexed)} photos indexed · watching ${folders} for changes`;
    case "error":
      return `Indexing stopped: ${i.message ?? "unknown error"}`;
    default:
      return s.folders.length ? `${formatCount(s.photos.indexed)} photos indexed` : "No folders yet";
  }
}
