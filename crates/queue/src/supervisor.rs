//! Restarts a worker whose backend failed, with back-off, under a new name.
//!
//! In apalis 1.0 any Redis error (a timeout, Redis restarting, a script
//! error) puts the backend in `Dead` and the worker returns
//! `WorkerError::BackendError`. apalis's `Monitor` restarts it at once under
//! the *same* name, which `register_worker.lua` refuses while the old name's
//! heartbeat is recent ("worker is still active within threshold"), so it
//! spins. We restart with exponential back-off and a fresh name instead; the
//! old name's in-flight tasks go back to the queue after the orphan window.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use apalis::prelude::WorkerError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A worker that ran this long without failing restarts from the shortest
/// back-off again.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Runs one worker slot again and again until cancelled.
#[derive(Debug, Clone)]
pub struct Supervisor {
    min_backoff: Duration,
    max_backoff: Duration,
    restarts: Arc<AtomicU64>,
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::new(Duration::from_millis(200), Duration::from_secs(10))
    }
}

impl Supervisor {
    /// Back-off doubles from `min` to `max` between consecutive failures.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self { min_backoff: min, max_backoff: max.max(min), restarts: Arc::default() }
    }

    /// How many times a worker was restarted so far (all slots of this
    /// supervisor and its clones).
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// Calls `start(restart)` and awaits the worker it returns, until `stop`
    /// is cancelled. `restart` counts the starts of this slot (0 first): put
    /// it in the worker's name ([`crate::worker_name`]) so each start is
    /// unique. The worker should stop when `stop` is cancelled (build it with
    /// [`until_cancelled`]); its graceful shutdown is awaited.
    pub async fn run<F, Fut>(&self, label: &str, stop: CancellationToken, mut start: F)
    where
        F: FnMut(u64) -> Fut,
        Fut: Future<Output = Result<(), WorkerError>>,
    {
        let mut backoff = self.min_backoff;
        let mut restart = 0;
        while !stop.is_cancelled() {
            let started = Instant::now();
            let outcome = start(restart).await;
            if stop.is_cancelled() {
                break;
            }
            match outcome {
                Ok(()) => tracing::warn!(worker = label, "worker stopped on its own; restarting"),
                Err(e) => tracing::error!(worker = label, error = %e, ?backoff, "worker failed; restarting"),
            }
            if started.elapsed() >= HEALTHY_RUN {
                backoff = self.min_backoff;
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(self.max_backoff);
            restart += 1;
            self.restarts.fetch_add(1, Ordering::Relaxed);
        }
        tracing::info!(worker = label, "worker stopped");
    }
}

/// The shutdown signal for `Worker::run_until`: completes when `stop` is
/// cancelled. In-flight tasks then finish and fetched-but-unstarted ones go
/// back to the queue.
pub async fn until_cancelled(stop: CancellationToken) -> Result<(), std::io::Error> {
    stop.cancelled().await;
    Ok(())
}
