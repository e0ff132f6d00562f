//! What the service tests share: the repository, a library on the colour test model, and
//! waiting for the status to reach a state.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use photo_search_core::EngineOptions;
use photo_search_core::library::Access;
use photo_search_core::models::ModelChoice;
use photo_search_service::api::AppStatus;
use photo_search_service::{Service, ServiceOptions};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// A service on a library at `library` that searches with models/test-color (no background job
/// until one is started or a folder is added).
pub fn colour_service(library: &Path) -> Service {
    let engine =
        EngineOptions::new(library.to_path_buf(), ModelChoice::Dir(repo().join("models/test-color")), Access::Write);
    Service::open(ServiceOptions { engine, background: false }).unwrap()
}

/// Waits (a minute at most) until `done` holds of the status.
pub fn wait_for(service: &Service, what: &str, done: impl Fn(&AppStatus) -> bool) -> AppStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = service.status().unwrap();
        if done(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "{what}: {status:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
