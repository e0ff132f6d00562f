//! The background job: one at a time whatever the callers do.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

#[test]
fn racing_starts_of_the_background_job_leave_exactly_one_job() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for (i, rgb) in [[220u8, 20, 20], [20, 30, 220], [30, 200, 40]].iter().enumerate() {
        image::RgbImage::from_pixel(64, 48, image::Rgb(*rgb)).save(photos.join(format!("{i}.jpg"))).unwrap();
    }
    let service = util::colour_service(&dir.path().join("library"));
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
    util::wait_for(&service, "indexing", |s| s.photos.indexed >= 3);
    service.stop_background();
    assert_eq!(service.running_jobs(), 0, "stopping leaves no job behind");
    service.close();
}
