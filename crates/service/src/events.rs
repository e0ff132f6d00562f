//! Status events: every change marks the status dirty; one thread sends a snapshot to each
//! subscriber at most every 250 ms.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use crate::api::AppStatus;
use crate::{EVENT_INTERVAL, Service, lock};

impl Service {
    /// A stream of status snapshots: one now, then one (at most every 250 ms) after each change.
    pub fn subscribe(&self) -> Receiver<AppStatus> {
        let (tx, rx) = channel();
        // The receiver is in hand, so the first snapshot cannot fail to send.
        if let Ok(status) = self.status()
            && tx.send(status).is_err()
        {
            tracing::debug!("a status subscriber left before its first snapshot");
        }
        lock(&self.shared.subscribers).push(tx);
        rx
    }

    pub(crate) fn changed(&self) {
        let (flag, cvar) = &self.shared.dirty;
        *lock(flag) = true;
        cvar.notify_one();
    }

    pub(crate) fn spawn_notifier(&self) {
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
                    if lock(&service.shared.subscribers).is_empty() {
                        continue;
                    }
                    if let Ok(status) = service.status() {
                        lock(&service.shared.subscribers).retain(|tx| tx.send(status.clone()).is_ok());
                    }
                    drop(service);
                    std::thread::sleep(EVENT_INTERVAL);
                }
            })
            .expect("spawn the status thread");
    }
}
