//! The GPU on a machine without one: every build carries the CUDA provider, and ONNX Runtime's
//! real GPU build (onnxruntime-gpu 1.31.1, which setup unpacks into .cache/onnxruntime-gpu)
//! with no GPU and no CUDA libraries indexes on the CPU at the CPU's precision and batch size,
//! says why once, and shows none of ONNX Runtime's C++ internals.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

use std::fs;
use std::path::{Path, PathBuf};

use util::TestDir;

fn gpu_runtime() -> PathBuf {
    let lib = util::repo().join(".cache/onnxruntime-gpu/lib/libonnxruntime.so.1.31.1");
    assert!(lib.is_file(), "{} is missing: run scripts/setup.sh --test", lib.display());
    lib
}

/// test-color with a GPU precision that differs from the CPU's, as the real models have
/// (`default_gpu = "fp16"`, `default_cpu = "int8"`); both name the same tiny graphs.
fn model_with_gpu_precision(t: &TestDir) -> PathBuf {
    let dir = t.path("gpu-model");
    fs::create_dir_all(dir.join("onnx")).unwrap();
    for file in ["tokenizer.json", "onnx/vision_model.onnx", "onnx/text_model.onnx"] {
        fs::copy(util::test_model().join(file), dir.join(file)).unwrap();
    }
    let manifest = fs::read_to_string(util::repo().join("models/test-color.toml")).unwrap();
    let (head, variant) = manifest.split_once("[variants.fp32]").unwrap();
    let variant = variant.split("[query_encoders").next().unwrap();
    let head = head
        .replace("id = \"test-color\"", "id = \"test-gpu\"")
        .replace("default_cpu = \"fp32\"", "default_cpu = \"int8\"")
        .replace("default_gpu = \"fp32\"", "default_gpu = \"fp16\"");
    let manifest = format!(
        "{head}[variants.int8]{}[variants.fp16]{}",
        variant.replace("variants.fp32", "variants.int8"),
        variant.replace("variants.fp32", "variants.fp16")
    );
    fs::write(dir.join("manifest.toml"), manifest).unwrap();
    dir
}

fn with_gpu_runtime(t: &TestDir, model: &Path, args: &[&str]) -> std::process::Output {
    t.command(model, args).env("ORT_DYLIB_PATH", gpu_runtime()).env_remove("RUST_LOG").output().unwrap()
}

#[test]
fn the_default_build_carries_the_cuda_provider() {
    let t = TestDir::new();
    let report = t.json(&["gpu", "--json"]);
    let built: Vec<&str> = report["providers_built"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert!(built.contains(&"CUDA"), "{report}");
    // ONNX Runtime's CPU build has no CUDA provider: nothing to report, nothing said.
    assert_eq!(report["provider"], "CPU");
    assert!(report["gpu_problem"].is_null(), "{report}");
}

#[test]
fn the_gpu_build_without_a_gpu_indexes_on_the_cpu_at_the_cpu_precision() {
    let t = TestDir::new();
    let model = model_with_gpu_precision(&t);
    util::write_colour_photos(&t.path("photos"), 3);
    let out = with_gpu_runtime(&t, &model, &["-v", "index", t.path("photos").to_str().unwrap()]);
    let stderr = util::stderr(&out);
    assert!(out.status.success(), "{stderr}");
    for internal in ["onnxruntime_src", "provider_bridge", "[ONNXRuntimeError]", ".cc:"] {
        assert!(!stderr.contains(internal), "ONNX Runtime's internals ({internal}) in the output:\n{stderr}");
    }
    let said: Vec<&str> = stderr.lines().filter(|l| l.contains("CUDA cannot run")).collect();
    assert_eq!(said.len(), 1, "the fallback is said once:\n{stderr}");
    // The CPU's batch sizes and precision: the tuner's choice is remembered under its key.
    let tuned = fs::read_to_string(t.library().join("cache/batch-sizes.json")).unwrap();
    assert!(tuned.contains("\"test-gpu-int8-CPU-"), "{tuned}");
    let batch: serde_json::Value = serde_json::from_str(&tuned).unwrap();
    let chosen = batch.as_object().unwrap().values().next().unwrap().as_u64().unwrap();
    assert!([4, 8, 16].contains(&chosen), "{tuned}");

    let status = with_gpu_runtime(&t, &model, &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["photos"]["indexed"], 12, "{status}");
    assert_eq!(status["provider"], "CPU");
    assert_eq!(status["model"]["precision"], "int8");
    let why = status["gpu_problem"].as_str().unwrap();
    assert!(why.starts_with("CUDA: ") && !why.contains("onnxruntime_src"), "{why}");
    let text = with_gpu_runtime(&t, &model, &["status"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&format!("provider  CPU ({why})")), "{text}");
}

/// `photo-search gpu --json` with a stand-in `nvidia-smi` that answers `answer`.
fn report_with_driver(t: &TestDir, answer: &str) -> serde_json::Value {
    let bin = t.path("fake-driver");
    fs::create_dir_all(&bin).unwrap();
    let script = bin.join("nvidia-smi");
    fs::write(&script, format!("#!/bin/sh\nprintf '%s\\n' '{answer}'\n")).unwrap();
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = t.bare_command(&["gpu", "--json"]).env("PATH", path).output().unwrap();
    assert!(out.status.success(), "{}", util::stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn an_nvidia_gpu_is_found_through_its_driver_and_offered_the_runtime() {
    let t = TestDir::new();
    let report = report_with_driver(&t, "NVIDIA GeForce RTX 4070, 12282, 581.57, 8.9");
    assert_eq!(report["gpus"][0]["name"], "NVIDIA GeForce RTX 4070", "{report}");
    assert_eq!(report["gpus"][0]["compute_capability"], "8.9");
    assert!(report["problem"].is_null());
    assert_eq!(report["memory_limit"], (12282u64 << 20) / 2);
    assert!(report["download_bytes"].as_u64().unwrap() > 1_000_000_000, "{report}");
    assert!(report["installed"].is_null());
}

#[test]
fn an_old_nvidia_driver_is_named_with_what_to_do() {
    let t = TestDir::new();
    let report = report_with_driver(&t, "NVIDIA GeForce GTX 1080, 8192, 470.82.01");
    let problem = report["problem"].as_str().unwrap();
    assert!(problem.contains("driver 470.82.01 is too old for CUDA 13: update it to 580"), "{problem}");
}

#[test]
fn fp16_embeddings_are_within_cosine_0999_of_fp32_on_the_bench_graphs() {
    // CLIP ViT-B/32's architecture with random weights (scripts/setup.sh --test builds it), run
    // by ONNX Runtime's CPU provider at fp16 and fp32 on real camera photos.
    let model = util::repo().join(".cache/bench-model");
    assert!(
        model.join("onnx/vision_model_fp16.onnx").is_file(),
        "the bench model is missing: run scripts/setup.sh --test"
    );
    let t = TestDir::new();
    let photos = util::shared().join("photos/camera");
    let out = t.run_with_model(&model, &["bench", "precision", photos.to_str().unwrap(), "--limit", "4"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", util::stderr(&out));
    let min: f32 = stdout
        .split("min cosine ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no min cosine in {stdout}"));
    assert!(min >= 0.999, "fp16 strays from fp32: {stdout}");
    assert!(stdout.contains("4 photos"), "{stdout}");
}
