//! The exact signed-int8 rewrite of uint8-weight graphs, on the graph made by
//! tests/reference/make_quint8_graph.py: identical outputs, cached, made again when damaged.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::TensorRef;
use photo_search_core::signed::{rewrite, signed_graph};

fn graph() -> PathBuf {
    util::repo().join("tests/reference/quint8/graph.onnx")
}

/// Outputs of the graph at `path` for a fixed batch of 4 inputs.
fn run(path: &Path) -> Vec<f32> {
    let runtime =
        photo_search_core::runtime::load(Path::new("/nonexistent")).expect("ONNX Runtime (setup installs it)");
    let mut session = Session::builder(&runtime.env).unwrap().commit_from_file(path).unwrap();
    let mut state = 7u64;
    let input: Vec<f32> = (0..4 * 3 * 8 * 8)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect();
    let tensor = TensorRef::from_array_view(([4usize, 3, 8, 8], input.as_slice())).unwrap();
    let outputs = session.run(ort::inputs!["pixels" => tensor]).unwrap();
    outputs["embeds"].try_extract_tensor::<f32>().unwrap().1.to_vec()
}

#[test]
fn the_rewrite_is_exact_and_leaves_shared_weights_alone() {
    let source = std::fs::read(graph()).unwrap();
    let (signed, nodes) = rewrite(&source).unwrap();
    // The ConvInteger and three MatMulIntegers; not the one whose weight a DequantizeLinear reads.
    assert_eq!(nodes, 4);
    let dir = tempfile::tempdir().unwrap();
    let signed_path = dir.path().join("signed.onnx");
    std::fs::write(&signed_path, &signed).unwrap();
    let (before, after) = (run(&graph()), run(&signed_path));
    assert_eq!(before.len(), 32);
    assert!(before.iter().any(|v| *v != 0.0));
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&before), bits(&after), "the signed graph must compute exactly the same");
    // Nothing is left to rewrite.
    assert_eq!(rewrite(&signed).unwrap().1, 0);
}

#[test]
fn the_rewrite_is_cached_and_made_again_when_damaged() {
    let cache = tempfile::tempdir().unwrap();
    let sha = "ab".repeat(32);
    let first = signed_graph(&graph(), &sha, cache.path()).unwrap();
    assert_ne!(first, graph());
    assert!(first.starts_with(cache.path()));
    let made = std::fs::metadata(&first).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(signed_graph(&graph(), &sha, cache.path()).unwrap(), first);
    assert_eq!(std::fs::metadata(&first).unwrap().modified().unwrap(), made, "the cached rewrite is reused");

    let mut bytes = std::fs::read(&first).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&first, &bytes).unwrap();
    assert_eq!(signed_graph(&graph(), &sha, cache.path()).unwrap(), first);
    assert_eq!(std::fs::read(&first).unwrap(), rewrite(&std::fs::read(graph()).unwrap()).unwrap().0, "made again");
}

#[test]
fn a_graph_without_uint8_weights_is_used_as_it_is() {
    let cache = tempfile::tempdir().unwrap();
    let fp32 = util::repo().join("models/test-color/onnx/vision_model.onnx");
    let sha = "cd".repeat(32);
    assert_eq!(signed_graph(&fp32, &sha, cache.path()).unwrap(), fp32);
    assert_eq!(signed_graph(&fp32, &sha, cache.path()).unwrap(), fp32, "and remembered as such");
}

#[test]
fn a_damaged_graph_is_an_error_not_a_panic() {
    let source = std::fs::read(graph()).unwrap();
    assert!(rewrite(&source[..source.len() / 2]).is_err());
    assert!(rewrite(b"\xff\xff\xff").is_err());
}
