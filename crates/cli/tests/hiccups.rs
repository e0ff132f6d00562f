//! What a real library lives through: a subfolder that cannot be read for a while, a file that
//! cannot be read for a while, a corrupt file, a full disk, and a crash between two saves of
//! the index. Nothing committed is lost and nothing is encoded twice.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use util::{TestDir, write_colour_photos};

/// Runs `photo-search` as a user that file permissions apply to: as root, the `nobody` user
/// (root reads every file whatever its mode); otherwise the current user. The program, ONNX
/// Runtime and the test model are linked or copied into the test's own folder first, since the
/// checkout may sit where `nobody` cannot reach.
fn run_unprivileged(t: &TestDir, args: &[&str]) -> Output {
    let (mut command, model) = if is_root() {
        let (program, model) = reachable_copies(t);
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(program);
        (c, model)
    } else {
        (Command::new(env!("CARGO_BIN_EXE_photo-search")), util::test_model())
    };
    command
        .arg("--library")
        .arg(t.library())
        .arg("--model")
        .arg(model)
        .args(args)
        .env_remove("PHOTO_SEARCH_LIBRARY")
        .env_remove("ORT_DYLIB_PATH")
        .output()
        .expect("run photo-search")
}

/// The program with ONNX Runtime beside it, and the test model, inside the test dir.
fn reachable_copies(t: &TestDir) -> (PathBuf, PathBuf) {
    let bin = t.path("bin");
    let model = t.path("model");
    if !bin.is_dir() {
        fs::create_dir_all(&bin).unwrap();
        let program = PathBuf::from(env!("CARGO_BIN_EXE_photo-search"));
        let runtime = util::repo().join(".cache/onnxruntime/lib");
        let mut files = vec![program];
        files.extend(fs::read_dir(&runtime).unwrap().map(|e| e.unwrap().path()));
        for file in files {
            let target = bin.join(file.file_name().unwrap());
            if fs::hard_link(&file, &target).is_err() {
                fs::copy(&file, &target).unwrap();
            }
        }
        chmod(&bin, 0o755);
        fs::create_dir_all(model.join("onnx")).unwrap();
        for rel in ["manifest.toml", "tokenizer.json", "onnx/vision_model.onnx", "onnx/text_model.onnx"] {
            let from = util::test_model().join(rel);
            if from.is_file() {
                fs::copy(&from, model.join(rel)).unwrap();
            }
        }
        let manifest = util::repo().join("models/test-color.toml");
        if !model.join("manifest.toml").is_file() {
            fs::copy(manifest, model.join("manifest.toml")).unwrap();
        }
        for dir in [&model, &model.join("onnx")] {
            chmod(dir, 0o755);
        }
    }
    (bin.join("photo-search"), model)
}

fn ok_unprivileged(t: &TestDir, args: &[&str]) -> String {
    let out = run_unprivileged(t, args);
    assert!(out.status.success(), "photo-search {args:?} failed:\n{}", util::stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// Whether tests run as root: a file they create belongs to uid 0.
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    let file = tempfile::NamedTempFile::new().unwrap();
    file.as_file().metadata().unwrap().uid() == 0
}

/// A test dir every user can write (the unprivileged runs write the library).
fn shared_test_dir() -> TestDir {
    let t = TestDir::new();
    fs::set_permissions(t.dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    fs::create_dir_all(t.library()).unwrap();
    fs::set_permissions(t.library(), fs::Permissions::from_mode(0o777)).unwrap();
    t
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn counts(out: &str) -> String {
    out.lines().find(|l| l.starts_with("indexed ")).unwrap_or_default().to_string()
}

#[test]
fn an_unreadable_subfolder_keeps_its_photos_and_is_not_encoded_again() {
    let t = shared_test_dir();
    let root = t.path("photos");
    write_colour_photos(&root, 1);
    write_colour_photos(&root.join("trip"), 1);
    // Everything the unprivileged runs write is theirs: make the tree writable by all.
    for dir in [&root, &root.join("trip")] {
        chmod(dir, 0o777);
    }
    ok_unprivileged(&t, &["index", root.to_str().unwrap()]);

    chmod(&root.join("trip"), 0o000);
    let out = ok_unprivileged(&t, &["index"]);
    chmod(&root.join("trip"), 0o777);
    assert!(counts(&out).ends_with("removed 0"), "no photo of the unreadable folder is dropped: {out}");
    let status = t.json(&["status", "--json"]);
    assert_eq!(status["photos"]["total"], 8, "{status}");

    // Readable again: nothing is encoded from scratch.
    let out = ok_unprivileged(&t, &["index"]);
    assert!(counts(&out).starts_with("indexed 0, moved 0, duplicates 0, unchanged 8"), "{out}");
}

#[test]
fn the_offline_state_of_an_unreadable_subfolder_is_shown() {
    let t = shared_test_dir();
    let root = t.path("photos");
    write_colour_photos(&root.join("trip"), 1);
    chmod(&root, 0o777);
    chmod(&root.join("trip"), 0o777);
    ok_unprivileged(&t, &["index", root.to_str().unwrap()]);
    chmod(&root.join("trip"), 0o000);
    ok_unprivileged(&t, &["index"]);
    let status = t.json(&["status", "--json"]);
    chmod(&root.join("trip"), 0o777);
    assert_eq!(status["photos"]["offline"], 4, "{status}");
    ok_unprivileged(&t, &["index"]);
    assert_eq!(t.json(&["status", "--json"])["photos"]["offline"], 0);
}

#[test]
fn a_transient_read_failure_is_retried_and_a_corrupt_file_is_not() {
    let t = shared_test_dir();
    let root = t.path("photos");
    write_colour_photos(&root, 1);
    chmod(&root, 0o777);
    fs::write(root.join("corrupt.jpg"), b"\xFF\xD8\xFF\xE0\x00\x10JFIF but nothing after").unwrap();
    let locked = root.join("red0.jpg");
    chmod(&locked, 0o000);

    let out = ok_unprivileged(&t, &["index", root.to_str().unwrap()]);
    assert!(counts(&out).contains("failed 2"), "{out}");
    let status = t.json(&["status", "--json", "--failed"]);
    let reasons: Vec<String> =
        status["failures"].as_array().unwrap().iter().map(|f| f["reason"].as_str().unwrap().to_string()).collect();
    assert!(reasons.iter().any(|r| r.starts_with("cannot read")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("corrupt")), "{reasons:?}");

    // Readable again: the next run retries it (and only it); the corrupt file waits for a change.
    chmod(&locked, 0o644);
    let out = ok_unprivileged(&t, &["index"]);
    assert!(counts(&out).starts_with("indexed 1, moved 0, duplicates 0, unchanged 4, failed 0"), "{out}");
    let out = ok_unprivileged(&t, &["index"]);
    assert!(counts(&out).starts_with("indexed 0, moved 0, duplicates 0, unchanged 5, failed 0"), "{out}");
}

/// Mounts a tmpfs of `size` at `dir` (root only); unmounted on drop.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> SmallDisk {
        fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "cannot mount a tmpfs at {} (the full-disk test needs root)", dir.display());
        SmallDisk { dir: dir.to_path_buf() }
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir)
            .status()
            .expect("run mount");
        assert!(status.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if let Err(err) = Command::new("umount").arg("-l").arg(&self.dir).status() {
            eprintln!("cannot unmount {}: {err}", self.dir.display());
        }
    }
}

#[test]
fn a_full_disk_stops_the_run_clearly_and_the_next_run_finishes() {
    if !is_root() {
        // Mounting a size-limited file system needs root; CI runs as root.
        panic!("this test mounts a small tmpfs and must run as root");
    }
    let t = TestDir::new();
    let root = t.path("photos");
    // Big distinct photos: thumbnails and catalog pages fill the small disk part-way through.
    fs::create_dir_all(&root).unwrap();
    for i in 0..40u32 {
        let img = image::RgbImage::from_fn(900, 700, |x, y| {
            image::Rgb([((x * 7 + i * 13) % 251) as u8, ((y * 11 + i * 29) % 241) as u8, ((x ^ y) % 233) as u8])
        });
        img.save(root.join(format!("p{i:02}.jpg"))).unwrap();
    }
    let disk = SmallDisk::mount(&t.library(), "1200k");
    let out = t.run(&["index", root.to_str().unwrap()]);
    let stderr = util::stderr(&out);
    assert!(!out.status.success(), "the run must stop on a full disk");
    assert!(stderr.contains("disk is full"), "{stderr}");
    // What was committed is readable and consistent: every indexed photo is found.
    let status = t.json(&["status", "--json"]);
    let indexed = status["photos"]["indexed"].as_u64().unwrap();
    assert!(indexed < 40, "the disk filled before the end: {status}");

    // Space is back: the next run finishes the job, encoding only what is missing.
    disk.resize("64m");
    let out = t.ok(&["index"]);
    assert!(counts(&out).starts_with(&format!("indexed {}", 40 - indexed)), "{out}");
    let status = t.json(&["status", "--json"]);
    assert_eq!(status["photos"]["indexed"], 40, "{status}");
    assert_eq!(status["index"]["vectors"], 40, "{status}");
    let hits = t.json(&["search", "red", "-n", "100", "--json"]);
    assert_eq!(hits.as_array().unwrap().len(), 40);
}

#[test]
fn after_a_kill_the_index_replays_only_what_changed_since_its_save() {
    let t = TestDir::new();
    let root = t.path("photos");
    write_colour_photos(&root, 2);
    t.ok(&["index", root.to_str().unwrap()]);
    // More photos, large enough that indexing them takes a while; the run is killed part-way.
    for i in 0..40u32 {
        let img = image::RgbImage::from_fn(1600, 1200, |x, y| {
            image::Rgb([((x * 3 + i * 17) % 251) as u8, ((y * 5 + i) % 241) as u8, 90])
        });
        img.save(root.join(format!("more{i:02}.jpg"))).unwrap();
    }
    let mut child = t.spawn(&["--batch-size", "2", "--workers", "1", "index"]);
    // Kill once some of the new photos are committed (read from the catalog, not guessed).
    let catalog = t.library().join("catalog.sqlite");
    let started = Instant::now();
    let committed = loop {
        let n = committed_photos(&catalog);
        if n > 8 {
            break n;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "indexing never committed a batch");
        assert!(child.try_wait().unwrap().is_none(), "indexing finished before the kill");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(committed < 48, "the kill came after the end");

    // A reader opens the saved file and replays just the photos committed since.
    let out = t.run(&["-v", "search", "red", "-n", "100", "--json"]);
    assert!(out.status.success(), "{}", util::stderr(&out));
    let log = util::stderr(&out);
    assert!(!log.contains("rebuilding vector index"), "{log}");
    let replayed: u64 = log
        .split("replayed ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no replay in the log: {log}"));
    let now = committed_photos(&catalog);
    assert_eq!(replayed, now - 8, "only the photos committed after the save are replayed: {log}");
    let hits: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hits.as_array().unwrap().len() as u64, now, "the index holds every committed photo");
}

/// Photos with a vector in the catalog, read directly (the test's own view, not the program's).
fn committed_photos(catalog: &Path) -> u64 {
    let Ok(conn) = rusqlite::Connection::open_with_flags(catalog, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return 0;
    };
    conn.query_row("SELECT COUNT(*) FROM vectors", [], |r| r.get::<_, i64>(0)).map_or(0, |n| n as u64)
}
