//! Exporting a set of results: their files copied into a folder in the background, with
//! progress in the status (one export at a time).

use std::path::PathBuf;

use photo_search_core::export;

use crate::api::{ApiError, ErrorKind, ExportPhase, ExportState};
use crate::{Service, lock};

/// Photos one export may hold.
const MAX_EXPORT: usize = 100_000;

impl Service {
    /// Starts copying the files of `ids` into `folder`; the status follows it.
    pub fn export_photos(&self, ids: &[i64], folder: &str) -> Result<(), ApiError> {
        let folder = PathBuf::from(folder.trim());
        if folder.as_os_str().is_empty() || !folder.is_absolute() {
            return Err(ApiError::bad_request("choose a folder (a full path) to export into"));
        }
        if ids.is_empty() || ids.len() > MAX_EXPORT {
            return Err(ApiError::bad_request(format!("select between 1 and {MAX_EXPORT} photos to export")));
        }
        let engine = self.engine()?;
        let mut files = Vec::with_capacity(ids.len());
        for id in ids {
            let photo = engine
                .photo_details(*id)?
                .ok_or_else(|| ApiError::not_found(format!("photo {id} is not in the library")))?;
            files.push(photo.path);
        }
        drop(engine);
        {
            let mut state = lock(&self.shared.export);
            if state.phase == ExportPhase::Running {
                return Err(ApiError::bad_request("an export is running; wait for it to finish"));
            }
            *state = ExportState {
                phase: ExportPhase::Running,
                folder: Some(folder.display().to_string()),
                total: files.len() as u32,
                ..Default::default()
            };
        }
        self.changed();
        let service = self.clone();
        std::thread::Builder::new()
            .name("export".into())
            .spawn(move || {
                let result = export::export(&files, &folder, &mut |done, _, _| {
                    lock(&service.shared.export).done = done as u32;
                    service.changed();
                });
                {
                    let mut state = lock(&service.shared.export);
                    match result {
                        Ok(summary) => {
                            state.phase =
                                if summary.failed.is_empty() { ExportPhase::Done } else { ExportPhase::Failed };
                            state.copied = summary.copied.len() as u32;
                            state.already_there = summary.already_there as u32;
                            state.failed =
                                summary.failed.iter().map(|(f, why)| format!("{}: {why}", f.display())).collect();
                        }
                        Err(err) => {
                            state.phase = ExportPhase::Failed;
                            state.failed = vec![err.to_string()];
                        }
                    }
                }
                service.changed();
            })
            .map_err(|e| ApiError::new(ErrorKind::Internal, format!("cannot start the export: {e}")))?;
        Ok(())
    }
}
