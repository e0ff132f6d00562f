// The Photo Search window, put together: the query bar, the results in a virtualized grid, the
// preview, the status bar, the settings and the views that act on picked photos, all over one
// `State`. The same code runs in the desktop app (Tauri IPC) and in a browser against
// `photo-search serve` (HTTP).

import type { AppStatus } from "./bindings";
import { Client, HttpTransport, type Transport } from "./client";
import { $ } from "./dom";
import { Grid } from "./grid";
import { DuplicatesDialog, SelectionBar } from "./picks";
import { Preview } from "./preview";
import { QueryBar } from "./query-bar";
import { Results } from "./results";
import { SettingsDialog } from "./settings";
import { type Actions, type Context, State } from "./state";
import { StatusBar } from "./status-bar";

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

class App {
  readonly query: QueryBar;
  private readonly results: Results;
  private readonly statusBar: StatusBar;
  /** The library's revision the results were searched at: a change searches again. */
  private revision = -1;

  constructor(client: Client) {
    const state = new State();
    // The parts are made below; the grid's and the actions' callbacks run only after that.
    const actions: Actions = {
      runSearch: (keepScroll) => {
        this.query.cancelScheduled();
        return this.results.run(keepScroll);
      },
      renderEmpty: (error) => this.statusBar.renderEmpty(error),
      searchSimilar: (chip) => this.query.replaceWith(chip),
      openPreview: (index) => preview.open(index),
      openSettings: (focus) => settings.open(focus),
      addFolder: (path) => settings.addFolder(path),
      chooseModelFolder: () => settings.chooseModelFolder(),
    };
    const grid = new Grid($("grid"), $("grid-inner"), {
      thumbnailUrl: (hit) => client.thumbnailUrl(hit),
      onOpen: (index) => void preview.open(index),
      onNearEnd: () => void this.results.loadMore(),
      onPick: (ids) => selection.render(ids.size),
      onUnfold: (index) => this.results.unfold(index),
    });
    const ctx: Context = { client, state, grid, actions };
    this.query = new QueryBar(ctx);
    this.results = new Results(ctx, () => this.query.readTyped());
    this.statusBar = new StatusBar(ctx, () => this.query.hasQuery);
    const preview = new Preview(ctx);
    const settings = new SettingsDialog(ctx);
    const selection = new SelectionBar(ctx);
    new DuplicatesDialog(ctx);
    client.subscribe((status) => this.onStatus(state, status));
    this.statusBar.renderEmpty();
  }

  private onStatus(state: State, status: AppStatus): void {
    const first = state.status === null;
    state.status = status;
    this.statusBar.render(status);
    this.query.renderFilterChoices(status);
    if (status.revision !== this.revision) {
      const refresh = !first && this.revision !== -1;
      this.revision = status.revision;
      if (refresh) this.results.refresh();
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
  window.photoSearch = { dropPaths: (paths) => app.query.dropPaths(paths) };
});
