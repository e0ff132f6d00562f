//! `models fetch` against a small HTTP server on loopback: resume after an interrupted
//! transfer, checksum failure, atomic rename, unreachable host.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

use std::collections::HashMap;
use std::error::Error;
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

/// A stand-in GPU runtime served by `server`: an "onnxruntime" archive and a "cuda" one (zip
/// files holding small files named as the real libraries), pinned by their own sha256.
fn stand_in_gpu_runtime(server: &Server) -> install::RuntimeManifest {
    use sha2::Digest;
    let mut text = String::from("onnxruntime = \"1.31.1\"\ncuda = \"13\"\n");
    for (file, kind, libraries) in [
        ("ort-gpu.whl", "onnxruntime", vec!["onnxruntime/capi/libonnxruntime.so.1.31.1"]),
        ("cuda.whl", "cuda", vec!["nvidia/cu13/lib/libcudart.so.13", "nvidia/cu13/lib/libcublasLt.so.13"]),
    ] {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        zip.start_file("README", options).unwrap();
        zip.write_all(b"not a library").unwrap();
        for library in &libraries {
            zip.start_file(*library, options).unwrap();
            zip.write_all(&vec![b'x'; 300_000]).unwrap();
        }
        let bytes = zip.finish().unwrap().into_inner();
        let sha = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect::<String>();
        text.push_str(&format!(
            "[[archives]]\nname = \"{file}\"\nkind = \"{kind}\"\nurl = \"{}\"\nbytes = {}\nsha256 = \"{sha}\"\nlibraries = {libraries:?}\n",
            server.url(file),
            bytes.len()
        ));
        server.set(file, bytes, Mode::Full);
    }
    install::RuntimeManifest::parse(&text).unwrap()
}

use photo_search_core::gpu::install;

#[test]
fn gpu_runtime_install_resumes_refuses_a_wrong_checksum_and_is_removed_whole() {
    let t = TestDir::new();
    let server = Server::start();
    let manifest = stand_in_gpu_runtime(&server);
    let runtime = t.path("library/runtime");
    let (ort, cuda) = (server.state.lock().unwrap().files["ort-gpu.whl"].0.clone(), "cuda.whl");

    // A wrong archive is refused, and nothing is installed.
    server.set("ort-gpu.whl", ort.clone(), Mode::Corrupt);
    let err = install::install(&manifest, &runtime, &[], install::Source::Publishers, &mut |_| true).unwrap_err();
    assert!(err.source().unwrap().to_string().contains("sha256"), "{err}");
    assert!(install::installed(&runtime).is_none() && !install::install_dir(&runtime).exists());

    // Cut off mid-way: the next install resumes from where it stopped.
    server.set("ort-gpu.whl", ort.clone(), Mode::CutAfter(ort.len() / 3));
    assert!(install::install(&manifest, &runtime, &[], install::Source::Publishers, &mut |_| true).is_err());
    assert!(!install::install_dir(&runtime).exists(), "nothing half-installed");
    server.set("ort-gpu.whl", ort.clone(), Mode::Full);
    let mut seen = Vec::new();
    let installed = install::install(&manifest, &runtime, &[], install::Source::Publishers, &mut |p| {
        seen.push((p.name.clone(), p.done, p.total));
        true
    })
    .unwrap();
    let ranged = server.state.lock().unwrap().requests.iter().any(|(p, r)| p == "ort-gpu.whl" && r.is_some());
    assert!(ranged, "the second try asked for the rest only");
    let total = manifest.download_bytes(&[]);
    assert_eq!(seen.last().unwrap(), &(cuda.to_string(), total, total), "progress reaches the total");
    assert!(seen.windows(2).all(|w| w[0].1 <= w[1].1), "progress only grows");
    assert_eq!(installed.libraries, ["libonnxruntime.so.1.31.1", "libcudart.so.13", "libcublasLt.so.13"]);
    let dir = install::install_dir(&runtime);
    let mut files: Vec<String> =
        fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, ["installed.json", "libcublasLt.so.13", "libcudart.so.13", "libonnxruntime.so.1.31.1"]);
    assert!(!runtime.join("downloads").exists(), "the archives are not kept");

    // The system's own CUDA stands in for its archive; an offline folder works too.
    let folder = t.path("archives");
    fs::create_dir_all(&folder).unwrap();
    fs::write(folder.join("ort-gpu.whl"), &ort).unwrap();
    let system = ["libcudart.so.13".to_string(), "libcublasLt.so.13".to_string()];
    let installed =
        install::install(&manifest, &runtime, &system, install::Source::Folder(&folder), &mut |_| true).unwrap();
    assert_eq!(installed.from_system, ["libcudart.so.13", "libcublasLt.so.13"]);
    assert!(!dir.join("libcudart.so.13").exists());
    // A wrong file in the folder is named and left alone; the installed runtime stays.
    fs::write(folder.join("ort-gpu.whl"), b"something else").unwrap();
    let err = install::install(&manifest, &runtime, &system, install::Source::Folder(&folder), &mut |_| true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("ort-gpu.whl is not the pinned archive"), "{err}");
    assert!(install::installed(&runtime).is_some());

    // `photo-search gpu remove` removes all of it.
    let out = t.run(&["gpu", "remove"]);
    assert!(out.status.success(), "{}", util::stderr(&out));
    assert!(!dir.exists() && install::installed(&runtime).is_none());
    let out = t.ok(&["gpu", "remove"]);
    assert!(out.contains("no GPU runtime is installed"), "{out}");
}
