//! The model is the library's: the app's choice is recorded in the library (and an older app's
//! setting moves there), so the CLI, `serve` and the app all open the same model.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

use photo_search_core::EngineOptions;
use photo_search_core::library::Access;
use photo_search_core::models::{DEFAULT_MODEL, ModelChoice};
use photo_search_service::api::{IndexPhase, QueryTerm, SearchRequest, SettingsUpdate};
use photo_search_service::{Service, ServiceOptions};
use util::{repo, wait_for};

mod util;

fn open(library: &std::path::Path) -> Service {
    // As the app opens a library: no model given.
    let engine = EngineOptions::new(library.to_path_buf(), ModelChoice::Library, Access::Write);
    Service::open(ServiceOptions { engine, background: false }).unwrap()
}

fn choose(service: &Service, model_dir: &str) {
    let update = SettingsUpdate { model_dir: Some(model_dir.into()), ..Default::default() };
    service.update_settings(&update).unwrap();
}

/// The first page of results for one text.
fn text_query(text: &str, limit: u32) -> SearchRequest {
    SearchRequest {
        terms: vec![QueryTerm::Text { text: text.into(), weight: 1.0 }],
        filters: Default::default(),
        limit,
        offset: 0,
        literal: false,
        collapse: false,
    }
}

/// Where the wide photo (red ends, blue middle) ranks for "red": third under a model that
/// squashes (test-squash), with the blue ones under one that center-crops (test-color).
fn wide_rank(service: &Service) -> usize {
    let hits = service.search(&text_query("red", 20)).unwrap().hits;
    hits.iter().position(|h| h.path.ends_with("wide.jpg")).unwrap()
}

#[test]
fn an_older_apps_model_folder_moves_into_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("library");
    std::fs::create_dir_all(&library).unwrap();
    let test_color = repo().join("models/test-color");
    let legacy = serde_json::json!({ "model_dir": test_color, "threads": 1 });
    std::fs::write(library.join("app-settings.json"), legacy.to_string()).unwrap();

    let service = open(&library);
    assert_eq!(service.status().unwrap().model.id, "test-color");
    assert_eq!(service.settings().unwrap().model_dir, Some(test_color.display().to_string()));
    let settings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(library.join("app-settings.json")).unwrap()).unwrap();
    assert!(settings.get("model_dir").is_none(), "{settings}");
    assert_eq!(settings["threads"], 1, "the other settings stay");
    service.close();
    // The CLI's view of the same library.
    assert_eq!(photo_search_core::library::active_model(&library), Some(ModelChoice::Dir(test_color)));
}

#[test]
fn choosing_a_model_in_the_app_is_the_librarys_choice() {
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("library");
    let service = open(&library);
    assert_eq!(service.status().unwrap().model.id, DEFAULT_MODEL, "a new library starts on the default model");
    let test_color = repo().join("models/test-color");
    choose(&service, test_color.to_str().unwrap());
    assert_eq!(service.status().unwrap().model.id, "test-color");
    service.close();
    drop(service);

    let service = open(&library);
    assert_eq!(service.status().unwrap().model.id, "test-color", "reopened on the library's model");
    choose(&service, "");
    assert_eq!(service.status().unwrap().model.id, DEFAULT_MODEL);
    assert_eq!(service.settings().unwrap().model_dir, None);
    service.close();
    assert_eq!(photo_search_core::library::active_model(&library), Some(ModelChoice::Id(DEFAULT_MODEL.into())));
}

#[test]
fn switching_models_keeps_search_answering_from_the_old_one_until_the_new_one_covers_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("library");
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for (i, rgb) in [[210u8, 35, 30], [30, 45, 200], [40, 150, 45], [210, 40, 35]].iter().enumerate() {
        image::RgbImage::from_pixel(96, 64, image::Rgb(*rgb)).save(photos.join(format!("{i}.jpg"))).unwrap();
    }
    let wide = image::RgbImage::from_fn(900, 300, |x, _| {
        image::Rgb(if (300..600).contains(&x) { [30, 45, 200] } else { [210, 35, 30] })
    });
    wide.save(photos.join("wide.jpg")).unwrap();
    let (color, squash) = (repo().join("models/test-color"), repo().join("models/test-squash"));

    let service = open(&library);
    choose(&service, color.to_str().unwrap());
    service.add_folder(photos.to_str().unwrap()).unwrap();
    wait_for(&service, "indexed with test-color", |s| {
        s.indexing.phase == IndexPhase::Watching && s.photos.indexed == 5
    });
    assert!(wide_rank(&service) > 2);

    // Paused, the switch cannot progress: searches answer from test-color meanwhile.
    service.pause();
    choose(&service, squash.to_str().unwrap());
    let status = service.status().unwrap();
    assert_eq!(status.model.id, "test-color");
    assert!(status.switching_to.as_deref().is_some_and(|name| name.contains("squash")), "{status:?}");
    assert!(wide_rank(&service) > 2, "searches still use test-color");
    let settings = service.settings().unwrap();
    let next = settings.models.iter().find(|m| m.id == "test-squash").unwrap();
    assert!(next.switching_to && !next.searching, "{settings:?}");
    assert!(service.remove_model_vectors("test-squash").is_err(), "the model being built keeps its vectors");

    service.resume();
    let status = wait_for(&service, "switched to test-squash", |s| s.switching_to.is_none());
    assert_eq!(status.model.id, "test-squash");
    assert_eq!(wide_rank(&service), 2, "searches use test-squash once it covers the library");

    // Back to test-color: its vectors still cover the library, so at once and re-encoding nothing.
    choose(&service, color.to_str().unwrap());
    let status = service.status().unwrap();
    assert_eq!((status.model.id.as_str(), status.switching_to.as_deref()), ("test-color", None));
    assert!(wide_rank(&service) > 2);
    let status = wait_for(&service, "watching again", |s| s.indexing.phase == IndexPhase::Watching);
    assert_eq!(status.indexing.queued, 0, "no photo was re-encoded");

    // The other model's vectors can go; the one in use keeps its own.
    let settings = service.remove_model_vectors("test-squash").unwrap();
    assert_eq!(settings.models.iter().find(|m| m.id == "test-squash").map_or(0, |m| m.vectors), 0);
    let counts = settings.models.iter().find(|m| m.id == "test-color").map(|m| (m.vectors, m.searching));
    assert_eq!(counts, Some((5, true)));
    assert!(service.remove_model_vectors("test-color").is_err());

    // Queries in German through test-color's multilingual query encoder, over the same vectors.
    let update = SettingsUpdate { query_encoder: Some("multilingual".into()), ..Default::default() };
    let settings = service.update_settings(&update).unwrap();
    assert_eq!(settings.query_encoder.as_deref(), Some("multilingual"));
    assert_eq!(settings.query_encoders.iter().map(|q| q.id.as_str()).collect::<Vec<_>>(), ["multilingual"]);
    let hits = service.search(&text_query("rote", 2)).unwrap().hits;
    assert!(hits.iter().all(|h| h.path.ends_with("0.jpg") || h.path.ends_with("3.jpg")), "{hits:?}");
    service.close();
}
