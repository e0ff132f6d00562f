//! Shared helpers for integration tests: the repository and `../shared` locations.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// The shared test data beside the checkout (real photos, bad inputs, the CLIP tokenizer).
pub fn shared() -> PathBuf {
    let dir = repo().join("../shared");
    assert!(dir.is_dir(), "test data folder {} is missing (it sits beside the checkout)", dir.display());
    dir
}
