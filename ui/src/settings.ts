// The settings dialog: folders, excludes, models and the query encoder, the model folder, and
// the threads and workers indexing may use.

import type { AppStatus, Settings } from "./bindings";
import type { ClientError } from "./client";
import { $, el } from "./dom";
import { formatCount } from "./format";
import type { Context } from "./state";

export class SettingsDialog {
  private readonly dialog = $<HTMLDialogElement>("settings");

  constructor(private readonly ctx: Context) {
    const { client } = ctx;
    $("open-settings").addEventListener("click", () => void this.open());
    $("settings-close").addEventListener("click", () => this.dialog.close());
    $("folder-add").addEventListener("click", () => {
      const typed = $<HTMLInputElement>("folder-path");
      void this.addFolder(typed.value.trim() || undefined).then(() => (typed.value = ""));
    });
    $("folder-rescan").addEventListener("click", () => void client.rescan());
    const act = (work: () => Promise<unknown>) => () => void this.act(work);
    $("excludes-save").addEventListener(
      "click",
      act(() => client.updateSettings({ excludes: $<HTMLTextAreaElement>("excludes").value.split("\n") })),
    );
    $("model-dir-use").addEventListener(
      "click",
      act(() => client.updateSettings({ model_dir: $<HTMLInputElement>("model-dir").value.trim() })),
    );
    $("model-dir-reset").addEventListener(
      "click",
      act(() => client.updateSettings({ model_dir: "" })),
    );
    $("query-encoder").addEventListener(
      "change",
      act(() => client.updateSettings({ query_encoder: $<HTMLSelectElement>("query-encoder").value })),
    );
    $("perf-save").addEventListener(
      "click",
      act(() =>
        client.updateSettings({ threads: Number($<HTMLInputElement>("threads").value) || 0, workers: Number($<HTMLInputElement>("workers").value) || 0 }),
      ),
    );
  }

  private set error(message: string) {
    $("settings-error").textContent = message;
  }

  async open(focus?: string): Promise<void> {
    if (!this.dialog.open) this.dialog.showModal();
    await this.refresh();
    if (focus) $(focus).focus();
  }

  /** Adds a folder: the one given, else one picked (the native dialog on the desktop), else the
   * settings open at the typed path. */
  async addFolder(path?: string): Promise<void> {
    const { client, actions } = this.ctx;
    let chosen = path ?? null;
    if (!chosen && client.transport.pickFolder) chosen = await client.transport.pickFolder();
    if (!chosen) {
      await this.open("folder-path");
      return;
    }
    try {
      await client.addFolder(chosen);
      this.error = "";
    } catch (error) {
      this.error = String((error as Error).message ?? error);
      if (!this.dialog.open) actions.renderEmpty(error as ClientError);
    }
    await this.refresh();
  }

  /** Picks a model folder (the native dialog on the desktop, a typed path in a browser). */
  async chooseModelFolder(): Promise<void> {
    const { client } = this.ctx;
    const picked = client.transport.pickFolder ? await client.transport.pickFolder() : null;
    if (!picked) {
      await this.open("model-dir");
      return;
    }
    try {
      await client.updateSettings({ model_dir: picked });
    } catch (error) {
      await this.open("model-dir");
      this.error = (error as Error).message ?? String(error);
    }
  }

  /** Runs a change made in the settings, then shows them again (or why it failed). */
  private async act(work: () => Promise<unknown>): Promise<void> {
    this.error = "";
    try {
      await work();
      await this.refresh();
    } catch (error) {
      this.error = (error as Error).message ?? String(error);
    }
  }

  private async refresh(): Promise<void> {
    const { client, state } = this.ctx;
    try {
      const [settings, folders] = await Promise.all([client.settings(), client.folders()]);
      $("settings-folders").replaceChildren(
        ...(folders.length
          ? folders.map((f) =>
              el(
                "li",
                {},
                el("span", { className: "mono", textContent: f.path + (f.offline ? " (offline)" : "") }),
                el("button", {
                  className: "small",
                  textContent: "Remove",
                  ariaLabel: `Remove ${f.path}`,
                  onclick: () =>
                    void client.removeFolder(f.path).then(
                      () => this.refresh(),
                      (e) => (this.error = e.message),
                    ),
                }),
              ),
            )
          : [el("li", { className: "muted", textContent: "No folders yet." })]),
      );
      $<HTMLTextAreaElement>("excludes").value = settings.excludes.join("\n");
      $("builtin-excludes").textContent = `Always skipped: hidden files and folders, ${settings.builtin_excludes.join(", ")}.`;
      const m = state.status?.model;
      $("settings-model").textContent = m ? `${m.name} (${m.precision}) in ${m.dir}${m.problem ? ` — ${m.problem}` : ""}` : "";
      $("settings-model-about").textContent = m ? `${m.description}${m.license ? ` Licence: ${m.license}.` : ""}` : "";
      $<HTMLInputElement>("model-dir").value = settings.model_dir ?? "";
      this.renderModels(settings);
      $("settings-provider").textContent = runsOn(settings.provider, state.status);
      $<HTMLInputElement>("threads").value = String(settings.threads);
      $<HTMLInputElement>("workers").value = String(settings.workers);
      $("settings-library").textContent = settings.library;
      $("folder-path").hidden = !!client.transport.pickFolder;
      $("folder-add").textContent = client.transport.pickFolder ? "Add folder…" : "Add folder";
    } catch (error) {
      this.error = (error as Error).message ?? String(error);
    }
  }

  /** The models this library can search with, each with what it costs and what it holds. */
  private renderModels(settings: Settings): void {
    const { client, state } = this.ctx;
    const act = (work: () => Promise<unknown>) => () => void this.act(work);
    const switching = settings.models.some((o) => o.switching_to);
    $("settings-models").replaceChildren(
      ...settings.models.map((m) => {
        const d = state.status?.download;
        const switchState =
          d?.phase === "failed"
            ? `Switching to it: the download failed: ${d.error ?? "unknown error"}`
            : "Switching to it: embedding your photos in the background";
        const modelState = m.searching ? "In use" : m.switching_to ? switchState : `${formatCount(m.vectors)} photos embedded`;
        const buttons: HTMLElement[] = [];
        if (m.searching && switching) {
          buttons.push(
            el("button", {
              className: "small",
              textContent: "Stay with this model",
              ariaLabel: `Stay with ${m.name}`,
              onclick: act(() => client.updateSettings({ model: m.id })),
            }),
          );
        }
        if (!m.searching && !m.switching_to && m.builtin) {
          buttons.push(
            el("button", { className: "small", textContent: "Use", ariaLabel: `Use ${m.name}`, onclick: act(() => client.updateSettings({ model: m.id })) }),
          );
        }
        if (!m.searching && !m.switching_to && m.vectors > 0) {
          buttons.push(
            el("button", {
              className: "small",
              textContent: "Remove its vectors",
              ariaLabel: `Remove the vectors of ${m.name}`,
              onclick: act(() => client.removeModelVectors(m.id)),
            }),
          );
        }
        return el(
          "li",
          { className: m.searching ? "model current" : "model" },
          el(
            "div",
            {},
            el("strong", { textContent: m.name }),
            el("span", { className: "muted", textContent: ` · ${modelState}` }),
            el("p", { className: "muted", textContent: `${m.description}${m.license ? ` · Licence: ${m.license}` : ""}` }),
          ),
          ...buttons,
        );
      }),
    );
    const queries = $<HTMLSelectElement>("query-encoder");
    queries.replaceChildren(
      el("option", { value: "", textContent: "The model's own (English)" }),
      ...settings.query_encoders.map((q) => el("option", { value: q.id, textContent: q.name, title: q.description })),
    );
    queries.value = settings.query_encoder ?? "";
    $("query-encoder-row").hidden = settings.query_encoders.length === 0;
    const chosen = settings.query_encoders.find((q) => q.id === settings.query_encoder);
    $("query-encoder-about").textContent = chosen ? `${chosen.description}${chosen.license ? ` Licence: ${chosen.license}.` : ""}` : "";
  }
}

/** Where the model runs, the GPU the driver reports, the GPU runtime and the GPU memory it may take. */
export function runsOn(provider: string | null, status: AppStatus | null): string {
  const parts = [`Runs on: ${provider ?? "unknown (ONNX Runtime not loaded)"}${status?.gpu_problem ? ` (${status.gpu_problem})` : ""}.`];
  const gpu = status?.gpu;
  if (gpu?.name) {
    // In GiB, as cards are sold.
    const gib = (mb: number) => (mb * 1e6) / 2 ** 30;
    const memory = gpu.memory_mb ? `, ${gib(gpu.memory_mb).toFixed(0)} GB` : "";
    parts.push(`GPU: ${gpu.name}${memory}, driver ${gpu.driver ?? "unknown"}.`);
    if (gpu.problem) parts.push(gpu.problem);
    parts.push(gpu.runtime_installed ? "GPU runtime installed." : "GPU runtime not installed.");
    if (gpu.memory_limit_mb) parts.push(`May use ${gib(gpu.memory_limit_mb).toFixed(1)} GB of GPU memory.`);
    if (gpu.memory_used_mb) parts.push(`Using ${gib(gpu.memory_used_mb).toFixed(1)} GB now.`);
  }
  return parts.join(" ");
}
