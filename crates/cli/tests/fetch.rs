//! `models fetch` against a small HTTP server on loopback: resume after an interrupted
//! transfer, checksum failure, atomic rename, unreachable host.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use util::TestDir;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Full,
    /// Announce the whole length, send this many bytes, hang up.
    CutAfter(usize),
    /// Serve bytes of the right length but the wrong content.
    Corrupt,
}

#[derive(Default)]
struct State {
    files: HashMap<String, (Vec<u8>, Mode)>,
    /// (path, Range header) of every request.
    requests: Vec<(String, Option<String>)>,
}

struct Server {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl Server {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            // Serves until the test process ends; each test has its own server.
            for stream in listener.incoming().flatten() {
                serve(stream, &shared);
            }
        });
        Server { port, state }
    }

    fn set(&self, path: &str, bytes: Vec<u8>, mode: Mode) {
        self.state.lock().unwrap().files.insert(path.to_string(), (bytes, mode));
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_string());
        }
    }
    let mut out = stream;
    let file = {
        let mut s = state.lock().unwrap();
        s.requests.push((path.clone(), range.clone()));
        s.files.get(&path).cloned()
    };
    let Some((mut body, mode)) = file else {
        reply(&mut out, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", b"");
        return;
    };
    if mode == Mode::Corrupt {
        body.iter_mut().for_each(|b| *b = b.wrapping_add(1));
    }
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok())
        .filter(|s| *s < body.len());
    let (status, slice) = match start {
        Some(s) => ("206 Partial Content", &body[s..]),
        None => ("200 OK", &body[..]),
    };
    let header = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", slice.len());
    let send = match mode {
        Mode::CutAfter(n) => &slice[..n.min(slice.len())],
        _ => slice,
    };
    reply(&mut out, header.as_bytes(), send);
}

fn reply(out: &mut TcpStream, header: &[u8], body: &[u8]) {
    if let Err(err) = out.write_all(header).and_then(|()| out.write_all(body)).and_then(|()| out.flush()) {
        // The client may hang up early; the test asserts on what it received.
        eprintln!("test server: {err}");
    }
}

/// A model folder whose ONNX files must be downloaded from `server`.
fn remote_model(t: &TestDir, server: &Server) -> PathBuf {
    let dir = t.path("remote-model");
    fs::create_dir_all(&dir).unwrap();
    fs::copy(util::test_model().join("tokenizer.json"), dir.join("tokenizer.json")).unwrap();
    let manifest = fs::read_to_string(util::repo().join("models/test-color.toml")).unwrap();
    let mut patched = String::new();
    for line in manifest.lines() {
        patched.push_str(line);
        patched.push('\n');
        if let Some(path) = line.strip_prefix("path = \"onnx/") {
            let rel = format!("onnx/{}", path.trim_end_matches('"'));
            patched.push_str(&format!("url = \"{}\"\n", server.url(&rel)));
            server.set(&rel, fs::read(util::test_model().join(&rel)).unwrap(), Mode::Full);
        }
    }
    fs::write(dir.join("manifest.toml"), patched).unwrap();
    dir
}

fn part(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap().to_os_string();
    name.push(".part");
    path.with_file_name(name)
}

#[test]
fn interrupted_download_resumes_and_lands_atomically() {
    let t = TestDir::new();
    let server = Server::start();
    let model = remote_model(&t, &server);
    let text = fs::read(util::test_model().join("onnx/text_model.onnx")).unwrap();
    server.set("onnx/text_model.onnx", text.clone(), Mode::CutAfter(300_000));

    let out = t.run_with_model(&model, &["models", "fetch"]);
    assert!(!out.status.success(), "an interrupted transfer must fail");
    let dest = model.join("onnx/text_model.onnx");
    assert!(!dest.exists(), "no half-written file under the final name");
    assert_eq!(fs::metadata(part(&dest)).unwrap().len(), 300_000);
    assert!(model.join("onnx/vision_model.onnx").is_file(), "the complete file is kept");

    server.set("onnx/text_model.onnx", text.clone(), Mode::Full);
    let out = t.run_with_model(&model, &["models", "fetch"]);
    assert!(out.status.success(), "{}", util::stderr(&out));
    assert_eq!(fs::read(&dest).unwrap(), text);
    assert!(!part(&dest).exists());
    let requests = &server.state.lock().unwrap().requests;
    let last = requests.iter().rev().find(|(p, _)| p == "onnx/text_model.onnx").unwrap();
    assert_eq!(last.1.as_deref(), Some("bytes=300000-"), "the second fetch must resume, not restart");

    let out = t.run_with_model(&model, &["models", "verify"]);
    assert!(out.status.success(), "{}", util::stderr(&out));
}

#[test]
fn download_with_a_wrong_checksum_is_discarded() {
    let t = TestDir::new();
    let server = Server::start();
    let model = remote_model(&t, &server);
    let vision = fs::read(util::test_model().join("onnx/vision_model.onnx")).unwrap();
    server.set("onnx/vision_model.onnx", vision, Mode::Corrupt);

    let out = t.run_with_model(&model, &["models", "fetch"]);
    assert!(!out.status.success());
    let err = util::stderr(&out);
    assert!(err.contains("sha256"), "{err}");
    let dest = model.join("onnx/vision_model.onnx");
    assert!(!dest.exists() && !part(&dest).exists(), "nothing unverified is left behind");
}

#[test]
fn unreachable_host_fails_fast_with_a_clear_message() {
    let t = TestDir::new();
    let server = Server::start();
    let model = remote_model(&t, &server);
    // A port nobody listens on.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let manifest = fs::read_to_string(model.join("manifest.toml")).unwrap();
    fs::write(model.join("manifest.toml"), manifest.replace(&format!(":{}/", server.port), &format!(":{closed}/")))
        .unwrap();

    let started = Instant::now();
    let out = t.run_with_model(&model, &["models", "fetch"]);
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(20));
    let err = util::stderr(&out);
    assert!(err.contains("cannot reach"), "{err}");
}
