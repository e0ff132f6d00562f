// One typed client for the UI, over two transports: Tauri IPC in the desktop app, HTTP against
// `photo-search serve` in a browser. Request and response types come from bindings.ts, which is
// generated from the Rust types.

import type {
  ApiError,
  AppStatus,
  Failure,
  FolderInfo,
  Hit,
  PhotoDetails,
  SearchRequest,
  SearchResponse,
  DuplicateGroups,
  DuplicatesRequest,
  ExportRequest,
  Settings,
  SettingsUpdate,
  UploadedImage,
} from "./bindings";

/** Every call the UI makes, with its argument and result types. */
export interface Commands {
  status: [Record<string, never>, AppStatus];
  search: [{ request: SearchRequest }, SearchResponse];
  photo: [{ id: number }, PhotoDetails];
  failures: [Record<string, never>, Failure[]];
  folders: [Record<string, never>, FolderInfo[]];
  add_folder: [{ path: string }, FolderInfo[]];
  remove_folder: [{ path: string }, FolderInfo[]];
  rescan: [Record<string, never>, null];
  pause: [Record<string, never>, null];
  resume: [Record<string, never>, null];
  settings: [Record<string, never>, Settings];
  update_settings: [{ update: SettingsUpdate }, Settings];
  remove_model_vectors: [{ id: string }, Settings];
  export_photos: [{ request: ExportRequest }, null];
  duplicates: [{ request: DuplicatesRequest }, DuplicateGroups];
  fetch_model: [Record<string, never>, null];
  cancel_fetch: [Record<string, never>, null];
}
export type Command = keyof Commands;

/** How an HTTP request is made for each command. */
export const ROUTES: { [C in Command]: { method: "GET" | "POST"; path: (a: Commands[C][0]) => string; body?: (a: Commands[C][0]) => unknown } } = {
  status: { method: "GET", path: () => "/api/status" },
  search: { method: "POST", path: () => "/api/search", body: (a) => a.request },
  photo: { method: "GET", path: (a) => `/api/photos/${encodeURIComponent(String(a.id))}` },
  failures: { method: "GET", path: () => "/api/failures" },
  folders: { method: "GET", path: () => "/api/folders" },
  add_folder: { method: "POST", path: () => "/api/folders/add", body: (a) => ({ path: a.path }) },
  remove_folder: { method: "POST", path: () => "/api/folders/remove", body: (a) => ({ path: a.path }) },
  rescan: { method: "POST", path: () => "/api/rescan" },
  pause: { method: "POST", path: () => "/api/indexing/pause" },
  resume: { method: "POST", path: () => "/api/indexing/resume" },
  settings: { method: "GET", path: () => "/api/settings" },
  update_settings: { method: "POST", path: () => "/api/settings", body: (a) => a.update },
  remove_model_vectors: { method: "POST", path: () => "/api/models/remove-vectors", body: (a) => ({ id: a.id }) },
  export_photos: { method: "POST", path: () => "/api/export", body: (a) => a.request },
  duplicates: { method: "POST", path: () => "/api/duplicates", body: (a) => a.request },
  fetch_model: { method: "POST", path: () => "/api/model/fetch" },
  cancel_fetch: { method: "POST", path: () => "/api/model/cancel" },
};

/** A failed call, with the service's error kind (model_missing, not_found, ...). */
export class ClientError extends Error {
  constructor(
    readonly kind: ApiError["kind"] | "network",
    message: string,
  ) {
    super(message);
    this.name = "ClientError";
  }
}

/** What differs between the desktop app and a browser. */
export interface Transport {
  readonly desktop: boolean;
  call<C extends Command>(command: C, args: Commands[C][0]): Promise<Commands[C][1]>;
  uploadImage(image: Blob, label: string): Promise<UploadedImage>;
  /** The desktop app's drop events give file paths. */
  imageFromPath?(path: string): Promise<UploadedImage>;
  thumbnailUrl(hit: Pick<Hit, "id" | "thumbnail">): string;
  originalUrl(photo: Pick<PhotoDetails, "id" | "path">): string;
  /** Status snapshots as they change; returns a function that stops them. */
  subscribe(onStatus: (status: AppStatus) => void): () => void;
  pickFolder?(): Promise<string | null>;
  /** Opens a photo with the system's default app (desktop only). */
  openPhoto?(id: number): Promise<void>;
  /** Shows a photo in the file manager (desktop only). */
  revealPhoto?(id: number): Promise<void>;
}

function asClientError(error: unknown): ClientError {
  if (error instanceof ClientError) return error;
  if (error && typeof error === "object" && "kind" in error && "message" in error) {
    const e = error as ApiError;
    return new ClientError(e.kind, e.message);
  }
  return new ClientError("internal", String(error));
}

/** The typed client the UI uses. */
export class Client {
  constructor(readonly transport: Transport) {}

  get desktop(): boolean {
    return this.transport.desktop;
  }

  private async call<C extends Command>(command: C, args: Commands[C][0]): Promise<Commands[C][1]> {
    try {
      return await this.transport.call(command, args);
    } catch (error) {
      throw asClientError(error);
    }
  }

  status() { return this.call("status", {}); }
  search(request: SearchRequest) { return this.call("search", { request }); }
  photo(id: number) { return this.call("photo", { id }); }
  failures() { return this.call("failures", {}); }
  folders() { return this.call("folders", {}); }
  addFolder(path: string) { return this.call("add_folder", { path }); }
  removeFolder(path: string) { return this.call("remove_folder", { path }); }
  rescan() { return this.call("rescan", {}); }
  pause() { return this.call("pause", {}); }
  resume() { return this.call("resume", {}); }
  settings() { return this.call("settings", {}); }
  updateSettings(update: Partial<SettingsUpdate>) {
    const full: SettingsUpdate = { excludes: null, saved_searches: null, model: null, query_encoder: null, model_dir: null, threads: null, workers: null, ...update };
    return this.call("update_settings", { update: full });
  }
  removeModelVectors(id: string) { return this.call("remove_model_vectors", { id }); }
  exportPhotos(ids: number[], folder: string) { return this.call("export_photos", { request: { ids, folder } }); }
  duplicates(similar: string | null) { return this.call("duplicates", { request: { similar } }); }
  fetchModel() { return this.call("fetch_model", {}); }
  cancelFetch() { return this.call("cancel_fetch", {}); }

  async uploadImage(image: Blob, label: string): Promise<UploadedImage> {
    try {
      return await this.transport.uploadImage(image, label);
    } catch (error) {
      throw asClientError(error);
    }
  }

  async imageFromPath(path: string): Promise<UploadedImage> {
    if (!this.transport.imageFromPath) throw new ClientError("bad_request", "paths can only be dropped in the desktop app");
    try {
      return await this.transport.imageFromPath(path);
    } catch (error) {
      throw asClientError(error);
    }
  }

  thumbnailUrl(hit: Pick<Hit, "id" | "thumbnail">) { return this.transport.thumbnailUrl(hit); }
  originalUrl(photo: Pick<PhotoDetails, "id" | "path">) { return this.transport.originalUrl(photo); }
  subscribe(onStatus: (status: AppStatus) => void) { return this.transport.subscribe(onStatus); }
}

/** The browser transport: JSON over HTTP, server-sent events, photos by id. */
export class HttpTransport implements Transport {
  readonly desktop = false;

  constructor(
    private readonly base: string = "",
    private readonly token: string | null = null,
    private readonly fetchImpl: typeof fetch = (...a) => fetch(...a),
  ) {}

  private withToken(url: string): string {
    if (!this.token) return url;
    return `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(this.token)}`;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.token ? { ...extra, Authorization: `Bearer ${this.token}` } : extra;
  }

  private async send<T>(method: string, path: string, body: BodyInit | undefined, contentType?: string): Promise<T> {
    let response: Response;
    try {
      response = await this.fetchImpl(this.base + path, {
        method,
        headers: this.headers(contentType ? { "Content-Type": contentType } : {}),
        body,
      });
    } catch (error) {
      throw new ClientError("network", `The Photo Search server cannot be reached (${String(error)})`);
    }
    const text = await response.text();
    const value = text ? JSON.parse(text) : null;
    if (!response.ok) {
      if (value && typeof value === "object" && "kind" in value) throw new ClientError(value.kind, value.message);
      throw new ClientError("internal", `HTTP ${response.status}`);
    }
    return value as T;
  }

  call<C extends Command>(command: C, args: Commands[C][0]): Promise<Commands[C][1]> {
    const route = ROUTES[command] as { method: string; path: (a: unknown) => string; body?: (a: unknown) => unknown };
    const body = route.method === "POST" ? JSON.stringify(route.body ? route.body(args) : {}) : undefined;
    return this.send(route.method, route.path(args), body, body === undefined ? undefined : "application/json");
  }

  uploadImage(image: Blob, label: string): Promise<UploadedImage> {
    const type = image.type.startsWith("image/") ? image.type : "application/octet-stream";
    return this.send("POST", `/api/images?label=${encodeURIComponent(label)}`, image, type);
  }

  thumbnailUrl(hit: Pick<Hit, "id">): string {
    return this.withToken(`${this.base}/api/photos/${hit.id}/thumbnail`);
  }

  originalUrl(photo: Pick<PhotoDetails, "id">): string {
    return this.withToken(`${this.base}/api/photos/${photo.id}/original`);
  }

  subscribe(onStatus: (status: AppStatus) => void): () => void {
    const source = new EventSource(this.withToken(`${this.base}/api/events`));
    source.addEventListener("status", (event) => onStatus(JSON.parse((event as MessageEvent).data)));
    return () => source.close();
  }
}
