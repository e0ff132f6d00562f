//! Helpers for CLI tests: each test gets a fresh temp dir with its own library, and runs the
//! real `photo-search` binary against the real ONNX Runtime with the test-color model.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use image::{Rgb, RgbImage};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

pub fn shared() -> PathBuf {
    let dir = repo().join("../shared");
    assert!(dir.is_dir(), "test data folder {} is missing (it sits beside the checkout)", dir.display());
    dir
}

pub fn test_model() -> PathBuf {
    repo().join("models/test-color")
}

pub struct TestDir {
    pub dir: tempfile::TempDir,
}

impl Default for TestDir {
    fn default() -> Self {
        Self::new()
    }
}

impl TestDir {
    pub fn new() -> Self {
        TestDir { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn library(&self) -> PathBuf {
        self.path("library")
    }

    /// `photo-search --library <tmp>/library --model models/test-color ARGS`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_model(&test_model(), args)
    }

    pub fn run_with_model(&self, model: &Path, args: &[&str]) -> Output {
        self.command(model, args).output().expect("run photo-search")
    }

    /// `photo-search --library <tmp>/library ARGS` without `--model`, as the app and `serve`
    /// start: on the library's own model.
    pub fn run_bare(&self, args: &[&str]) -> Output {
        self.bare_command(args).output().expect("run photo-search")
    }

    /// `photo-search --library <tmp>/library --model MODEL ARGS`, with no library or model
    /// from the environment.
    pub fn command(&self, model: &Path, args: &[&str]) -> Command {
        let mut command = self.bare_command(&["--model", model.to_str().expect("a UTF-8 model path")]);
        command.args(args);
        command
    }

    pub fn bare_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_photo-search"));
        command
            .arg("--library")
            .arg(self.library())
            .args(args)
            .env_remove("PHOTO_SEARCH_LIBRARY")
            .env_remove("PHOTO_SEARCH_MODEL");
        command
    }

    /// Starts `photo-search --library <tmp>/library --model models/test-color ARGS` and returns at
    /// once (its output is dropped), for tests that kill it.
    /// Starts the program with these environment variables; its stderr is piped.
    pub fn spawn_with_env(&self, args: &[&str], env: &[(&str, String)]) -> std::process::Child {
        self.command(&test_model(), args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start photo-search")
    }

    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(&test_model(), args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start photo-search")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "photo-search {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).expect("JSON output")
    }
}

pub const COLOURS: &[(&str, [u8; 3])] =
    &[("red", [210, 35, 30]), ("blue", [30, 45, 200]), ("green", [40, 150, 45]), ("yellow", [225, 215, 50])];

/// Writes `count` noisy photos of each colour as `<dir>/<colour><i>.jpg`.
pub fn write_colour_photos(dir: &Path, count: usize) {
    fs::create_dir_all(dir).unwrap();
    for (name, rgb) in COLOURS {
        for i in 0..count {
            let img = RgbImage::from_fn(320, 240, |x, y| {
                let noise = ((x * 7 + y * 13 + i as u32 * 31) % 41) as i32 - 20;
                Rgb(rgb.map(|c| (c as i32 + noise).clamp(0, 255) as u8))
            });
            img.save(dir.join(format!("{name}{i}.jpg"))).unwrap();
        }
    }
}

pub fn hit_names(hits: &serde_json::Value) -> Vec<String> {
    hits.as_array()
        .expect("array of hits")
        .iter()
        .map(|h| Path::new(h["path"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
