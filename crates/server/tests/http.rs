//! The HTTP API end to end, in process: search and photos by id over a test-colour library, and
//! the security rules (no paths, no traversal, loopback Host check, token off loopback).

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use photo_search_server::ServeOptions;
use photo_search_service::Service;

/// The service tests' own helpers: a library on the colour test model, waiting for a status.
#[path = "../../service/tests/util/mod.rs"]
mod util;

fn write_photo(path: &Path, rgb: [u8; 3]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_pixel(64, 48, image::Rgb(rgb)).save(path).unwrap();
}

struct Server {
    base: String,
    service: Service,
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

/// Indexes two red and one blue photo, then serves them bound to `bind`.
fn start(bind: &str, token: Option<&str>) -> Server {
    start_with(bind, token, &[("red1.jpg", [220, 20, 20]), ("red2.jpg", [200, 30, 30]), ("blue.jpg", [20, 30, 220])])
}

/// Indexes these photos (name, colour), then serves them bound to `bind`.
fn start_with(bind: &str, token: Option<&str>, photo_list: &[(&str, [u8; 3])]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    for (name, rgb) in photo_list {
        write_photo(&photos.join(name), *rgb);
    }
    let ui = dir.path().join("ui");
    std::fs::create_dir_all(&ui).unwrap();
    std::fs::write(ui.join("index.html"), "<!doctype html><title>Photo Search</title>").unwrap();
    let service = util::colour_service(&dir.path().join("library"));
    // Adding a folder starts indexing and watching it: wait for the photos.
    service.add_folder(photos.to_str().unwrap()).unwrap();
    util::wait_for(&service, "indexing", |s| s.photos.indexed >= photo_list.len() as u64);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let options = ServeOptions::new(bind.parse().unwrap(), token.map(String::from), ui).unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind(options.bind)).unwrap();
    let port = listener.local_addr().unwrap().port();
    runtime.spawn(photo_search_server::serve(service.clone(), listener, options, std::future::pending()));
    Server { base: format!("http://127.0.0.1:{port}"), service, _runtime: runtime, _dir: dir }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.service.close();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = agent().get(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let mut response = request.call().unwrap();
    let status = response.status().as_u16();
    (status, String::from_utf8_lossy(&response.body_mut().read_to_vec().unwrap_or_default()).into_owned())
}

fn post_json(url: &str, body: &serde_json::Value, headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let mut request = agent().post(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let mut response = request.header("Content-Type", "application/json").send(body.to_string().as_bytes()).unwrap();
    let status = response.status().as_u16();
    (status, serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap_or_default())
}

fn search_body(term: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "terms": [term],
        "filters": {"folder": null, "from": null, "to": null, "formats": []},
        "limit": 10
    })
}

fn search(base: &str, text: &str, headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let body = search_body(serde_json::json!({"kind": "text", "text": text, "weight": 1.0}));
    post_json(&format!("{base}/api/search"), &body, headers)
}

#[test]
fn results_come_page_after_page_in_order_without_repeats() {
    let names: Vec<String> = (0..60).map(|i| format!("p{i:02}.jpg")).collect();
    let photos: Vec<(&str, [u8; 3])> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), [(40 + i * 3) as u8, (200 - i * 2) as u8, (i * 4) as u8]))
        .collect();
    let server = start_with("127.0.0.1:0", None, &photos);
    let mut seen = std::collections::HashSet::new();
    let mut scores = Vec::new();
    let mut offset = 0;
    loop {
        let mut body = search_body(serde_json::json!({"kind": "text", "text": "red", "weight": 1.0}));
        body["limit"] = 7.into();
        body["offset"] = offset.into();
        let (status, page) = post_json(&format!("{}/api/search", server.base), &body, &[]);
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["offset"], offset, "{page}");
        let hits = page["hits"].as_array().unwrap();
        for hit in hits {
            assert!(seen.insert(hit["id"].as_i64().unwrap()), "photo repeated on a later page: {hit}");
            scores.push(hit["score"].as_f64().unwrap());
        }
        offset += hits.len();
        if !page["more"].as_bool().unwrap() {
            break;
        }
        assert_eq!(hits.len(), 7, "a page before the last is full");
    }
    assert_eq!(seen.len(), 60, "every photo on some page");
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first across pages: {scores:?}");
}

#[test]
fn hits_name_their_files_but_thumbnails_are_fetched_by_id_not_by_location() {
    let server = start("127.0.0.1:0", None);
    let (status, body) = search(&server.base, "red", &[]);
    assert_eq!(status, 200, "{body}");
    let hits = body["hits"].as_array().unwrap();
    assert!(hits[0]["path"].as_str().unwrap().contains("red"), "{body}");
    assert!(hits[1]["path"].as_str().unwrap().contains("red"), "{body}");
    assert!(hits.iter().all(|h| h["thumbnail"].is_null()), "no thumbnail paths over HTTP");
    let id = hits[0]["id"].as_i64().unwrap();
    let (status, thumb) = get(&format!("{}/api/photos/{id}/thumbnail", server.base), &[]);
    assert_eq!(status, 200);
    assert!(thumb.len() > 100, "a JPEG thumbnail");
    let (status, details) = get(&format!("{}/api/photos/{id}", server.base), &[]);
    assert_eq!(status, 200);
    let details: serde_json::Value = serde_json::from_str(&details).unwrap();
    assert_eq!(details["format"], "jpeg", "{details}");
    assert!(details["thumbnail"].is_null(), "no thumbnail location over HTTP: {details}");
    let (status, _) = get(&format!("{}/api/photos/999999/original", server.base), &[]);
    assert_eq!(status, 404);
    // Formats as a person names them, as the CLI's --format takes them.
    let mut body = search_body(serde_json::json!({"kind": "text", "text": "red", "weight": 1.0}));
    body["filters"]["formats"] = serde_json::json!(["JPG"]);
    let (status, found) = post_json(&format!("{}/api/search", server.base), &body, &[]);
    assert_eq!((status, found["hits"].as_array().map(Vec::len)), (200, Some(3)), "{found}");
}

#[test]
fn path_traversal_attempts_are_rejected() {
    let server = start("127.0.0.1:0", None);
    for path in [
        "/api/photos/..%2F..%2F..%2Fetc%2Fpasswd/original",
        "/api/photos/%2Fetc%2Fpasswd/thumbnail",
        "/api/photos/1%20OR%201=1/original",
        "/api/photos/../../../../etc/passwd",
        "/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/assets/..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    ] {
        let (status, body) = get(&format!("{}{path}", server.base), &[]);
        assert!(!body.contains("root:"), "{path} leaked a file");
        let refused = status == 400 || status == 404 || body.contains("<title>Photo Search</title>");
        assert!(refused, "{path}: {status} {body}");
    }
}

#[test]
fn loopback_server_refuses_other_host_names() {
    let server = start("127.0.0.1:0", None);
    let (status, _) = get(&format!("{}/api/status", server.base), &[("Host", "attacker.example:80")]);
    assert_eq!(status, 421, "a DNS-rebound host name must not reach the API");
    let (status, _) = get(&format!("{}/api/status", server.base), &[]);
    assert_eq!(status, 200);
}

#[test]
fn non_loopback_bind_requires_the_token() {
    let bind: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let options = ServeOptions::new(bind, None, PathBuf::from("/nonexistent")).unwrap();
    assert!(options.token.as_deref().is_some_and(|t| t.len() >= 32), "a token is made up for a non-loopback bind");
    assert!(ServeOptions::new("127.0.0.1:0".parse().unwrap(), None, PathBuf::new()).unwrap().token.is_none());

    let server = start("0.0.0.0:0", Some("correct-horse-battery-staple"));
    let (status, _) = search(&server.base, "red", &[]);
    assert_eq!(status, 401, "no token");
    let (status, _) = search(&server.base, "red", &[("Authorization", "Bearer wrong")]);
    assert_eq!(status, 401, "wrong token");
    let (status, _) = get(&format!("{}/api/photos/1/thumbnail", server.base), &[]);
    assert_eq!(status, 401, "thumbnails need the token too");
    let (status, body) = search(&server.base, "red", &[("Authorization", "Bearer correct-horse-battery-staple")]);
    assert_eq!(status, 200, "{body}");
    let (status, _) = get(&format!("{}/api/status?token=correct-horse-battery-staple", server.base), &[]);
    assert_eq!(status, 200);
}

#[test]
fn uploaded_image_finds_similar_photos() {
    let server = start("127.0.0.1:0", None);
    let mut blue = Vec::new();
    image::RgbImage::from_pixel(32, 32, image::Rgb([25, 35, 210]))
        .write_to(&mut std::io::Cursor::new(&mut blue), image::ImageFormat::Jpeg)
        .unwrap();
    let mut response = agent()
        .post(format!("{}/api/images?label=query.jpg", server.base))
        .header("Content-Type", "image/jpeg")
        .send(&blue[..])
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let uploaded: serde_json::Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(uploaded["label"], "query.jpg");
    let body = search_body(serde_json::json!({"kind": "image", "token": uploaded["token"], "weight": 1.0}));
    let (status, result) = post_json(&format!("{}/api/search", server.base), &body, &[]);
    assert_eq!(status, 200, "{result}");
    assert!(result["hits"][0]["path"].as_str().unwrap().ends_with("blue.jpg"), "{result}");

    let response =
        agent().post(format!("{}/api/images", server.base)).header("Content-Type", "text/plain").send("hi").unwrap();
    assert_eq!(response.status().as_u16(), 400, "a form post from another site is not an upload");
}

/// Every operation of the contract answers at its declared method and path: routes come from
/// the same table as the client's, so none can be missing. A request the operation cannot read
/// is refused by that operation (its name leads the message), not by the fallback.
#[test]
fn every_declared_operation_is_routed() {
    let server = start("127.0.0.1:0", None);
    let id = search(&server.base, "red", &[]).1["hits"][0]["id"].as_i64().unwrap();
    for operation in photo_search_service::api::OPERATIONS {
        let url = format!("{}{}", server.base, operation.path.replace("{id}", &id.to_string()));
        let (status, body) = match operation.method {
            photo_search_service::contract::Method::Get => get(&url, &[]),
            photo_search_service::contract::Method::Post => {
                let mut response = agent().post(&url).send_empty().unwrap();
                (response.status().as_u16(), response.body_mut().read_to_string().unwrap_or_default())
            }
        };
        assert!(!body.contains("no such API call"), "{} {}: {status} {body}", operation.name, operation.path);
        assert!(
            status == 200 || body.contains(&format!("{}: ", operation.name)) || operation.name == "fetch_model",
            "{} answered {status} {body}",
            operation.name
        );
    }
    let (status, body) = get(&format!("{}/api/nothing-here", server.base), &[]);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no such API call"), "{body}");
}

/// The event stream sends the status at once, then the latest after each change.
#[test]
fn the_event_stream_sends_the_status_and_its_changes() {
    let server = start("127.0.0.1:0", None);
    let (tx, rx) = std::sync::mpsc::channel();
    let url = format!("{}/api/events", server.base);
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut response = agent().get(&url).call().unwrap();
        let reader = std::io::BufReader::new(response.body_mut().as_reader());
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if let Some(data) = line.strip_prefix("data:")
                && tx.send(serde_json::from_str::<serde_json::Value>(data.trim()).unwrap()).is_err()
            {
                return;
            }
        }
    });
    let next = || rx.recv_timeout(Duration::from_secs(20)).expect("a status event");
    let first = next();
    assert_eq!(first["photos"]["indexed"], 3, "{first}");
    assert_eq!(first["indexing"]["paused"], false);
    let (status, _) = post_json(&format!("{}/api/indexing/pause", server.base), &serde_json::Value::Null, &[]);
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while next()["indexing"]["paused"] != true {
        assert!(Instant::now() < deadline, "no event said paused");
    }
}

/// Originals stream from disk and answer range requests, as the type the catalog knows.
#[test]
fn originals_are_served_whole_or_by_range() {
    let server = start("127.0.0.1:0", None);
    let (_, found) = search(&server.base, "red", &[]);
    let hit = &found["hits"][0];
    let bytes = std::fs::read(hit["path"].as_str().unwrap()).unwrap();
    let url = format!("{}/api/photos/{}/original", server.base, hit["id"]);

    let mut whole = agent().get(&url).call().unwrap();
    assert_eq!(whole.status().as_u16(), 200);
    assert_eq!(whole.headers()["content-type"], "image/jpeg");
    assert_eq!(whole.body_mut().read_to_vec().unwrap(), bytes);

    let mut part = agent().get(&url).header("Range", "bytes=2-9").call().unwrap();
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(part.headers()["content-range"], format!("bytes 2-9/{}", bytes.len()).as_str());
    assert_eq!(part.body_mut().read_to_vec().unwrap(), bytes[2..10]);

    std::fs::remove_file(hit["path"].as_str().unwrap()).unwrap();
    let (status, body) = get(&url, &[]);
    assert_eq!(status, 404, "{body}");
}
