//! `photo-search serve`: the app's UI for a browser, and a JSON API over the same [`Service`]
//! the desktop app uses. Photos are served by id only, never by path. Loopback by default (with
//! a Host check against DNS rebinding); any other address needs a token, printed at start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, RawPathParams, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use photo_search_service::api::{self, ApiError, ErrorKind, OPERATIONS, STATUS_EVENT};
use photo_search_service::contract::Method;
use photo_search_service::{MAX_UPLOAD_BYTES, Service, content_type};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::WatchStream;
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
    /// random one (the caller prints it); fails only when the system has no random source.
    pub fn new(bind: SocketAddr, token: Option<String>, ui_dir: PathBuf) -> std::io::Result<Self> {
        let token = match token.filter(|t| !t.is_empty()) {
            Some(token) => Some(token),
            None if bind.ip().is_loopback() => None,
            None => Some(random_token()?),
        };
        Ok(ServeOptions { bind, token, ui_dir })
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

fn random_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 18];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(format!("no random source for a token: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
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
    let api = operation_routes()
        .route("/events", get(events))
        .route("/images", post(upload_image).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)))
        .route("/photos/{id}/thumbnail", get(thumbnail))
        .route("/photos/{id}/original", get(original))
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
            // Internal, and any kind added later until it is given a status of its own.
            _ => StatusCode::INTERNAL_SERVER_ERROR,
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

/// One route per operation of the contract (`api::OPERATIONS`), at its path under `/api`: a GET
/// takes its request from the path's fields, a POST from the JSON body. Answers go through
/// `api::call`, with the files' locations left out (thumbnails are fetched by id over HTTP).
fn operation_routes() -> Router<AppState> {
    let mut by_path: Vec<(&str, MethodRouter<AppState>)> = Vec::new();
    for operation in OPERATIONS {
        let name = operation.name;
        let handler = move |State(s): State<AppState>, params: RawPathParams, body: Bytes| async move {
            let request = request_of(&params, &body).map_err(ApiFailure)?;
            let answer = blocking(&s, move |svc| api::call(svc, name, request)).await?;
            Ok::<_, ApiFailure>(Json(without_file_paths(answer)))
        };
        let path = operation.path.strip_prefix("/api").unwrap_or(operation.path);
        let route = match operation.method {
            Method::Get => get(handler),
            Method::Post => post(handler),
        };
        match by_path.iter_mut().find(|(p, _)| *p == path) {
            Some((_, routes)) => *routes = std::mem::take(routes).merge(route),
            None => by_path.push((path, route)),
        }
    }
    by_path.into_iter().fold(Router::new(), |router, (path, routes)| router.route(path, routes))
}

/// An operation's request: the JSON body, else the path's fields (numbers where they read as
/// numbers), else `null`.
fn request_of(params: &RawPathParams, body: &[u8]) -> Result<serde_json::Value, ApiError> {
    if !body.is_empty() {
        return serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")));
    }
    let fields: serde_json::Map<String, serde_json::Value> = params
        .iter()
        .map(|(key, value)| {
            let value = value.parse::<i64>().map_or_else(|_| serde_json::Value::from(value), serde_json::Value::from);
            (key.to_string(), value)
        })
        .collect();
    Ok(if fields.is_empty() { serde_json::Value::Null } else { serde_json::Value::Object(fields) })
}

/// Over HTTP the client never learns where thumbnails are stored: every `thumbnail` is cleared.
fn without_file_paths(mut value: serde_json::Value) -> serde_json::Value {
    match &mut value {
        serde_json::Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                *field = if key == "thumbnail" { serde_json::Value::Null } else { without_file_paths(field.take()) };
            }
        }
        serde_json::Value::Array(items) => {
            for item in items.iter_mut() {
                *item = without_file_paths(item.take());
            }
        }
        _ => {}
    }
    value
}

async fn events(
    State(s): State<AppState>,
) -> Sse<impl tokio_stream::Stream<Item = Result<Event, std::convert::Infallible>>> {
    // The watch stream yields the current snapshot first, then the latest after each change.
    let updates = WatchStream::new(s.service.subscribe());
    let stream = updates
        .filter_map(|status| status)
        .map(|status| Ok(Event::default().event(STATUS_EVENT).json_data(status).unwrap_or_else(|_| Event::default())));
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// The image is the body; an image content type is required (which also keeps other web pages
/// from posting here without a CORS preflight this server never grants).
async fn upload_image(
    State(s): State<AppState>,
    Query(query): Query<api::UploadLabel>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<photo_search_service::api::UploadedImage> {
    let kind = headers.get(header::CONTENT_TYPE).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !kind.starts_with("image/") && kind != "application/octet-stream" {
        return Err(ApiFailure(ApiError::bad_request("send the image as the body with an image/* content type")));
    }
    Ok(Json(blocking(&s, move |svc| svc.upload_image(&body, &query.label)).await?))
}

async fn thumbnail(State(s): State<AppState>, Path(id): Path<i64>, request: Request) -> Result<Response, ApiFailure> {
    let path = blocking(&s, move |svc| svc.thumbnail_file(id)).await?;
    file_response(path, "image/jpeg", "private, max-age=86400", request).await
}

async fn original(State(s): State<AppState>, Path(id): Path<i64>, request: Request) -> Result<Response, ApiFailure> {
    let (path, format) = blocking(&s, move |svc| svc.original_file(id)).await?;
    file_response(path, content_type(format.as_deref()), "private, no-cache", request).await
}

/// The file streamed from disk (never read into memory whole), with range requests answered
/// (a video player or a large RAW seeks), as the content type the catalog knows.
async fn file_response(
    path: PathBuf,
    kind: &'static str,
    cache: &'static str,
    request: Request,
) -> Result<Response, ApiFailure> {
    let unreadable = |reason: String| ApiFailure(ApiError::not_found(format!("the file cannot be read: {reason}")));
    let mut response = ServeFile::new(&path).try_call(request).await.map_err(|e| unreadable(e.to_string()))?;
    if response.status() == StatusCode::NOT_FOUND {
        return Err(unreadable(format!("{} is gone", path.display())));
    }
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Ok(response.map(Body::new))
}
