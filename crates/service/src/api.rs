//! The contract between the user interface and the service, over Tauri IPC and HTTP alike: every
//! operation, declared once below (name, request, response, HTTP method and path, the service
//! call), and the types they exchange. The desktop app registers one `rpc` command and the server
//! one route per operation, both from [`OPERATIONS`] and [`call`]; `ui/src/bindings.ts` (the
//! types, `Operations` and `ROUTES`) is generated from here (`tests/bindings.rs`), and CI fails
//! when it is out of date.
//!
//! Not operations, because they differ by transport: image uploads (raw bytes), thumbnails and
//! originals (files by id over HTTP, the asset protocol in the app), the status stream
//! ([`STATUS_EVENT`]), and the desktop's own calls (open, reveal, a dropped file's path).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::contract::operations;

/// The event status snapshots are pushed as: a Tauri event in the app, a server-sent event over
/// HTTP.
pub const STATUS_EVENT: &str = "status";

operations! {
    /// Counts, model, indexing and download progress: what the status bar shows.
    status(()) -> AppStatus, Get "/api/status" => |s, ()| s.status();
    /// One page of results.
    search(SearchRequest) -> SearchResponse, Post "/api/search" => |s, r| s.search(&r);
    /// What is typed in the search box, as terms (the query grammar every shell shares).
    parse_query(QueryText) -> Vec<QueryTerm>, Post "/api/query/parse" => |s, r| s.parse_query(&r.text);
    /// What the preview shows about one photo.
    photo(PhotoRef) -> PhotoDetails, Get "/api/photos/{id}" => |s, r| s.photo(r.id);
    /// The files that could not be indexed, and why.
    failures(()) -> Vec<Failure>, Get "/api/failures" => |s, ()| s.failures();
    folders(()) -> Vec<FolderInfo>, Get "/api/folders" => |s, ()| s.folders();
    /// Adds a folder to index and watch; answers the folders.
    add_folder(FolderPath) -> Vec<FolderInfo>, Post "/api/folders/add" => |s, r| s.add_folder(&r.path);
    /// Forgets a folder and its photos (the files stay); answers the folders.
    remove_folder(FolderPath) -> Vec<FolderInfo>, Post "/api/folders/remove" => |s, r| s.remove_folder(&r.path);
    /// Scans every folder again.
    rescan(()) -> (), Post "/api/rescan" => |s, ()| { s.rescan(); Ok(()) };
    pause(()) -> (), Post "/api/indexing/pause" => |s, ()| { s.pause(); Ok(()) };
    resume(()) -> (), Post "/api/indexing/resume" => |s, ()| { s.resume(); Ok(()) };
    settings(()) -> Settings, Get "/api/settings" => |s, ()| s.settings();
    update_settings(SettingsUpdate) -> Settings, Post "/api/settings" => |s, r| s.update_settings(&r);
    /// Frees the space of another model's vectors.
    remove_model_vectors(ModelRef) -> Settings, Post "/api/models/remove-vectors" => |s, r| s.remove_model_vectors(&r.id);
    /// Copies photos into a folder in the background (progress in the status).
    export_photos(ExportRequest) -> (), Post "/api/export" => |s, r| s.export_photos(&r.ids, &r.folder);
    /// Exact duplicates, or similar shots at a threshold.
    duplicates(DuplicatesRequest) -> DuplicateGroups, Post "/api/duplicates" => |s, r| s.duplicates(&r);
    /// Downloads the model the library needs (progress in the status).
    fetch_model(()) -> (), Post "/api/model/fetch" => |s, ()| s.fetch_model();
    cancel_fetch(()) -> (), Post "/api/model/cancel" => |s, ()| { s.cancel_fetch(); Ok(()) };
    /// Downloads the GPU runtime (progress in the status), used from the next start.
    install_gpu_runtime(()) -> (), Post "/api/gpu/install" => |s, ()| s.install_gpu_runtime();
    cancel_gpu_install(()) -> (), Post "/api/gpu/cancel" => |s, ()| { s.cancel_gpu_install(); Ok(()) };
}

/// A photo of the library, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PhotoRef {
    #[ts(type = "number")]
    pub id: i64,
}

/// Typed query text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct QueryText {
    pub text: String,
}

/// An upload's query string (`POST /api/images?label=`, the image as the body): what the image
/// is called, its file name say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct UploadLabel {
    #[serde(default)]
    pub label: String,
}

/// A folder, by its path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct FolderPath {
    pub path: String,
}

/// A model, by its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ModelRef {
    pub id: String,
}

/// A search: weighted terms (text, library photos, uploaded or dropped images; negative weights
/// move away from a term), filters, and one page of results: `limit` results from `offset`.
/// Later pages of the same query continue the ranking the first page started (no repeats).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct SearchRequest {
    pub terms: Vec<QueryTerm>,
    #[serde(default)]
    pub filters: Filters,
    /// Results in this page (at most 1,000).
    pub limit: u32,
    /// Results to skip: 0 for the first page, then the number of results already shown.
    #[serde(default)]
    pub offset: u32,
    /// Take the words as they are: no dates are understood in them.
    #[serde(default)]
    pub literal: bool,
    /// Fold similar shots (bursts, near-duplicates) into one result that carries the others in
    /// `similar`.
    #[serde(default)]
    pub collapse: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QueryTerm {
    Text {
        text: String,
        weight: f32,
    },
    /// A photo of the library ("find similar").
    Photo {
        #[ts(type = "number")]
        id: i64,
        weight: f32,
    },
    /// An image given to the app (dropped, pasted, uploaded), by the token it was given back.
    Image {
        token: String,
        weight: f32,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct Filters {
    /// Only photos under this folder.
    pub folder: Option<String>,
    /// First day, `YYYY-MM-DD` (EXIF date taken, else the file time).
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD`, inclusive.
    pub to: Option<String>,
    /// Format names or extensions, any case (`jpeg`, `jpg`, `png`, `heic`, ...); `raw` stands
    /// for every RAW format; empty: all.
    #[serde(default)]
    pub formats: Vec<String>,
    /// Taken in this town, region or country (see [`crate::api::AppStatus::places`]).
    #[serde(default)]
    pub place: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct SearchResponse {
    pub hits: Vec<Hit>,
    /// The position of the first hit in the whole ranking (the request's offset).
    pub offset: u32,
    /// More results follow this page.
    pub more: bool,
    /// The strong matches are the first `strong` of the whole ranking (a per-query cut judged
    /// against the query's scores over the library); `None` while every result so far is one.
    /// Results after it are weaker: the app shows them on request ("show more").
    pub strong: Option<u32>,
    /// Even the best result does not stand out of the library: "no close matches; closest
    /// results".
    pub weak: bool,
    /// What the query's words were understood as beyond their meaning ("March 2021"): dates
    /// that became filters. The app shows them as chips; `literal` turns them off.
    pub understood: Vec<String>,
    pub took_ms: f64,
}

/// One result, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Hit {
    #[ts(type = "number")]
    pub id: i64,
    pub path: String,
    pub score: f32,
    /// Unix seconds: EXIF date taken, else the file time.
    #[ts(type = "number | null")]
    pub taken_at: Option<i64>,
    /// The thumbnail file, for the desktop app's asset protocol; `None` over HTTP, where
    /// thumbnails are fetched by photo id.
    pub thumbnail: Option<String>,
    /// With `collapse`: the similar shots this result stands for, best first (each with no
    /// `similar` of its own).
    #[serde(default)]
    pub similar: Vec<Hit>,
}

/// An image handed to the app, embedded once and then used in queries by its token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct UploadedImage {
    pub token: String,
    /// A short label for the query chip (the file name when known).
    pub label: String,
}

/// What the preview shows about a photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct PhotoDetails {
    #[ts(type = "number")]
    pub id: i64,
    pub path: String,
    pub format: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    #[ts(type = "number | null")]
    pub taken_at: Option<i64>,
    pub camera: Option<String>,
    #[ts(type = "number")]
    pub size_bytes: u64,
    pub thumbnail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct FolderInfo {
    pub path: String,
    /// The folder could not be read at the last scan (its photos are kept).
    pub offline: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct Counts {
    #[ts(type = "number")]
    pub total: u64,
    #[ts(type = "number")]
    pub indexed: u64,
    #[ts(type = "number")]
    pub failed: u64,
    #[ts(type = "number")]
    pub offline: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ModelInfo {
    pub id: String,
    pub name: String,
    /// One line a person chooses by: what the model is good at and what it costs.
    pub description: String,
    /// The weights' licence (SPDX), when the manifest states it.
    pub license: Option<String>,
    pub precision: String,
    pub dir: String,
    /// `None` when the model is ready to use; otherwise what is wrong (missing, corrupt).
    pub problem: Option<String>,
    /// The model can be downloaded (a known model with pinned files).
    pub downloadable: bool,
    /// Approximate download size in megabytes, when known.
    pub download_mb: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum IndexPhase {
    /// Not started (no folders, or no model).
    #[default]
    Idle,
    Scanning,
    Indexing,
    /// Everything is indexed; new and changed files are picked up as they appear.
    Watching,
    /// The background job stopped on an error (see `message`).
    Error,
}

/// The background indexer as the status bar shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct IndexingState {
    pub phase: IndexPhase,
    pub paused: bool,
    #[ts(type = "number")]
    pub done: u64,
    #[ts(type = "number")]
    pub queued: u64,
    /// Files per second in this run.
    pub rate: f64,
    #[ts(type = "number | null")]
    pub eta_s: Option<u64>,
    pub current: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum DownloadPhase {
    #[default]
    Idle,
    Running,
    Done,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct DownloadState {
    pub phase: DownloadPhase,
    pub file: Option<String>,
    #[ts(type = "number")]
    pub received: u64,
    #[ts(type = "number | null")]
    pub total: Option<u64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ExportPhase {
    #[default]
    Idle,
    Running,
    Done,
    /// Finished, but some files could not be copied (see `failed`).
    Failed,
}

/// The latest export of results into a folder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct ExportState {
    pub phase: ExportPhase,
    pub folder: Option<String>,
    /// Files handled so far, of `total`.
    pub done: u32,
    pub total: u32,
    pub copied: u32,
    /// Files that were in the folder already with the same bytes.
    pub already_there: u32,
    /// Files that could not be copied, with why.
    pub failed: Vec<String>,
}

/// Photos to copy into a folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ExportRequest {
    #[ts(type = "number[]")]
    pub ids: Vec<i64>,
    /// An absolute folder path (made if missing; no file there is overwritten).
    pub folder: String,
}

/// Everything the status bar, the first-run steps and the settings need; also the event the
/// service pushes (throttled) whenever something in it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct AppStatus {
    pub library: String,
    pub photos: Counts,
    pub folders: Vec<FolderInfo>,
    /// The places photos were taken in (towns, regions, countries from their GPS position),
    /// most photos first, at most 200: what the place filter offers.
    pub places: Vec<PlaceCount>,
    pub model: ModelInfo,
    /// The execution provider the encoders run on, or `None` when ONNX Runtime is missing.
    pub provider: Option<String>,
    /// Why the GPU does not run the encoders (`CUDA: no CUDA-capable device is detected`),
    /// when the runtime could use one but cannot here.
    pub gpu_problem: Option<String>,
    pub runtime_problem: Option<String>,
    /// The model the library is switching to (its name), while the photos are embedded with
    /// it; searches use `model` until it covers them.
    pub switching_to: Option<String>,
    pub indexing: IndexingState,
    pub download: DownloadState,
    pub gpu: GpuInfo,
    /// The GPU runtime's download and install.
    pub gpu_install: DownloadState,
    pub export: ExportState,
    /// Increases whenever the set of indexed photos changes, so results can be refreshed.
    #[ts(type = "number")]
    pub revision: u64,
}

/// The NVIDIA GPU the driver reports, and the GPU runtime.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct GpuInfo {
    /// The card's name, when an NVIDIA driver reports one.
    pub name: Option<String>,
    pub memory_mb: Option<u32>,
    pub driver: Option<String>,
    /// Why the GPU runtime cannot run on it (an old driver or card), with what to do.
    pub problem: Option<String>,
    /// The GPU runtime is installed in the library.
    pub runtime_installed: bool,
    /// It was installed after this start: the next start uses it.
    pub restart_needed: bool,
    /// Offer the GPU runtime's download: a card that can run it, and none installed.
    pub offer: bool,
    /// What the download weighs (the system's own CUDA and cuDNN counted as present).
    pub download_mb: Option<u32>,
    /// The GPU memory the encoders may take.
    pub memory_limit_mb: Option<u32>,
    /// The model runs on the GPU now.
    pub runs_on_gpu: bool,
    /// The GPU memory this program holds now (while the model runs on the GPU).
    pub memory_used_mb: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Failure {
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Settings {
    /// Searches kept in the sidebar, in order.
    pub saved_searches: Vec<SavedSearch>,
    /// The models this library can use: the built-in ones and any other it uses.
    pub models: Vec<ModelOption>,
    /// Other text encoders of the model searches use (queries in other languages).
    pub query_encoders: Vec<QueryEncoderOption>,
    /// The one queries go through; `None`: the model's own text tower.
    pub query_encoder: Option<String>,
    /// Exclude patterns saved in the library (names with `*` and `?`).
    pub excludes: Vec<String>,
    /// Always excluded, besides hidden names.
    pub builtin_excludes: Vec<String>,
    pub library: String,
    /// A model folder on this computer used instead of the downloaded model.
    pub model_dir: Option<String>,
    /// ONNX Runtime threads per encoder session; 0 chooses by the machine.
    pub threads: u32,
    /// Indexing workers; 0 chooses by the machine.
    pub workers: u32,
    pub provider: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct PlaceCount {
    pub name: String,
    #[ts(type = "number")]
    pub photos: u64,
}

/// Which duplicates to list: exact copies always; similar shots with a preset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct DuplicatesRequest {
    /// "near-identical", "same-scene" or "related"; `None`: exact copies only.
    pub similar: Option<String>,
}

/// Exact copies (the same bytes) and similar shots, apart; each group's photos by id and path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct DuplicateGroups {
    pub exact: Vec<Vec<GroupPhoto>>,
    pub similar: Vec<Vec<GroupPhoto>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct GroupPhoto {
    #[ts(type = "number")]
    pub id: i64,
    pub path: String,
    pub thumbnail: Option<String>,
}

/// A search kept in the library's sidebar: its terms (text and library photos) and filters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct SavedSearch {
    pub name: String,
    pub terms: Vec<QueryTerm>,
    #[serde(default)]
    pub filters: Filters,
}

/// A model the library can search with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ModelOption {
    pub id: String,
    pub name: String,
    /// One line a person chooses by.
    pub description: String,
    pub license: Option<String>,
    /// Photos with a vector of this model in the library (switching to a model that covers the
    /// library is instant; removing its vectors frees the space).
    #[ts(type = "number")]
    pub vectors: u64,
    /// Searches use it.
    pub searching: bool,
    /// The library is switching to it (embedding the photos in the background).
    pub switching_to: bool,
    /// Built into the app (downloadable), not a model folder.
    pub builtin: bool,
}

/// Another text encoder of a model, for queries (in other languages, say).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct QueryEncoderOption {
    pub id: String,
    pub name: String,
    pub description: String,
    pub license: Option<String>,
}

/// Changes to the settings; fields left out stay as they are. Model, threads and workers apply
/// by reopening the library (the background job restarts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct SettingsUpdate {
    pub excludes: Option<Vec<String>>,
    /// The whole list of saved searches (image terms cannot be kept: they live in memory only).
    pub saved_searches: Option<Vec<SavedSearch>>,
    /// A built-in model's id: searches move to it at once when its vectors cover the library,
    /// else after it has embedded the photos in the background.
    pub model: Option<String>,
    /// A query encoder of the model searches use; `""` goes back to the model's own.
    pub query_encoder: Option<String>,
    /// `""` goes back to the downloaded model.
    pub model_dir: Option<String>,
    pub threads: Option<u32>,
    pub workers: Option<u32>,
}

/// The core's kinds of failure, shared as they are.
pub use photo_search_core::ErrorKind;

/// Every failed request answers this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError { kind, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::NotFound, message)
    }
}

impl From<photo_search_core::Error> for ApiError {
    fn from(err: photo_search_core::Error) -> Self {
        let kind = err.kind();
        // The whole chain: the outer message alone often hides the cause ("cannot open ...").
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        ApiError { kind, message }
    }
}

/// The declarations of every type above, in dependency order, as `ui/src/bindings.ts` holds them.
pub fn typescript_bindings() -> String {
    let cfg = ts_rs::Config::default();
    let decls = [
        PhotoRef::decl(&cfg),
        FolderPath::decl(&cfg),
        ModelRef::decl(&cfg),
        QueryTerm::decl(&cfg),
        QueryText::decl(&cfg),
        Filters::decl(&cfg),
        SearchRequest::decl(&cfg),
        Hit::decl(&cfg),
        SearchResponse::decl(&cfg),
        UploadLabel::decl(&cfg),
        UploadedImage::decl(&cfg),
        PhotoDetails::decl(&cfg),
        FolderInfo::decl(&cfg),
        Counts::decl(&cfg),
        ModelInfo::decl(&cfg),
        ModelOption::decl(&cfg),
        PlaceCount::decl(&cfg),
        SavedSearch::decl(&cfg),
        DuplicatesRequest::decl(&cfg),
        DuplicateGroups::decl(&cfg),
        GroupPhoto::decl(&cfg),
        ExportPhase::decl(&cfg),
        ExportState::decl(&cfg),
        ExportRequest::decl(&cfg),
        QueryEncoderOption::decl(&cfg),
        IndexPhase::decl(&cfg),
        IndexingState::decl(&cfg),
        DownloadPhase::decl(&cfg),
        DownloadState::decl(&cfg),
        GpuInfo::decl(&cfg),
        AppStatus::decl(&cfg),
        Failure::decl(&cfg),
        Settings::decl(&cfg),
        SettingsUpdate::decl(&cfg),
        ErrorKind::decl(&cfg),
        ApiError::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from crates/service/src/api.rs by `UPDATE_BINDINGS=1 cargo test -p photo-search-service \
         --test bindings`.\n// Do not edit: CI fails when this file differs from what the Rust types generate.\n",
    );
    for decl in decls {
        out.push_str("\nexport ");
        out.push_str(&decl);
        out.push('\n');
    }
    out.push_str(&typescript_operations());
    out
}
