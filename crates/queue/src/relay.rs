//! The outbox relay: pushes `job_outbox` rows to their Redis queue.
//!
//! A state change and the job it needs are written in one Postgres
//! transaction; Redis may be down then. The relay pushes each unpushed row
//! under an idempotency key made of its `dedupe_key` and creation time
//! (`store::outbox::OutboxJob::idempotency_key`) and then marks it
//! pushed. A crash between the two pushes the row again later, and two
//! relays may push the same rows concurrently: the idempotency key (which
//! works only with a TTL set, see [`crate::QueueSettings`]) makes every
//! repeat a no-op, so each row becomes exactly one task while its key lives.

use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_redis::RedisStorage;
use redis::aio::ConnectionManager;
use serde_json::Value;
use sqlx::PgPool;

use crate::QueueSettings;

/// Rows read and pushed per round trip.
pub const BATCH: i64 = 200;

/// Why a relay round stopped; the rows stay unpushed and are retried.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("reading or marking the outbox failed")]
    Db(#[from] sqlx::Error),
    #[error("pushing to queue {queue} failed: {message}")]
    Push { queue: String, message: String },
}

/// Pushes outbox rows to Redis. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Relay {
    db: PgPool,
    routes: Vec<(String, RedisStorage<Value>)>,
    kinds: Vec<String>,
}

impl Relay {
    /// A relay for the given outbox kinds (`job_outbox.queue`, e.g.
    /// [`crate::Job::OUTBOX_KIND`]) and their queues' settings. Rows of other
    /// kinds are left unpushed (a newer process may know them).
    pub fn new(db: PgPool, conn: ConnectionManager, routes: impl IntoIterator<Item = (String, QueueSettings)>) -> Self {
        let routes: Vec<_> = routes.into_iter().map(|(kind, s)| (kind, s.storage::<Value>(conn.clone()))).collect();
        let kinds = routes.iter().map(|(k, _)| k.clone()).collect();
        Self { db, routes, kinds }
    }

    /// Pushes one batch of unpushed rows; returns how many rows it pushed
    /// (0: nothing waits).
    pub async fn relay_batch(&mut self) -> Result<usize, RelayError> {
        let rows = store::outbox::unpushed(&self.db, &self.kinds, BATCH).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        for (kind, storage) in &mut self.routes {
            let tasks: Vec<_> = rows
                .iter()
                .filter(|r| r.queue == *kind)
                .map(|r| TaskBuilder::new(r.payload.clone()).idempotency_key(r.idempotency_key()).build())
                .collect();
            if tasks.is_empty() {
                continue;
            }
            storage.push_all(futures::stream::iter(tasks)).await.map_err(|e| RelayError::Push {
                queue: storage.get_config().queue.to_string(),
                message: e.to_string(),
            })?;
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        store::outbox::mark_pushed(&self.db, &ids).await?;
        Ok(rows.len())
    }

    /// Pushes until nothing waits; returns how many rows it pushed.
    pub async fn relay_all(&mut self) -> Result<usize, RelayError> {
        let mut total = 0;
        loop {
            let n = self.relay_batch().await?;
            total += n;
            if n < BATCH as usize {
                return Ok(total);
            }
        }
    }
}
