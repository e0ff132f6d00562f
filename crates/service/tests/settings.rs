//! The model is the library's: the app's choice is recorded in the library (and an older app's
//! setting moves there), so the CLI, `serve` and the app all open the same model.

use std::path::PathBuf;

use photo_search_core::EngineOptions;
use photo_search_core::library::Access;
use photo_search_core::models::{DEFAULT_MODEL, ModelChoice};
use photo_search_service::api::SettingsUpdate;
use photo_search_service::{Service, ServiceOptions};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn open(library: &std::path::Path) -> Service {
    // As the app opens a library: no model given.
    let engine = EngineOptions::new(library.to_path_buf(), ModelChoice::Library, Access::Write);
    Service::open(ServiceOptions { engine, background: false }).unwrap()
}

fn choose(service: &Service, model_dir: &str) {
    let update = SettingsUpdate { excludes: None, model_dir: Some(model_dir.into()), threads: None, workers: None };
    service.update_settings(&update).unwrap();
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
