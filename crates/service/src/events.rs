//! Status events: every change marks the status dirty; one thread turns the marks into a
//! snapshot at most every 250 ms and publishes it on a `tokio::sync::watch` channel, which every
//! subscriber (the desktop window, each event stream of the server) reads without a thread of
//! its own.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;

use crate::api::{ApiError, AppStatus, ErrorKind};
use crate::{EVENT_INTERVAL, Service, lock};

/// Status snapshots as they change; `None` only before the first one.
pub type StatusUpdates = watch::Receiver<Option<AppStatus>>;

impl Service {
    /// Status snapshots: the current one at once, then one (at most every 250 ms) after each
    /// change. A slow reader sees the latest snapshot, never a backlog.
    pub fn subscribe(&self) -> StatusUpdates {
        let mut updates = self.shared.status.subscribe();
        if let Ok(status) = self.status() {
            self.shared.status.send_replace(Some(status));
        }
        updates.mark_changed();
        updates
    }

    pub(crate) fn changed(&self) {
        let (flag, cvar) = &self.shared.dirty;
        *lock(flag) = true;
        cvar.notify_one();
    }

    pub(crate) fn spawn_notifier(&self) -> Result<(), ApiError> {
        let weak = Arc::downgrade(&self.shared);
        std::thread::Builder::new()
            .name("status-events".into())
            .spawn(move || {
                loop {
                    let Some(shared) = weak.upgrade() else { return };
                    {
                        let (flag, cvar) = &shared.dirty;
                        let mut dirty = lock(flag);
                        while !*dirty && !shared.closed.load(Ordering::Relaxed) {
                            dirty = cvar
                                .wait_timeout(dirty, Duration::from_secs(1))
                                .map_or_else(|p| p.into_inner().0, |r| r.0);
                            if Arc::strong_count(&shared) == 1 {
                                return;
                            }
                        }
                        *dirty = false;
                    }
                    if shared.closed.load(Ordering::Relaxed) {
                        return;
                    }
                    let service = Service { shared };
                    if service.shared.status.receiver_count() > 0
                        && let Ok(status) = service.status()
                    {
                        service.shared.status.send_replace(Some(status));
                    }
                    drop(service);
                    std::thread::sleep(EVENT_INTERVAL);
                }
            })
            .map(drop)
            .map_err(|e| ApiError::new(ErrorKind::Internal, format!("cannot start the status thread: {e}")))
    }
}
