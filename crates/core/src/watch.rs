//! Watching photo folders: file-system events, debounced, turned into paths that are ready to
//! index. A new or changed file is ready only once its size and time have stopped changing (a
//! file being copied is never read half-written); a removal is ready at once. Knows nothing of
//! the catalog.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant, SystemTime};

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, PollWatcher, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, NoCache, RecommendedCache, new_debouncer_opt};

use crate::scan::Excludes;

/// How long a file's size and time must stay the same before it is read.
pub const STABLE_FOR: Duration = Duration::from_millis(1000);
/// Debounce window for raw events.
const DEBOUNCE: Duration = Duration::from_millis(300);
/// Folders the OS cannot watch (watch limit reached) are polled this often.
pub const POLL_INTERVAL: Duration = Duration::from_secs(30);

/// Why folders cannot be watched.
#[allow(missing_docs)] // Each variant is documented by its #[error] message.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot start watching folders")]
    Start(#[source] notify::Error),
    #[error("cannot watch {path}, even by polling")]
    Watch {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },
}

/// Whether an event can mean new, changed or removed content. Opening, reading and closing
/// without writing cannot: and the indexer's own scans open every folder, so heeding them would
/// make each scan schedule the next (a full rescan every tick).
fn can_change_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// What is ready to be indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A file or folder that appeared, changed or disappeared: the indexer looks at what is
    /// there now.
    Path(PathBuf),
    /// Events were lost (queue overflow): this folder must be rescanned.
    Rescan(PathBuf),
}

/// A folder watched by polling instead of OS events, and why.
#[derive(Debug, Clone)]
pub struct PollingFallback {
    /// The folder.
    pub folder: PathBuf,
    /// Why it cannot be watched.
    pub reason: String,
}

struct Pending {
    last: Option<(u64, SystemTime)>,
    since: Instant,
}

/// Watches folders and reports settled paths that changed; polls a folder the OS cannot watch.
pub struct FolderWatcher {
    _native: Debouncer<RecommendedWatcher, RecommendedCache>,
    _polling: Option<Debouncer<PollWatcher, NoCache>>,
    events: Receiver<DebounceEventResult>,
    roots: Vec<PathBuf>,
    excludes: Excludes,
    pending: HashMap<PathBuf, Pending>,
}

impl FolderWatcher {
    /// Watches `folders` recursively. Folders the OS refuses to watch (typically because the
    /// inotify watch limit is exhausted) are polled instead and reported.
    pub fn new(folders: &[PathBuf], excludes: Excludes) -> Result<(Self, Vec<PollingFallback>), WatchError> {
        let (tx, events) = channel();
        let mut native = new_debouncer_opt::<_, RecommendedWatcher, RecommendedCache>(
            DEBOUNCE,
            None,
            tx.clone(),
            RecommendedCache::new(),
            notify::Config::default(),
        )
        .map_err(WatchError::Start)?;
        let mut polling: Option<Debouncer<PollWatcher, NoCache>> = None;
        let mut fallbacks = Vec::new();
        for folder in folders {
            let Err(err) = native.watch(folder, RecursiveMode::Recursive) else { continue };
            if !folder.is_dir() {
                // An offline folder: the indexer reports it; nothing to watch until it is back.
                continue;
            }
            tracing::warn!("cannot watch {} ({err}); polling it every {}s", folder.display(), POLL_INTERVAL.as_secs());
            let poller = match &mut polling {
                Some(p) => p,
                None => polling.insert(
                    new_debouncer_opt::<_, PollWatcher, NoCache>(
                        DEBOUNCE,
                        None,
                        tx.clone(),
                        NoCache,
                        notify::Config::default().with_poll_interval(POLL_INTERVAL),
                    )
                    .map_err(WatchError::Start)?,
                ),
            };
            poller
                .watch(folder, RecursiveMode::Recursive)
                .map_err(|source| WatchError::Watch { path: folder.clone(), source })?;
            fallbacks.push(PollingFallback { folder: folder.clone(), reason: err.to_string() });
        }
        let watcher = FolderWatcher {
            _native: native,
            _polling: polling,
            events,
            roots: folders.to_vec(),
            excludes,
            pending: HashMap::new(),
        };
        Ok((watcher, fallbacks))
    }

    /// Waits up to `timeout` for events, then returns what is ready (possibly nothing); returns
    /// sooner when something is ready and no event came for a moment.
    pub fn next(&mut self, timeout: Duration) -> Vec<Change> {
        let mut changes = Vec::new();
        let deadline = Instant::now() + timeout;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now()).min(Duration::from_millis(100));
            match self.events.recv_timeout(wait) {
                Ok(Ok(events)) => {
                    for event in events {
                        if event.need_rescan() {
                            let root = event.paths.first().and_then(|p| self.root_of(p)).map(Path::to_path_buf);
                            changes.extend(match root {
                                Some(root) => vec![Change::Rescan(root)],
                                None => self.roots.iter().cloned().map(Change::Rescan).collect(),
                            });
                            continue;
                        }
                        if !can_change_content(&event.kind) {
                            continue;
                        }
                        for path in &event.paths {
                            let excluded =
                                self.root_of(path).is_none_or(|root| self.excludes.excludes_path(path, root));
                            if !excluded {
                                self.pending.insert(path.clone(), Pending { last: None, since: Instant::now() });
                            }
                        }
                    }
                }
                Ok(Err(errors)) => {
                    for err in errors {
                        tracing::warn!("watch error: {err}");
                    }
                    changes.extend(self.roots.iter().cloned().map(Change::Rescan));
                }
                Err(RecvTimeoutError::Timeout) => {
                    // A quiet moment with work ready: hand it over now, not at the deadline, so
                    // a burst of copies is indexed as its files settle instead of a tick apart.
                    let ready = self.ready();
                    if !ready.is_empty() || !changes.is_empty() {
                        changes.extend(ready.into_iter().map(Change::Path));
                        break;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        changes.extend(self.ready().into_iter().map(Change::Path));
        changes.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        changes.dedup();
        changes
    }

    fn root_of(&self, path: &Path) -> Option<&Path> {
        self.roots.iter().filter(|r| path.starts_with(r)).max_by_key(|r| r.as_os_str().len()).map(PathBuf::as_path)
    }

    /// Pending paths whose state has settled.
    fn ready(&mut self) -> Vec<PathBuf> {
        let now = Instant::now();
        let mut ready = Vec::new();
        self.pending.retain(|path, pending| {
            let meta = std::fs::metadata(path).ok();
            let current = meta.as_ref().map(|m| (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
            let settled = match &meta {
                // Gone, or a folder (its files are scanned): nothing to wait for.
                None => true,
                Some(m) if m.is_dir() => true,
                Some(_) => current == pending.last && now.duration_since(pending.since) >= STABLE_FOR,
            };
            if settled {
                ready.push(path.clone());
                return false;
            }
            if current != pending.last {
                pending.last = current;
                pending.since = now;
            }
            true
        });
        ready.sort();
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_a_folder_is_not_a_change_but_finishing_a_write_is() {
        assert!(!can_change_content(&EventKind::Access(AccessKind::Open(AccessMode::Any))));
        assert!(!can_change_content(&EventKind::Access(AccessKind::Close(AccessMode::Read))));
        assert!(!can_change_content(&EventKind::Access(AccessKind::Read)));
        assert!(can_change_content(&EventKind::Access(AccessKind::Close(AccessMode::Write))));
        assert!(can_change_content(&EventKind::Create(notify::event::CreateKind::File)));
        assert!(can_change_content(&EventKind::Remove(notify::event::RemoveKind::Any)));
    }

    #[test]
    fn scanning_a_watched_folder_schedules_nothing() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["a", "b", "c"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
            std::fs::write(dir.path().join(sub).join("x.jpg"), b"x").unwrap();
        }
        let root = dir.path().canonicalize().unwrap();
        let (mut watcher, _) = FolderWatcher::new(std::slice::from_ref(&root), Excludes::default()).unwrap();
        // What the indexer does on every run: read every folder and every file's metadata.
        for _ in 0..3 {
            crate::scan::scan(&root, &Excludes::default(), &mut Vec::new()).unwrap();
            for sub in ["a", "b", "c"] {
                std::fs::read(root.join(sub).join("x.jpg")).unwrap();
            }
        }
        let mut changes = Vec::new();
        let until = Instant::now() + STABLE_FOR + Duration::from_millis(1500);
        while Instant::now() < until {
            changes.extend(watcher.next(Duration::from_millis(200)));
        }
        assert!(changes.is_empty(), "reading is not changing: {changes:?}");
        std::fs::write(root.join("a").join("new.jpg"), b"y").unwrap();
        let until = Instant::now() + STABLE_FOR + Duration::from_secs(3);
        while Instant::now() < until && !changes.iter().any(|c| c == &Change::Path(root.join("a").join("new.jpg"))) {
            changes.extend(watcher.next(Duration::from_millis(200)));
        }
        assert!(changes.contains(&Change::Path(root.join("a").join("new.jpg"))), "{changes:?}");
    }
}
