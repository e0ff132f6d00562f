// Generated from crates/service/src/api.rs by `UPDATE_BINDINGS=1 cargo test -p photo-search-service --test bindings`.
// Do not edit: CI fails when this file differs from what the Rust types generate.

export type PhotoRef = { id: number, };

export type FolderPath = { path: string, };

export type ModelRef = { id: string, };

export type QueryTerm = { "kind": "text", text: string, weight: number, } | { "kind": "photo", id: number, weight: number, } | { "kind": "image", token: string, weight: number, };

export type QueryText = { text: string, };

export type Filters = { 
/**
 * Only photos under this folder.
 */
folder: string | null, 
/**
 * First day, `YYYY-MM-DD` (EXIF date taken, else the file time).
 */
from: string | null, 
/**
 * Last day, `YYYY-MM-DD`, inclusive.
 */
to: string | null, 
/**
 * Format names or extensions, any case (`jpeg`, `jpg`, `png`, `heic`, ...); `raw` stands
 * for every RAW format; empty: all.
 */
formats: Array<string>, 
/**
 * Taken in this town, region or country (see [`crate::api::AppStatus::places`]).
 */
place: string | null, };

export type SearchRequest = { terms: Array<QueryTerm>, filters: Filters, 
/**
 * Results in this page (at most 1,000).
 */
limit: number, 
/**
 * Results to skip: 0 for the first page, then the number of results already shown.
 */
offset: number, 
/**
 * Take the words as they are: no dates are understood in them.
 */
literal: boolean, 
/**
 * Fold similar shots (bursts, near-duplicates) into one result that carries the others in
 * `similar`.
 */
collapse: boolean, };

export type Hit = { id: number, path: string, score: number, 
/**
 * Unix seconds: EXIF date taken, else the file time.
 */
taken_at: number | null, 
/**
 * The thumbnail file, for the desktop app's asset protocol; `None` over HTTP, where
 * thumbnails are fetched by photo id.
 */
thumbnail: string | null, 
/**
 * With `collapse`: the similar shots this result stands for, best first (each with no
 * `similar` of its own).
 */
similar: Array<Hit>, };

export type SearchResponse = { hits: Array<Hit>, 
/**
 * The position of the first hit in the whole ranking (the request's offset).
 */
offset: number, 
/**
 * More results follow this page.
 */
more: boolean, 
/**
 * The strong matches are the first `strong` of the whole ranking (a per-query cut judged
 * against the query's scores over the library); `None` while every result so far is one.
 * Results after it are weaker: the app shows them on request ("show more").
 */
strong: number | null, 
/**
 * Even the best result does not stand out of the library: "no close matches; closest
 * results".
 */
weak: boolean, 
/**
 * What the query's words were understood as beyond their meaning ("March 2021"): dates
 * that became filters. The app shows them as chips; `literal` turns them off.
 */
understood: Array<string>, took_ms: number, };

export type UploadLabel = { label: string, };

export type UploadedImage = { token: string, 
/**
 * A short label for the query chip (the file name when known).
 */
label: string, };

export type PhotoDetails = { id: number, path: string, format: string | null, width: number | null, height: number | null, taken_at: number | null, camera: string | null, size_bytes: number, thumbnail: string | null, };

export type FolderInfo = { path: string, 
/**
 * The folder could not be read at the last scan (its photos are kept).
 */
offline: boolean, };

export type Counts = { total: number, indexed: number, failed: number, offline: number, };

export type ModelInfo = { id: string, name: string, 
/**
 * One line a person chooses by: what the model is good at and what it costs.
 */
description: string, 
/**
 * The weights' licence (SPDX), when the manifest states it.
 */
license: string | null, precision: string, dir: string, 
/**
 * `None` when the model is ready to use; otherwise what is wrong (missing, corrupt).
 */
problem: string | null, 
/**
 * The model can be downloaded (a known model with pinned files).
 */
downloadable: boolean, 
/**
 * Approximate download size in megabytes, when known.
 */
download_mb: number | null, };

export type ModelOption = { id: string, name: string, 
/**
 * One line a person chooses by.
 */
description: string, license: string | null, 
/**
 * Photos with a vector of this model in the library (switching to a model that covers the
 * library is instant; removing its vectors frees the space).
 */
vectors: number, 
/**
 * Searches use it.
 */
searching: boolean, 
/**
 * The library is switching to it (embedding the photos in the background).
 */
switching_to: boolean, 
/**
 * Built into the app (downloadable), not a model folder.
 */
builtin: boolean, };

export type PlaceCount = { name: string, photos: number, };

export type SavedSearch = { name: string, terms: Array<QueryTerm>, filters: Filters, };

export type DuplicatesRequest = { 
/**
 * "near-identical", "same-scene" or "related"; `None`: exact copies only.
 */
similar: string | null, };

export type DuplicateGroups = { exact: Array<Array<GroupPhoto>>, similar: Array<Array<GroupPhoto>>, };

export type GroupPhoto = { id: number, path: string, thumbnail: string | null, };

export type ExportPhase = "idle" | "running" | "done" | "failed";

export type ExportState = { phase: ExportPhase, folder: string | null, 
/**
 * Files handled so far, of `total`.
 */
done: number, total: number, copied: number, 
/**
 * Files that were in the folder already with the same bytes.
 */
already_there: number, 
/**
 * Files that could not be copied, with why.
 */
failed: Array<string>, };

export type ExportRequest = { ids: number[], 
/**
 * An absolute folder path (made if missing; no file there is overwritten).
 */
folder: string, };

export type QueryEncoderOption = { id: string, name: string, description: string, license: string | null, };

export type IndexPhase = "idle" | "scanning" | "indexing" | "watching" | "error";

export type IndexingState = { phase: IndexPhase, paused: boolean, done: number, queued: number, 
/**
 * Files per second in this run.
 */
rate: number, eta_s: number | null, current: string | null, message: string | null, };

export type DownloadPhase = "idle" | "running" | "done" | "failed" | "cancelled";

export type DownloadState = { phase: DownloadPhase, file: string | null, received: number, total: number | null, error: string | null, };

export type GpuInfo = { 
/**
 * The card's name, when an NVIDIA driver reports one.
 */
name: string | null, memory_mb: number | null, driver: string | null, 
/**
 * Why the GPU runtime cannot run on it (an old driver or card), with what to do.
 */
problem: string | null, 
/**
 * The GPU runtime is installed in the library.
 */
runtime_installed: boolean, 
/**
 * It was installed after this start: the next start uses it.
 */
restart_needed: boolean, 
/**
 * Offer the GPU runtime's download: a card that can run it, and none installed.
 */
offer: boolean, 
/**
 * What the download weighs (the system's own CUDA and cuDNN counted as present).
 */
download_mb: number | null, 
/**
 * The GPU memory the encoders may take.
 */
memory_limit_mb: number | null, 
/**
 * The model runs on the GPU now.
 */
runs_on_gpu: boolean, 
/**
 * The GPU memory this program holds now (while the model runs on the GPU).
 */
memory_used_mb: number | null, };

export type AppStatus = { library: string, photos: Counts, folders: Array<FolderInfo>, 
/**
 * The places photos were taken in (towns, regions, countries from their GPS position),
 * most photos first, at most 200: what the place filter offers.
 */
places: Array<PlaceCount>, model: ModelInfo, 
/**
 * The execution provider the encoders run on, or `None` when ONNX Runtime is missing.
 */
provider: string | null, 
/**
 * Why the GPU does not run the encoders (`CUDA: no CUDA-capable device is detected`),
 * when the runtime could use one but cannot here.
 */
gpu_problem: string | null, runtime_problem: string | null, 
/**
 * The model the library is switching to (its name), while the photos are embedded with
 * it; searches use `model` until it covers them.
 */
switching_to: string | null, indexing: IndexingState, download: DownloadState, gpu: GpuInfo, 
/**
 * The GPU runtime's download and install.
 */
gpu_install: DownloadState, export: ExportState, 
/**
 * Increases whenever the set of indexed photos changes, so results can be refreshed.
 */
revision: number, };

export type Failure = { path: string, reason: string, };

export type Settings = { 
/**
 * Searches kept in the sidebar, in order.
 */
saved_searches: Array<SavedSearch>, 
/**
 * The models this library can use: the built-in ones and any other it uses.
 */
models: Array<ModelOption>, 
/**
 * Other text encoders of the model searches use (queries in other languages).
 */
query_encoders: Array<QueryEncoderOption>, 
/**
 * The one queries go through; `None`: the model's own text tower.
 */
query_encoder: string | null, 
/**
 * Exclude patterns saved in the library (names with `*` and `?`).
 */
excludes: Array<string>, 
/**
 * Always excluded, besides hidden names.
 */
builtin_excludes: Array<string>, library: string, 
/**
 * A model folder on this computer used instead of the downloaded model.
 */
model_dir: string | null, 
/**
 * ONNX Runtime threads per encoder session; 0 chooses by the machine.
 */
threads: number, 
/**
 * Indexing workers; 0 chooses by the machine.
 */
workers: number, provider: string | null, };

export type SettingsUpdate = { excludes: Array<string> | null, 
/**
 * The whole list of saved searches (image terms cannot be kept: they live in memory only).
 */
saved_searches: Array<SavedSearch> | null, 
/**
 * A built-in model's id: searches move to it at once when its vectors cover the library,
 * else after it has embedded the photos in the background.
 */
model: string | null, 
/**
 * A query encoder of the model searches use; `""` goes back to the model's own.
 */
query_encoder: string | null, 
/**
 * `""` goes back to the downloaded model.
 */
model_dir: string | null, threads: number | null, workers: number | null, };

export type ErrorKind = "model_missing" | "model_invalid" | "runtime_missing" | "library_in_use" | "bad_request" | "not_found" | "offline" | "disk_full" | "unauthorized" | "internal";

export type ApiError = { kind: ErrorKind, message: string, };

/** Every operation: its request and response types. */
export interface Operations {
  /** Counts, model, indexing and download progress: what the status bar shows. */
  status: [null, AppStatus];
  /** One page of results. */
  search: [SearchRequest, SearchResponse];
  /** What is typed in the search box, as terms (the query grammar every shell shares). */
  parse_query: [QueryText, Array<QueryTerm>];
  /** What the preview shows about one photo. */
  photo: [PhotoRef, PhotoDetails];
  /** The files that could not be indexed, and why. */
  failures: [null, Array<Failure>];
  folders: [null, Array<FolderInfo>];
  /** Adds a folder to index and watch; answers the folders. */
  add_folder: [FolderPath, Array<FolderInfo>];
  /** Forgets a folder and its photos (the files stay); answers the folders. */
  remove_folder: [FolderPath, Array<FolderInfo>];
  /** Scans every folder again. */
  rescan: [null, null];
  pause: [null, null];
  resume: [null, null];
  settings: [null, Settings];
  update_settings: [SettingsUpdate, Settings];
  /** Frees the space of another model's vectors. */
  remove_model_vectors: [ModelRef, Settings];
  /** Copies photos into a folder in the background (progress in the status). */
  export_photos: [ExportRequest, null];
  /** Exact duplicates, or similar shots at a threshold. */
  duplicates: [DuplicatesRequest, DuplicateGroups];
  /** Downloads the model the library needs (progress in the status). */
  fetch_model: [null, null];
  cancel_fetch: [null, null];
  /** Downloads the GPU runtime (progress in the status), used from the next start. */
  install_gpu_runtime: [null, null];
  cancel_gpu_install: [null, null];
}

export type Operation = keyof Operations;

/** How each operation is reached over HTTP; `{field}` comes from the request. */
export const ROUTES: { [O in Operation]: { method: "GET" | "POST"; path: string } } = {
  status: { method: "GET", path: "/api/status" },
  search: { method: "POST", path: "/api/search" },
  parse_query: { method: "POST", path: "/api/query/parse" },
  photo: { method: "GET", path: "/api/photos/{id}" },
  failures: { method: "GET", path: "/api/failures" },
  folders: { method: "GET", path: "/api/folders" },
  add_folder: { method: "POST", path: "/api/folders/add" },
  remove_folder: { method: "POST", path: "/api/folders/remove" },
  rescan: { method: "POST", path: "/api/rescan" },
  pause: { method: "POST", path: "/api/indexing/pause" },
  resume: { method: "POST", path: "/api/indexing/resume" },
  settings: { method: "GET", path: "/api/settings" },
  update_settings: { method: "POST", path: "/api/settings" },
  remove_model_vectors: { method: "POST", path: "/api/models/remove-vectors" },
  export_photos: { method: "POST", path: "/api/export" },
  duplicates: { method: "POST", path: "/api/duplicates" },
  fetch_model: { method: "POST", path: "/api/model/fetch" },
  cancel_fetch: { method: "POST", path: "/api/model/cancel" },
  install_gpu_runtime: { method: "POST", path: "/api/gpu/install" },
  cancel_gpu_install: { method: "POST", path: "/api/gpu/cancel" },
};

/** The event status snapshots arrive as (Tauri event, server-sent event). */
export const STATUS_EVENT = "status";
