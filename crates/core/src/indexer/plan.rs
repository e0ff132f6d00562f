//! Planning a run: what is on disk compared with what the catalog knows. Unchanged files are
//! never opened; files under a subfolder that cannot be read are kept, not taken for deleted.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::{IndexRun, IndexerError, Work};
use crate::api::{PhotoStatus, Progress};
use crate::catalog::{Folder, KnownFile};
use crate::scan::{self, ScanProblem, ScannedFile};

/// What a scan found to do.
#[derive(Default)]
pub(super) struct Plan {
    /// Files to read and encode.
    pub work: Vec<Work>,
    /// Of `work`, the indexes of files whose path the catalog does not know (maybe moved).
    pub new: Vec<usize>,
    /// Photos whose file is gone.
    pub gone: Vec<i64>,
    /// Files already indexed and unchanged.
    pub unchanged: u64,
    /// Every path already classified: watched paths overlap (a folder and a file inside it).
    seen: HashSet<PathBuf>,
}

impl Plan {
    /// Compares what is on disk (`files`) with what the catalog knows of the same place.
    pub fn classify(&mut self, folder_id: i64, files: Vec<ScannedFile>, known: &HashMap<PathBuf, KnownFile>) {
        let on_disk: HashSet<&PathBuf> = files.iter().map(|f| &f.path).collect();
        for (path, k) in known {
            if !on_disk.contains(path) && self.seen.insert(path.clone()) {
                self.gone.push(k.id);
            }
        }
        for file in files {
            if !self.seen.insert(file.path.clone()) {
                continue;
            }
            match known.get(&file.path) {
                Some(k) if k.size == file.size && k.mtime_ns == file.mtime_ns && is_settled(k) => self.unchanged += 1,
                Some(_) => self.work.push((folder_id, file)),
                None => {
                    self.new.push(self.work.len());
                    self.work.push((folder_id, file));
                }
            }
        }
    }
}

/// An unchanged file needs nothing when it has its vector, or failed for a reason that will
/// not pass by itself (or whose retry is not due yet).
fn is_settled(k: &KnownFile) -> bool {
    match k.status {
        PhotoStatus::Indexed => k.has_vector,
        PhotoStatus::Failed => !k.retry_due,
    }
}

/// Takes out of `known` the files under paths the scan could not read (kept, not gone), and
/// returns those paths with the reason.
fn keep_unreadable(known: &mut HashMap<PathBuf, KnownFile>, problems: Vec<ScanProblem>) -> Vec<(PathBuf, String)> {
    let mut unreadable = Vec::new();
    for problem in problems {
        tracing::warn!("cannot read {}: {}; its photos are kept", problem.path.display(), problem.message);
        known.retain(|path, _| !path.starts_with(&problem.path));
        unreadable.push((problem.path, problem.message));
    }
    unreadable
}

impl IndexRun<'_> {
    /// Scans every folder and compares with the catalog. Unreadable folders, and unreadable
    /// subfolders, are marked offline and keep their photos.
    pub(super) fn plan(&self, folders: &[Folder], progress: &mut dyn FnMut(Progress)) -> Result<Plan, IndexerError> {
        let mut plan = Plan::default();
        for folder in folders {
            progress(Progress::Scanning { folder: folder.path.clone() });
            let mut problems = Vec::new();
            let files = match scan::scan(&folder.path, self.excludes, &mut problems) {
                Ok(files) => files,
                Err(err) => {
                    let reason = std::error::Error::source(&err).map_or(err.to_string(), |s| s.to_string());
                    self.lock_catalog().set_offline(folder.id, true)?;
                    progress(Progress::FolderUnavailable { folder: folder.path.clone(), reason });
                    continue;
                }
            };
            if folder.offline {
                self.lock_catalog().set_offline(folder.id, false)?;
            }
            let mut known = self.lock_catalog().known_files(folder.id, self.model_id)?;
            let unreadable = keep_unreadable(&mut known, problems);
            for (path, reason) in &unreadable {
                progress(Progress::FolderUnavailable { folder: path.clone(), reason: reason.clone() });
            }
            self.lock_catalog().set_offline_dirs(folder.id, &unreadable)?;
            plan.classify(folder.id, files, &known);
        }
        Ok(plan)
    }

    /// Plans the watcher's paths: the file system is read first, then the catalog is asked
    /// about every path under one lock, each lookup a range of the path index.
    pub(super) fn plan_paths(&self, folders: &[Folder], paths: &[PathBuf]) -> Result<Plan, IndexerError> {
        let mut looked_at = Vec::new();
        for path in paths {
            let Some(folder) =
                folders.iter().filter(|f| path.starts_with(&f.path)).max_by_key(|f| f.path.as_os_str().len())
            else {
                continue;
            };
            if path != &folder.path && self.excludes.excludes_path(path, &folder.path) {
                continue;
            }
            let mut problems = Vec::new();
            let files = if path.is_dir() {
                match scan::scan(path, self.excludes, &mut problems) {
                    Ok(files) => files,
                    Err(err) => {
                        // Unreadable right now: keep what the catalog has, look again later.
                        tracing::warn!("{err}");
                        continue;
                    }
                }
            } else {
                match std::fs::metadata(path) {
                    Ok(meta) if meta.is_file() && scan::is_photo_name(path) => {
                        vec![ScannedFile::new(path.clone(), &meta)]
                    }
                    _ => Vec::new(),
                }
            };
            looked_at.push((folder.id, path.as_path(), files, problems));
        }
        let mut known_by_path = Vec::with_capacity(looked_at.len());
        {
            let catalog = self.lock_catalog();
            for (folder_id, path, ..) in &looked_at {
                known_by_path.push(catalog.known_files_under(*folder_id, path, self.model_id)?);
            }
        }
        let mut plan = Plan::default();
        for ((folder_id, _, files, problems), mut known) in looked_at.into_iter().zip(known_by_path) {
            keep_unreadable(&mut known, problems);
            plan.classify(folder_id, files, &known);
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> ScannedFile {
        ScannedFile { path: path.into(), size: 1, mtime_ns: 1 }
    }

    fn known(id: i64, status: PhotoStatus, retry_due: bool) -> KnownFile {
        KnownFile { id, size: 1, mtime_ns: 1, status, has_vector: status == PhotoStatus::Indexed, retry_due }
    }

    #[test]
    fn overlapping_watched_paths_plan_each_file_once() {
        let mut plan = Plan::default();
        let known = HashMap::new();
        // The watcher reported a new folder and a file inside it.
        plan.classify(1, vec![file("/p/trip/x.jpg"), file("/p/trip/y.jpg")], &known);
        plan.classify(1, vec![file("/p/trip/x.jpg")], &known);
        assert_eq!(plan.work.len(), 2);
        assert_eq!(plan.new, vec![0, 1]);
    }

    #[test]
    fn a_failure_is_retried_only_when_its_retry_is_due() {
        let mut plan = Plan::default();
        let known: HashMap<PathBuf, KnownFile> = [
            ("/p/a.jpg".into(), known(1, PhotoStatus::Failed, false)),
            ("/p/b.jpg".into(), known(2, PhotoStatus::Failed, true)),
            ("/p/c.jpg".into(), known(3, PhotoStatus::Indexed, false)),
        ]
        .into();
        plan.classify(1, vec![file("/p/a.jpg"), file("/p/b.jpg"), file("/p/c.jpg")], &known);
        assert_eq!(plan.work.iter().map(|(_, f)| f.path.clone()).collect::<Vec<_>>(), vec![PathBuf::from("/p/b.jpg")]);
        assert_eq!(plan.unchanged, 2);
    }

    #[test]
    fn photos_under_an_unreadable_subfolder_are_not_gone() {
        let mut known: HashMap<PathBuf, KnownFile> = [
            ("/p/locked/a.jpg".into(), known(1, PhotoStatus::Indexed, false)),
            ("/p/open/b.jpg".into(), known(2, PhotoStatus::Indexed, false)),
        ]
        .into();
        let problems = vec![ScanProblem { path: "/p/locked".into(), message: "Permission denied".into() }];
        let unreadable = keep_unreadable(&mut known, problems);
        assert_eq!(unreadable.len(), 1);
        let mut plan = Plan::default();
        plan.classify(1, vec![], &known);
        assert_eq!(plan.gone, vec![2], "only the photo whose folder was read and found empty is gone");
    }
}
