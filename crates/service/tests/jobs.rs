//! The background job: one at a time whatever the callers do.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use photo_search_core::EngineOptions;
use photo_search_core::library::Access;
use photo_search_core::models::ModelChoice;
use photo_search_service::{Service, ServiceOptions};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

#[test]
fn racing_starts_of_the_background_job_leave_exactly_one_job() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for (i, rgb) in [[220u8, 20, 20], [20, 30, 220], [30, 200, 40]].iter().enumerate() {
        image::RgbImage::from_pixel(64, 48, image::Rgb(*rgb)).save(photos.join(format!("{i}.jpg"))).unwrap();
    }
    let engine = EngineOptions::new(
        dir.path().join("library"),
        ModelChoice::Dir(repo().join("models/test-color")),
        Access::Write,
    );
    let service = Service::open(ServiceOptions { engine, background: false }).unwrap();
    service.add_folder(photos.to_str().unwrap()).unwrap();
    for _ in 0..5 {
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let service = service.clone();
                scope.spawn(move || service.start_background());
            }
        });
        assert_eq!(service.running_jobs(), 1, "exactly one job after racing starts");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while service.status().unwrap().photos.indexed < 3 {
        assert!(Instant::now() < deadline, "indexing did not finish");
        std::thread::sleep(Duration::from_millis(100));
    }
    service.stop_background();
    assert_eq!(service.running_jobs(), 0, "stopping leaves no job behind");
    service.close();
}
