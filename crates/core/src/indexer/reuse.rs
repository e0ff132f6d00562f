//! Known content: a new path whose content (its sampled hash) belongs to a photo that is gone is
//! that photo moved; one whose content is already indexed is a copy. Each worker looks its file
//! up here before decoding it, so no pass reads every new file before decoding starts.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use super::{IndexRun, IndexerError};
use crate::prepare::file_content_hash;

/// What a new file turned out to be, without decoding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reuse {
    /// The gone photo of this id, at its new path: its vector is kept.
    Moved(i64),
    /// A copy of the indexed photo of this id: its vector is copied.
    Copy(i64),
    /// A copy of a file first seen in this run: done once that one is encoded.
    Later([u8; 32]),
}

/// The content a run already knows, shared by its workers.
pub(super) struct KnownContent {
    /// Per work item: whether the catalog does not know its path (only those can be reused).
    new: Vec<bool>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    gone_by_hash: HashMap<[u8; 32], Vec<i64>>,
    moved: HashSet<i64>,
    first_seen: HashSet<[u8; 32]>,
}

impl KnownContent {
    /// What `run` knows before it starts: the contents of the photos that are gone (from the
    /// catalog: no file is read), and which of `work_len` items are new paths.
    pub(super) fn new(run: &IndexRun<'_>, gone: &[i64], new: &[usize], work_len: usize) -> Result<Self, IndexerError> {
        let mut state = State::default();
        for (id, hash) in run.lock_catalog().hashes(gone)? {
            state.gone_by_hash.entry(hash).or_default().push(id);
        }
        let mut is_new = vec![false; work_len];
        for &i in new {
            if let Some(flag) = is_new.get_mut(i) {
                *flag = true;
            }
        }
        Ok(KnownContent { new: is_new, state: Mutex::new(state) })
    }

    /// What work item `i` (at `path`) is when its content is known; `None`: decode and encode
    /// it. A file that cannot be read is left to the decoder, which records why.
    pub(super) fn look_up(&self, run: &IndexRun<'_>, i: usize, path: &Path) -> Result<Option<Reuse>, IndexerError> {
        if !self.new.get(i).copied().unwrap_or(false) {
            return Ok(None);
        }
        let Ok(hash) = file_content_hash(path) else { return Ok(None) };
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = state.gone_by_hash.get_mut(&hash).and_then(Vec::pop) {
            state.moved.insert(id);
            return Ok(Some(Reuse::Moved(id)));
        }
        if state.first_seen.contains(&hash) {
            return Ok(Some(Reuse::Later(hash)));
        }
        if let Some(source) = run.lock_catalog().indexed_with_hash(&hash, run.model_id)? {
            return Ok(Some(Reuse::Copy(source)));
        }
        state.first_seen.insert(hash);
        Ok(None)
    }

    /// Of `gone`, the photos no new path turned out to be.
    pub(super) fn still_gone(&self, gone: Vec<i64>) -> Vec<i64> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        gone.into_iter().filter(|id| !state.moved.contains(id)).collect()
    }
}
