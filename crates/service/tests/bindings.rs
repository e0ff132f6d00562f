//! `ui/src/bindings.ts` is what the Rust API types generate. Regenerate it with
//! `UPDATE_BINDINGS=1 cargo test -p photo-search-service --test bindings`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

use std::path::PathBuf;

#[test]
fn typescript_bindings_are_up_to_date() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/bindings.ts");
    let generated = photo_search_service::api::typescript_bindings();
    if std::env::var_os("UPDATE_BINDINGS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date with crates/service/src/api.rs: run \
         `UPDATE_BINDINGS=1 cargo test -p photo-search-service --test bindings` and commit the result",
        path.display()
    );
}
