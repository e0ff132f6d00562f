//! `photo-search serve`: the app's UI for a browser, and a JSON API over the same [`Service`]
//! the desktop app uses. Photos are served by id only, never by path. Loopback by default (with
//! a Host check against DNS rebinding); any other address needs a token, printed at start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use photo_search_service::api::{ApiError, ErrorKind, SearchRequest, SettingsUpdate};
use photo_search_service::{MAX_UPLOAD_BYTES, Service, content_type};
use serde::Deserialize;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tower_http::services::{ServeDir, ServeFile};

/// How the server is reached.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub bind: SocketAddr,
    /// Required on every API request when set (always set for a non-loopback bind).
    pub token: Option<String>,
    /// The built UI (`ui/dist`).
    pub ui_dir: PathBuf,
}

impl ServeOptions {
    /// A bind to any address other than loopback requires a token: the given one, or a new
    /// random one (the caller prints it).
    pub fn new(bind: SocketAddr, token: Option<String>, ui_dir: PathBuf) -> Self {
        let token = token.filter(|t| !t.is_empty()).or_else(|| (!bind.ip().is_loopback()).then(random_token));
        ServeOptions { bind, token, ui_dir }
    }

    /// The address to open in a browser (with the token when one is needed).
    pub fn url(&self, bound: SocketAddr) -> String {
        let host = if bound.ip().is_unspecified() { "localhost".to_string() } else { bound.ip().to_string() };
        let host = if bound.is_ipv6() && host != "localhost" { format!("[{host}]") } else { host };
        match &self.token {
            Some(token) => format!("http://{host}:{}/?token={token}", bound.port()),
            None => format!("http://{host}:{}/", bound.port()),
        }
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 18];
    getrandom::fill(&mut bytes).expect("the system's random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone)]
struct AppState {
    service: Service,
    token: Option<Arc<str>>,
    loopback: bool,
}

/// Serves until `shutdown` completes.
pub async fn serve(
    service: Service,
    listener: tokio::net::TcpListener,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(service, &options);
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

pub fn router(service: Service, options: &ServeOptions) -> Router {
    let state =
        AppState { service, token: options.token.as_deref().map(Arc::from), loopback: options.bind.ip().is_loopback() };
    let api = Router::new()
        .route("/status", get(status))
        .route("/events", get(events))
        .route("/search", post(search))
        .route("/images", post(upload_image).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)))
        .route("/photos/{id}", get(photo))
        .route("/photos/{id}/thumbnail", get(thumbnail))
        .route("/photos/{id}/original", get(original))
        .route("/failures", get(failures))
        .route("/folders", get(folders))
        .route("/folders/add", post(add_folder))
        .route("/folders/remove", post(remove_folder))
        .route("/rescan", post(rescan))
        .route("/indexing/pause", post(pause))
        .route("/indexing/resume", post(resume))
        .route("/settings", get(settings).post(update_settings))
        .route("/model/fetch", post(fetch_model))
        .route("/models/remove-vectors", post(remove_model_vectors))
        .route("/export", post(export_photos))
        .route("/duplicates", post(duplicates))
        .route("/model/cancel", post(cancel_fetch))
        .fallback(|| async { ApiFailure(ApiError::not_found("no such API call")) })
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize))
        .with_state(state.clone());
    let index = options.ui_dir.join("index.html");
    let ui = ServeDir::new(&options.ui_dir).fallback(ServeFile::new(index));
    Router::new()
        .nest("/api", api)
        .fallback_service(ui)
        .layer(middleware::from_fn_with_state(state, check_host))
        .layer(middleware::map_response(security_headers))
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; connect-src 'self'",
        ),
    );
    response
}

/// On a loopback bind, only requests addressed to a loopback name are answered: a web page
/// elsewhere cannot rebind its own host name to 127.0.0.1 and read the API.
async fn check_host(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.loopback {
        let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        let name = host.rsplit_once(':').map_or(host, |(name, port)| if port.contains(']') { host } else { name });
        if !matches!(name, "localhost" | "127.0.0.1" | "[::1]") {
            return (StatusCode::MISDIRECTED_REQUEST, "this server answers to localhost only").into_response();
        }
    }
    next.run(request).await
}

/// The token, when required, comes as `Authorization: Bearer`, or as `?token=` where a header
/// cannot be set (image sources, the event stream).
async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(expected) = &state.token {
        let bearer = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "));
        let query = request.uri().query().and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("token=")));
        let given = bearer.or(query).unwrap_or("");
        if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            return ApiFailure(ApiError::new(ErrorKind::Unauthorized, "a valid token is required")).into_response();
        }
    }
    next.run(request).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

struct ApiFailure(ApiError);

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let status = match self.0.kind {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::LibraryInUse => StatusCode::CONFLICT,
            ErrorKind::Offline => StatusCode::BAD_GATEWAY,
            ErrorKind::ModelMissing | ErrorKind::ModelInvalid | ErrorKind::RuntimeMissing => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorKind::DiskFull => StatusCode::INSUFFICIENT_STORAGE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(self.0)).into_response()
    }
}

type ApiResult<T> = Result<Json<T>, ApiFailure>;

/// Runs blocking service work (SQLite, ONNX Runtime, files) off the async threads.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&Service) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiFailure> {
    let service = state.service.clone();
    tokio::task::spawn_blocking(move || work(&service))
        .await
        .map_err(|e| ApiFailure(ApiError::new(ErrorKind::Internal, e.to_string())))?
        .map_err(ApiFailure)
}

/// A call that only acts (pause, resume, ...): run off the async threads, answered with `null`.
async fn act(state: &AppState, action: fn(&Service)) -> ApiResult<()> {
    blocking(state, move |svc| {
        action(svc);
        Ok(())
    })
    .await
    .map(Json)
}

async fn status(State(s): State<AppState>) -> ApiResult<photo_search_service::api::AppStatus> {
    Ok(Json(blocking(&s, |svc| svc.status()).await?))
}

async fn events(
    State(s): State<AppState>,
) -> Sse<impl tokio_stream::Stream<Item = Result<Event, std::convert::Infallible>>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let service = s.service.clone();
    tokio::task::spawn_blocking(move || {
        let updates = service.subscribe();
        loop {
            match updates.recv_timeout(Duration::from_secs(5)) {
                Ok(status) => {
                    if tx.blocking_send(status).is_err() {
                        return;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) if tx.is_closed() => return,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
    });
    let stream = ReceiverStream::new(rx)
        .map(|status| Ok(Event::default().event("status").json_data(status).unwrap_or_else(|_| Event::default())));
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn search(
    State(s): State<AppState>,
    Json(request): Json<SearchRequest>,
) -> ApiResult<photo_search_service::api::SearchResponse> {
    Ok(Json(blocking(&s, move |svc| svc.search(&request).map(strip_paths)).await?))
}

/// Over HTTP, thumbnails are fetched by id: the files' locations stay on the server.
fn strip_paths(mut response: photo_search_service::api::SearchResponse) -> photo_search_service::api::SearchResponse {
    for hit in &mut response.hits {
        hit.thumbnail = None;
    }
    response
}

#[derive(Deserialize)]
struct UploadQuery {
    #[serde(default)]
    label: String,
}

/// The image is the body; an image content type is required (which also keeps other web pages
/// from posting here without a CORS preflight this server never grants).
async fn upload_image(
    State(s): State<AppState>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<photo_search_service::api::UploadedImage> {
    let kind = headers.get(header::CONTENT_TYPE).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !kind.starts_with("image/") && kind != "application/octet-stream" {
        return Err(ApiFailure(ApiError::bad_request("send the image as the body with an image/* content type")));
    }
    Ok(Json(blocking(&s, move |svc| svc.upload_image(&body, &query.label)).await?))
}

async fn photo(State(s): State<AppState>, Path(id): Path<i64>) -> ApiResult<photo_search_service::api::PhotoDetails> {
    let mut details = blocking(&s, move |svc| svc.photo(id)).await?;
    details.thumbnail = None;
    Ok(Json(details))
}

async fn thumbnail(State(s): State<AppState>, Path(id): Path<i64>) -> Result<Response, ApiFailure> {
    let path = blocking(&s, move |svc| svc.thumbnail_file(id)).await?;
    file_response(path, "image/jpeg", "private, max-age=86400").await
}

async fn original(State(s): State<AppState>, Path(id): Path<i64>) -> Result<Response, ApiFailure> {
    let (path, format) = blocking(&s, move |svc| svc.original_file(id)).await?;
    file_response(path, content_type(format.as_deref()), "private, no-cache").await
}

async fn file_response(path: PathBuf, kind: &'static str, cache: &'static str) -> Result<Response, ApiFailure> {
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| ApiFailure(ApiError::not_found(format!("the file cannot be read: {e}"))))?;
    Ok(([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, cache)], Body::from(bytes)).into_response())
}

async fn failures(State(s): State<AppState>) -> ApiResult<Vec<photo_search_service::api::Failure>> {
    Ok(Json(blocking(&s, |svc| svc.failures()).await?))
}

async fn folders(State(s): State<AppState>) -> ApiResult<Vec<photo_search_service::api::FolderInfo>> {
    Ok(Json(blocking(&s, |svc| svc.folders()).await?))
}

#[derive(Deserialize)]
struct FolderBody {
    path: String,
}

async fn add_folder(
    State(s): State<AppState>,
    Json(body): Json<FolderBody>,
) -> ApiResult<Vec<photo_search_service::api::FolderInfo>> {
    Ok(Json(blocking(&s, move |svc| svc.add_folder(&body.path)).await?))
}

async fn remove_folder(
    State(s): State<AppState>,
    Json(body): Json<FolderBody>,
) -> ApiResult<Vec<photo_search_service::api::FolderInfo>> {
    Ok(Json(blocking(&s, move |svc| svc.remove_folder(&body.path)).await?))
}

async fn duplicates(
    State(s): State<AppState>,
    Json(request): Json<photo_search_service::api::DuplicatesRequest>,
) -> ApiResult<photo_search_service::api::DuplicateGroups> {
    Ok(Json(blocking(&s, move |svc| svc.duplicates(&request)).await?))
}

async fn export_photos(
    State(s): State<AppState>,
    Json(request): Json<photo_search_service::api::ExportRequest>,
) -> ApiResult<()> {
    Ok(Json(blocking(&s, move |svc| svc.export_photos(&request.ids, &request.folder)).await?))
}

#[derive(Deserialize)]
struct ModelBody {
    id: String,
}

async fn remove_model_vectors(
    State(s): State<AppState>,
    Json(body): Json<ModelBody>,
) -> ApiResult<photo_search_service::api::Settings> {
    Ok(Json(blocking(&s, move |svc| svc.remove_model_vectors(&body.id)).await?))
}

async fn rescan(State(s): State<AppState>) -> ApiResult<()> {
    act(&s, Service::rescan).await
}

async fn pause(State(s): State<AppState>) -> ApiResult<()> {
    act(&s, Service::pause).await
}

async fn resume(State(s): State<AppState>) -> ApiResult<()> {
    act(&s, Service::resume).await
}

async fn settings(State(s): State<AppState>) -> ApiResult<photo_search_service::api::Settings> {
    Ok(Json(blocking(&s, |svc| svc.settings()).await?))
}

async fn update_settings(
    State(s): State<AppState>,
    Json(update): Json<SettingsUpdate>,
) -> ApiResult<photo_search_service::api::Settings> {
    Ok(Json(blocking(&s, move |svc| svc.update_settings(&update)).await?))
}

async fn fetch_model(State(s): State<AppState>) -> ApiResult<()> {
    Ok(Json(blocking(&s, |svc| svc.fetch_model()).await?))
}

async fn cancel_fetch(State(s): State<AppState>) -> ApiResult<()> {
    act(&s, Service::cancel_fetch).await
}
