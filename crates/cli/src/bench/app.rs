//! `photo-search bench app`: the app's own path at library scale. Generates a library of small
//! JPEGs, indexes it with the real pipeline, then runs `photo-search serve` and drives its HTTP
//! API the way the UI does (first pages of 200, unique queries so every one is encoded),
//! while the watcher indexes copied files, during a rescan (which saves the index), and after a
//! `kill -9`. Prints figures; asserts nothing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use photo_search_core::api::Progress;
use photo_search_core::library::Access;
use photo_search_core::{Engine, EngineOptions};

/// Photos per generated folder.
const PER_FOLDER: usize = 1000;
/// Side of the generated photos, in pixels.
const SIDE: u32 = 64;
/// The page the UI asks for with each keystroke.
const PAGE: u32 = 200;

const WORDS: &[&str] = &[
    "beach", "sunset", "dog", "mountain", "city", "birthday", "snow", "forest", "car", "boat", "kids", "cake", "river",
    "bridge", "flowers", "cat", "night", "market", "train", "garden",
];

pub fn run(options: EngineOptions, photos: usize, work: &Path, queries: usize) -> Result<()> {
    std::fs::create_dir_all(work)?;
    let library_photos = work.join("photos");
    let started = Instant::now();
    let generated = generate(&library_photos, 0, photos)?;
    println!(
        "photos: {photos} generated {SIDE}x{SIDE} JPEGs in {:.1} s ({generated} new)",
        started.elapsed().as_secs_f64()
    );

    index_library(&options, &library_photos, photos)?;

    let server = Server::start(&options)?;
    server.wait_watching(Duration::from_secs(3600))?;
    let mut words = QueryWords::default();
    let idle = server.query_latencies(&mut words, queries)?;
    print_latencies("first page of a text query, idle", &idle);
    // The same query again: its text embedding comes from the cache, the rest is the same path.
    let repeated = (0..queries.min(100)).map(|_| server.search_once("beach sunset")).collect::<Result<Vec<_>>>()?;
    print_latencies("  the same query repeated (text encoding cached)", &repeated);
    // "Group similar shots" off and on, alternating, each query new.
    let (mut plain, mut folded) = (Vec::new(), Vec::new());
    for _ in 0..queries {
        plain.push(server.search_with(&words.next_query(), false)?);
        folded.push(server.search_with(&words.next_query(), true)?);
    }
    print_latencies("first page, alternating: similar shots apart", &plain);
    print_latencies("first page, alternating: similar shots grouped", &folded);

    // Copied files: time until searchable, with searches going on (as a person would), and once
    // with none, for the watcher's own rate.
    for (round, (count, searching)) in
        [(1usize, true), (100, true), (1000, false), (1000, true)].into_iter().enumerate()
    {
        let source = work.join(format!("incoming-{round}"));
        generate(&source, photos + round * 10_000, count)?;
        let before = server.status()?.indexed;
        let target = library_photos.join(format!("new-{round}-{}", std::process::id()));
        let copied = Instant::now();
        copy_dir(&source, &target)?;
        let busy = AtomicBool::new(true);
        let during = std::thread::scope(|scope| -> Result<Vec<f64>> {
            let probe = scope.spawn(|| {
                let mut words = QueryWords { next: 1_000_000 + round * 100_000 };
                let mut latencies = Vec::new();
                while searching && busy.load(Ordering::Relaxed) {
                    match server.search_once(&words.next_query()) {
                        Ok(ms) => latencies.push(ms),
                        Err(err) => eprintln!("search failed while indexing: {err}"),
                    }
                }
                latencies
            });
            let waited = server.wait_indexed(before + count as u64, Duration::from_secs(600));
            busy.store(false, Ordering::Relaxed);
            let latencies = probe.join().map_err(|_| anyhow::anyhow!("search thread panicked"))?;
            waited?;
            Ok(latencies)
        })?;
        let seconds = copied.elapsed().as_secs_f64();
        if searching {
            println!("copy of {count} photo(s) to searchable: {seconds:.2} s ({} searches meanwhile)", during.len());
        } else {
            println!(
                "copy of {count} photo(s) to searchable, no searches meanwhile: {seconds:.2} s ({:.0} photos/s)",
                count as f64 / seconds
            );
        }
        if count == 1000 && searching {
            print_latencies("first page of a text query, while the watcher indexes 1,000 new photos", &during);
        }
    }

    // A rescan: the job stops cleanly (saving the index), then scans every folder again.
    let stall = server.stall_during(|s| s.post("/api/rescan", "{}").map(drop), Duration::from_secs(3600))?;
    print_latencies("first page of a text query, during a rescan (index saved, then a full scan)", &stall);

    let rss = server.peak_rss_mb();
    println!("serve peak RSS: {rss:.0} MB");
    server.stop()?;
    disk_per_photo(&options.library, photos);

    // kill -9 while indexing, then the time to the first answered search.
    let source = work.join("incoming-crash");
    generate(&source, photos + 90_000, 2000)?;
    let server = Server::start(&options)?;
    server.wait_watching(Duration::from_secs(3600))?;
    let before = server.status()?.indexed;
    copy_dir(&source, &library_photos.join(format!("crash-{}", std::process::id())))?;
    server.wait_indexed(before + 100, Duration::from_secs(600))?;
    server.kill_9()?;
    let restarted = Instant::now();
    let server = Server::start(&options)?;
    let started_in = restarted.elapsed().as_secs_f64();
    loop {
        if server.search_once(&words.next_query()).is_ok() {
            break;
        }
        anyhow::ensure!(restarted.elapsed() < Duration::from_secs(600), "no search answered after a restart");
        std::thread::sleep(Duration::from_millis(10));
    }
    println!(
        "kill -9 during indexing, restart: serving after {started_in:.2} s, first search answered after {:.2} s",
        restarted.elapsed().as_secs_f64()
    );
    server.wait_watching(Duration::from_secs(3600))?;
    println!("  ... indexing finished again after {:.1} s", restarted.elapsed().as_secs_f64());
    server.stop()
}

#[derive(Default)]
struct QueryWords {
    next: usize,
}

impl QueryWords {
    /// A query no earlier one repeats, so the text cache never answers it: every search
    /// includes encoding the text.
    fn next_query(&mut self) -> String {
        self.next += 1;
        let i = self.next;
        format!("{} {} {i}", WORDS[i % WORDS.len()], WORDS[(i / WORDS.len()) % WORDS.len()])
    }
}

/// Writes `count` distinct small JPEGs (coloured blocks, seeded by their number) into `dir`,
/// a thousand per folder; returns how many were new.
fn generate(dir: &Path, first: usize, count: usize) -> Result<usize> {
    let mut written = 0;
    for i in first..first + count {
        let folder = dir.join(format!("d{:04}", (i - first) / PER_FOLDER));
        let path = folder.join(format!("p{i:07}.jpg"));
        if path.is_file() {
            continue;
        }
        if (i - first).is_multiple_of(PER_FOLDER) {
            std::fs::create_dir_all(&folder)?;
        }
        let mut state = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let blocks: Vec<[u8; 3]> = (0..16).map(|_| next().to_le_bytes()[..3].try_into().unwrap_or([0; 3])).collect();
        let img = image::RgbImage::from_fn(SIDE, SIDE, |x, y| {
            let b = blocks[((y / (SIDE / 4)) * 4 + x / (SIDE / 4)) as usize];
            image::Rgb(b.map(|c| c.saturating_add(((x * 7 + y * 3) % 9) as u8)))
        });
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85).encode_image(&img)?;
        std::fs::write(&path, bytes)?;
        written += 1;
    }
    Ok(written)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    for entry in walk(from)? {
        let target = to.join(entry.strip_prefix(from)?);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&entry, &target)?;
    }
    Ok(())
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() { files.extend(walk(&path)?) } else { files.push(path) }
    }
    files.sort();
    Ok(files)
}

/// Indexes the generated photos with the real pipeline (unless the library has them already).
fn index_library(options: &EngineOptions, photos_dir: &Path, photos: usize) -> Result<()> {
    let mut options = options.clone();
    options.access = Access::Write;
    let engine = Engine::open(options)?;
    let started = Instant::now();
    let mut last = Instant::now();
    let summary = engine.index(&[photos_dir.to_path_buf()], &mut |p| {
        if let Progress::File { done, queued, rate, .. } = p
            && last.elapsed() > Duration::from_secs(30)
        {
            last = Instant::now();
            eprintln!("  indexing: {done}/{queued}, {rate:.0} photos/s");
        }
    })?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "library: {} photos ({} indexed now in {seconds:.0} s, {:.0} photos/s, {} unchanged)",
        photos,
        summary.indexed,
        summary.indexed as f64 / seconds.max(1e-9),
        summary.unchanged
    );
    Ok(())
}

fn disk_per_photo(library: &Path, photos: usize) {
    let per = |bytes: u64| bytes as f64 / photos as f64;
    let catalog = ["catalog.sqlite", "catalog.sqlite-wal"].iter().map(|f| allocated(&library.join(f))).sum::<u64>();
    let index = allocated(&library.join("index"));
    let thumbs = allocated(&library.join("thumbs"));
    println!(
        "disk per photo (allocated): catalog {:.0} B, index {:.0} B, thumbnails {:.0} B",
        per(catalog),
        per(index),
        per(thumbs)
    );
}

/// Bytes allocated on disk for a file or a folder tree.
fn allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if meta.is_dir() {
        std::fs::read_dir(path)
            .map(|entries| entries.filter_map(|e| e.ok()).map(|e| allocated(&e.path())).sum())
            .unwrap_or(0)
    } else {
        meta.blocks() * 512
    }
}

fn print_latencies(what: &str, ms: &[f64]) {
    if ms.is_empty() {
        println!("{what}: no searches");
        return;
    }
    let mut sorted = ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
    println!(
        "{what}: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms ({} searches)",
        at(0.5),
        at(0.95),
        sorted[sorted.len() - 1],
        sorted.len()
    );
}

struct Counts {
    indexed: u64,
    phase: String,
}

/// `photo-search serve` as a child process, driven over HTTP.
struct Server {
    child: Child,
    base: String,
    agent: ureq::Agent,
}

impl Server {
    fn start(options: &EngineOptions) -> Result<Server> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("--library")
            .arg(&options.library)
            .args(model_args(options))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().context("serve's output")?;
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Photo Search is at ")
                    && tx.send(url.trim().trim_end_matches('/').to_string()).is_err()
                {
                    return;
                }
            }
        });
        let base = rx.recv_timeout(Duration::from_secs(600)).context("serve did not start")?;
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Ok(Server { child, base, agent })
    }

    fn post(&self, path: &str, body: &str) -> Result<String> {
        let mut response = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json")
            .send(body.as_bytes())?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string()?;
        if status != 200 {
            bail!("{path}: HTTP {status}: {text}");
        }
        Ok(text)
    }

    /// One first-page text query, as the UI sends it; milliseconds, client side.
    fn search_once(&self, text: &str) -> Result<f64> {
        self.search_with(text, false)
    }

    /// One first page, as the UI asks with "Group similar shots" off or on.
    fn search_with(&self, text: &str, collapse: bool) -> Result<f64> {
        let body = serde_json::json!({
            "terms": [{"kind": "text", "text": text, "weight": 1.0}],
            "filters": {"folder": null, "from": null, "to": null, "formats": []},
            "limit": PAGE,
            "offset": 0,
            "collapse": collapse,
        });
        let started = Instant::now();
        let response = self.post("/api/search", &body.to_string())?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(response.contains("\"hits\""), "not a search response: {response}");
        Ok(ms)
    }

    fn query_latencies(&self, words: &mut QueryWords, queries: usize) -> Result<Vec<f64>> {
        // The first query loads the text encoder: not what a keystroke costs.
        self.search_once(&words.next_query())?;
        (0..queries).map(|_| self.search_once(&words.next_query())).collect()
    }

    fn status(&self) -> Result<Counts> {
        let mut response = self.agent.get(format!("{}/api/status", self.base)).call()?;
        let status: serde_json::Value = serde_json::from_str(&response.body_mut().read_to_string()?)?;
        Ok(Counts {
            indexed: status["photos"]["indexed"].as_u64().unwrap_or(0),
            phase: status["indexing"]["phase"].as_str().unwrap_or("").to_string(),
        })
    }

    fn wait_indexed(&self, count: u64, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        while self.status()?.indexed < count {
            anyhow::ensure!(started.elapsed() < timeout, "{count} photos not indexed in time");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn wait_watching(&self, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        loop {
            let counts = self.status()?;
            if counts.phase == "watching" {
                return Ok(());
            }
            anyhow::ensure!(started.elapsed() < timeout, "still {} after {timeout:?}", counts.phase);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Searches continuously while `action` runs and until the job is watching again.
    fn stall_during(&self, action: impl FnOnce(&Server) -> Result<()>, timeout: Duration) -> Result<Vec<f64>> {
        let busy = AtomicBool::new(true);
        std::thread::scope(|scope| {
            let probe = scope.spawn(|| {
                let mut words = QueryWords { next: 5_000_000 };
                let mut latencies = Vec::new();
                while busy.load(Ordering::Relaxed) {
                    if let Ok(ms) = self.search_once(&words.next_query()) {
                        latencies.push(ms);
                    }
                }
                latencies
            });
            let result = action(self).and_then(|()| {
                std::thread::sleep(Duration::from_millis(500));
                self.wait_watching(timeout)
            });
            busy.store(false, Ordering::Relaxed);
            let latencies = probe.join().map_err(|_| anyhow::anyhow!("search thread panicked"))?;
            result.map(|()| latencies)
        })
    }

    fn peak_rss_mb(&self) -> f64 {
        super::peak_rss_mb_of(&self.child.id().to_string())
    }

    fn stop(mut self) -> Result<()> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status()?;
        self.child.wait()?;
        Ok(())
    }

    fn kill_9(mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

/// `--model` as given to this run, for `serve` (none: the library's own).
fn model_args(options: &EngineOptions) -> Vec<std::ffi::OsString> {
    match &options.model {
        photo_search_core::models::ModelChoice::Dir(dir) => vec!["--model".into(), dir.clone().into_os_string()],
        photo_search_core::models::ModelChoice::Id(id) => vec!["--model".into(), id.into()],
        photo_search_core::models::ModelChoice::Library => Vec::new(),
    }
}
