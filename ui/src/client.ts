// One typed client for the UI, over two transports: Tauri IPC in the desktop app, HTTP against
// `photo-search serve` in a browser. Request and response types come from bindings.ts, which is
// generated from the Rust types.

import type { ApiError, AppStatus, Hit, Operation, Operations, PhotoDetails, SearchRequest, SettingsUpdate, UploadedImage, UploadLabel } from "./bindings";
import { ROUTES, STATUS_EVENT } from "./bindings";

export type { Operation, Operations } from "./bindings";

/** The path of an operation's route with its `{field}`s filled from the request. */
export function routePath(operation: Operation, request: unknown): string {
  return ROUTES[operation].path.replace(/\{(\w+)\}/g, (_, field: string) => {
    const value = request && typeof request === "object" ? (request as Record<string, unknown>)[field] : undefined;
    if (value === undefined || value === null) throw new ClientError("bad_request", `${operation} needs ${field}`);
    return encodeURIComponent(String(value));
  });
}

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
  call<O extends Operation>(operation: O, request: Operations[O][0]): Promise<Operations[O][1]>;
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

export function asClientError(error: unknown): ClientError {
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

  private async call<O extends Operation>(operation: O, request: Operations[O][0]): Promise<Operations[O][1]> {
    try {
      return await this.transport.call(operation, request);
    } catch (error) {
      throw asClientError(error);
    }
  }

  status() {
    return this.call("status", null);
  }
  search(request: SearchRequest) {
    return this.call("search", request);
  }
  /** What is typed in the search box, as terms: the grammar is the core's, for every shell. */
  parseQuery(text: string) {
    return this.call("parse_query", { text });
  }
  photo(id: number) {
    return this.call("photo", { id });
  }
  failures() {
    return this.call("failures", null);
  }
  folders() {
    return this.call("folders", null);
  }
  addFolder(path: string) {
    return this.call("add_folder", { path });
  }
  removeFolder(path: string) {
    return this.call("remove_folder", { path });
  }
  rescan() {
    return this.call("rescan", null);
  }
  pause() {
    return this.call("pause", null);
  }
  resume() {
    return this.call("resume", null);
  }
  settings() {
    return this.call("settings", null);
  }
  updateSettings(update: Partial<SettingsUpdate>) {
    const full: SettingsUpdate = {
      excludes: null,
      saved_searches: null,
      model: null,
      query_encoder: null,
      model_dir: null,
      threads: null,
      workers: null,
      ...update,
    };
    return this.call("update_settings", full);
  }
  removeModelVectors(id: string) {
    return this.call("remove_model_vectors", { id });
  }
  exportPhotos(ids: number[], folder: string) {
    return this.call("export_photos", { ids, folder });
  }
  duplicates(similar: string | null) {
    return this.call("duplicates", { similar });
  }
  fetchModel() {
    return this.call("fetch_model", null);
  }
  cancelFetch() {
    return this.call("cancel_fetch", null);
  }
  installGpuRuntime() {
    return this.call("install_gpu_runtime", null);
  }
  cancelGpuInstall() {
    return this.call("cancel_gpu_install", null);
  }

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

  thumbnailUrl(hit: Pick<Hit, "id" | "thumbnail">) {
    return this.transport.thumbnailUrl(hit);
  }
  originalUrl(photo: Pick<PhotoDetails, "id" | "path">) {
    return this.transport.originalUrl(photo);
  }
  subscribe(onStatus: (status: AppStatus) => void) {
    return this.transport.subscribe(onStatus);
  }
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

  call<O extends Operation>(operation: O, request: Operations[O][0]): Promise<Operations[O][1]> {
    const { method } = ROUTES[operation];
    const body = method === "POST" && request !== null ? JSON.stringify(request) : undefined;
    return this.send(method, routePath(operation, request), body, body === undefined ? undefined : "application/json");
  }

  uploadImage(image: Blob, label: string): Promise<UploadedImage> {
    const type = image.type.startsWith("image/") ? image.type : "application/octet-stream";
    const query: UploadLabel = { label };
    return this.send("POST", `/api/images?${new URLSearchParams(query)}`, image, type);
  }

  thumbnailUrl(hit: Pick<Hit, "id">): string {
    return this.withToken(`${this.base}/api/photos/${hit.id}/thumbnail`);
  }

  originalUrl(photo: Pick<PhotoDetails, "id">): string {
    return this.withToken(`${this.base}/api/photos/${photo.id}/original`);
  }

  subscribe(onStatus: (status: AppStatus) => void): () => void {
    const source = new EventSource(this.withToken(`${this.base}/api/events`));
    source.addEventListener(STATUS_EVENT, (event) => onStatus(JSON.parse((event as MessageEvent).data)));
    return () => source.close();
  }
}
