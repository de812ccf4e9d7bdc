//! Registration and heartbeat in `worker_processes`, so operators (and the
//! scheduler's sweepers) can tell live workers from dead ones.

use std::time::Duration;

use store::{PgPool, worker_processes};
use tokio_util::sync::CancellationToken;

/// How often a worker says it is alive: the scheduler takes a worker silent
/// for five of these as dead, and its sends in flight as in doubt.
const HEARTBEAT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct Registry {
    pg: PgPool,
    host: String,
    name: String,
    queues: Vec<String>,
}

impl Registry {
    pub fn new(pg: PgPool, host: String, name: String, queues: Vec<String>) -> Self {
        Self { pg, host, name, queues }
    }

    /// Registers, then beats every second until `stop`. Database errors are
    /// logged and retried on the next beat: a worker keeps working while
    /// Postgres blips.
    pub async fn run(self, stop: CancellationToken) {
        let mut registered = false;
        let mut tick = tokio::time::interval(HEARTBEAT);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let result = if registered {
                worker_processes::heartbeat(&self.pg, &self.name).await
            } else {
                worker_processes::register(&self.pg, &self.name, &self.host, &self.queues).await
            };
            match result {
                Ok(()) => registered = true,
                Err(e) => tracing::warn!(error = %e, "worker heartbeat failed; retrying"),
            }
        }
    }

    pub async fn mark_stopped(&self) {
        if let Err(e) = worker_processes::mark_stopped(&self.pg, &self.name).await {
            tracing::warn!(error = %e, "could not record the worker's stop");
        }
    }
}
