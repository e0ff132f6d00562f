//! The Photo Search desktop app: a window with the web UI (ui/dist) and thin commands over the
//! shared [`Service`]. At start it opens the library, resumes indexing and watching the user's
//! folders, and streams status events to the window. The webview reaches files only through
//! the asset protocol, scoped at run time to the thumbnail cache and the folders the user added.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::path::{Path, PathBuf};

use photo_search_core::EngineOptions;
use photo_search_core::library::{Access, LIBRARY_ENV, Library};
use photo_search_core::models::ModelChoice;
use photo_search_service::api::{self, ApiError, ErrorKind, FolderInfo, STATUS_EVENT, UploadedImage};
use photo_search_service::{Service, ServiceOptions};
use tauri::{AppHandle, Emitter, Manager, State};
use tauri_plugin_opener::OpenerExt;

type Reply<T> = Result<T, ApiError>;

/// Every operation of the contract (`api::OPERATIONS`) through one command: `op` names it and
/// `request` is its request.
#[tauri::command(async)]
fn rpc(service: State<'_, Service>, op: String, request: serde_json::Value) -> Reply<serde_json::Value> {
    api::call(&service, &op, request)
}

/// An image pasted or picked in the window: the raw bytes are the request body.
#[tauri::command(async)]
fn upload_image(service: State<'_, Service>, request: tauri::ipc::Request<'_>) -> Reply<UploadedImage> {
    let tauri::ipc::InvokeBody::Raw(bytes) = request.body() else {
        return Err(ApiError::bad_request("send the image bytes as the request body"));
    };
    let label = request.headers().get("x-label").and_then(|v| v.to_str().ok()).unwrap_or("image");
    // The window sends the label percent-encoded (a header is ASCII; a file name need not be).
    service.upload_image(bytes, &percent_encoding::percent_decode_str(label).decode_utf8_lossy())
}

/// A file dropped on the window (drop events give paths).
#[tauri::command(async)]
fn image_from_path(service: State<'_, Service>, path: String) -> Reply<UploadedImage> {
    service.image_from_path(Path::new(&path))
}

#[tauri::command(async)]
fn open_photo(app: AppHandle, service: State<'_, Service>, id: i64) -> Reply<()> {
    let (path, _) = service.original_file(id)?;
    app.opener()
        .open_path(path.display().to_string(), None::<&str>)
        .map_err(|e| ApiError::new(ErrorKind::Internal, format!("cannot open {}: {e}", path.display())))
}

#[tauri::command(async)]
fn reveal_photo(app: AppHandle, service: State<'_, Service>, id: i64) -> Reply<()> {
    let (path, _) = service.original_file(id)?;
    app.opener()
        .reveal_item_in_dir(&path)
        .map_err(|e| ApiError::new(ErrorKind::Internal, format!("cannot show {}: {e}", path.display())))
}

/// The webview may load thumbnails and the originals of added folders, nothing else.
fn allow_folders(app: &AppHandle, folders: &[FolderInfo]) {
    let scope = app.asset_protocol_scope();
    for folder in folders {
        if let Err(err) = scope.allow_directory(&folder.path, true) {
            tracing::warn!("cannot allow {} for previews: {err}", folder.path);
        }
    }
}

fn engine_options() -> Result<EngineOptions, String> {
    let library = match std::env::var_os(LIBRARY_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => Library::default_root().map_err(|e| e.to_string())?,
    };
    let model = std::env::var("PHOTO_SEARCH_MODEL").map(|m| ModelChoice::parse(&m)).unwrap_or_default();
    Ok(EngineOptions::new(library, model, Access::Write))
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PHOTO_SEARCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let options = match engine_options() {
        Ok(engine) => ServiceOptions { engine, background: true },
        Err(err) => {
            eprintln!("Photo Search cannot start: {err}");
            std::process::exit(1);
        }
    };
    let service = match Service::open(options) {
        Ok(service) => service,
        Err(err) => {
            eprintln!("Photo Search cannot open its library: {}", err.message);
            std::process::exit(1);
        }
    };
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        .manage(service.clone())
        .setup(|app| {
            let service = app.state::<Service>().inner().clone();
            let handle = app.handle().clone();
            if let Ok(thumbs) = service.thumbnails_dir()
                && let Err(err) = handle.asset_protocol_scope().allow_directory(&thumbs, true)
            {
                tracing::warn!("cannot allow the thumbnail folder: {err}");
            }
            // Status to the window (the current one at once); each folder (those there at start,
            // and any added later from the window, the CLI or a settings file) is opened to the
            // asset protocol when the status first lists it.
            let mut updates = service.subscribe();
            let mut allowed: Vec<String> = Vec::new();
            tauri::async_runtime::spawn(async move {
                loop {
                    let status = updates.borrow_and_update().clone();
                    if let Some(status) = status {
                        if status.folders.iter().any(|f| !allowed.contains(&f.path)) {
                            allow_folders(&handle, &status.folders);
                            allowed = status.folders.iter().map(|f| f.path.clone()).collect();
                        }
                        if handle.emit(STATUS_EVENT, &status).is_err() {
                            break;
                        }
                    }
                    if updates.changed().await.is_err() {
                        break;
                    }
                }
            });
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![rpc, upload_image, image_from_path, open_photo, reveal_photo,])
        .build(tauri::generate_context!());
    match app {
        Ok(app) => app.run(move |_, event| {
            if let tauri::RunEvent::Exit = event {
                service.close();
            }
        }),
        Err(err) => {
            eprintln!("Photo Search cannot open its window: {err}");
            service.close();
            std::process::exit(1);
        }
    }
}
