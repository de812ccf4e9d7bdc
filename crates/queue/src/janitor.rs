//! The janitor: keeps Redis memory bounded.
//!
//! apalis-redis never forgets a finished task: its payload (`{q}:data`), its
//! meta hash (`{q}:meta:{id}`) and its id in `{q}:done` stay forever (~600 B
//! per task; apalis-redis#10 ran out of memory this way), and a worker's
//! `{q}:workers:metadata:{name}` hash outlives the worker. apalis's own
//! `vacuum()` reads the whole data hash in one blocking call and leaves the
//! rest. The janitor removes all of it in small batches instead. Postgres is
//! the record of what was done; the dead-letter set `{q}:dead` is kept for
//! inspection.
//!
//! Idempotency keys carry the TTL of [`crate::QueueSettings`]; Redis deletes
//! expired keys by itself. The janitor gives a key that has no TTL (written
//! while a queue ran without one) the queue's TTL, a page at a time.

use std::{sync::LazyLock, time::Duration};

use redis::{AsyncCommands, RedisResult, Script, aio::ConnectionManager};
use tokio_util::sync::CancellationToken;

use crate::QueueSettings;

/// Finished tasks forgotten per script call (about a millisecond).
pub const BATCH: usize = 500;

/// Keys looked at per `SCAN` call.
const SCAN_COUNT: usize = 500;

static SWEEP_DONE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("sweep_done.lua")));

/// What one [`sweep`] removed or fixed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Finished tasks whose id, payload and meta were removed.
    pub done: usize,
    /// Metadata hashes of workers no longer registered.
    pub worker_metadata: usize,
    /// Idempotency keys without a TTL that were given one.
    pub idempotency_ttls_set: usize,
}

/// Forgets up to `batch` finished tasks of `queue`; returns how many.
pub async fn sweep_done_batch(conn: &mut ConnectionManager, queue: &str, batch: usize) -> RedisResult<usize> {
    SWEEP_DONE
        .key(format!("{queue}:done"))
        .key(format!("{queue}:data"))
        .arg(format!("{queue}:meta"))
        .arg(batch)
        .invoke_async(conn)
        .await
}

/// One full pass over a queue: every finished task, stale worker metadata
/// and idempotency keys without a TTL, in small calls.
pub async fn sweep(conn: &mut ConnectionManager, settings: &QueueSettings) -> RedisResult<Swept> {
    let queue = settings.queue.as_str();
    let mut swept = Swept::default();
    loop {
        let n = sweep_done_batch(conn, queue, BATCH).await?;
        swept.done += n;
        if n < BATCH {
            break;
        }
        tokio::task::yield_now().await;
    }

    let workers = format!("{queue}:workers");
    let prefix = format!("{queue}:workers:metadata:");
    for key in scan_all(conn, &format!("{prefix}*")).await? {
        let name = &key[prefix.len()..];
        let seen: Option<f64> = conn.zscore(&workers, name).await?;
        if seen.is_none() {
            swept.worker_metadata += conn.del::<_, usize>(&key).await?;
        }
    }

    let ttl = settings.idempotency_ttl.as_secs().max(1) as i64;
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{queue}:idempotency:*"))
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(conn)
            .await?;
        for key in keys {
            // EXPIRE NX: only a key that has no TTL gets one.
            let set: i64 = redis::cmd("EXPIRE").arg(&key).arg(ttl).arg("NX").query_async(conn).await?;
            swept.idempotency_ttls_set += set as usize;
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    Ok(swept)
}

async fn scan_all(conn: &mut ConnectionManager, pattern: &str) -> RedisResult<Vec<String>> {
    let mut out = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(conn)
            .await?;
        out.extend(keys);
        if next == 0 {
            return Ok(out);
        }
        cursor = next;
    }
}

/// Sweeps `queues` every `every` until `stop` is cancelled; errors are logged
/// and retried on the next round. Safe to run in several processes.
pub async fn run(mut conn: ConnectionManager, queues: Vec<QueueSettings>, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        for settings in &queues {
            match sweep(&mut conn, settings).await {
                Ok(s) => tracing::debug!(queue = %settings.queue, ?s, "janitor swept"),
                Err(e) => tracing::warn!(queue = %settings.queue, error = %e, "janitor failed; retrying next round"),
            }
        }
    }
}
