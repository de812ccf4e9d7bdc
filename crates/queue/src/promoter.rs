//! The promoter: moves due tasks from `{q}:scheduled` to `{q}:active` in
//! slices.
//!
//! Every apalis-redis push lands in the scheduled set (score = run time in
//! seconds), and `fetch_next.lua` promotes *all* due ids with one
//! `RPUSH … unpack(ids)`: from about 8,000 due ids Lua fails with "too many
//! results to unpack", every fetch errors and the queue is wedged for good.
//! Running this often keeps the due part of the scheduled set small, so
//! `fetch_next` only ever finds a few ids to promote.

use std::{
    sync::LazyLock,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use redis::{RedisResult, Script, aio::ConnectionManager};
use tokio_util::sync::CancellationToken;

/// Ids moved per script call: far below the ~8,000 unpack limit, and a call
/// stays well under a millisecond of Redis time.
pub const SLICE: usize = 1_000;

/// How often [`run`] looks for due tasks. Together with the push rate this
/// bounds how many can be due when a worker fetches.
pub const INTERVAL: Duration = Duration::from_millis(50);

static PROMOTE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("promote.lua")));

/// Seconds since the epoch, from this host's clock: the clock apalis-redis
/// scores scheduled tasks with.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// Moves one slice of `queue`'s due tasks; returns how many moved.
pub async fn promote_slice(conn: &mut ConnectionManager, queue: &str, slice: usize) -> RedisResult<usize> {
    PROMOTE
        .key(format!("{queue}:scheduled"))
        .key(format!("{queue}:active"))
        .key(format!("{queue}:signal"))
        .arg(now_secs())
        .arg(slice)
        .invoke_async(conn)
        .await
}

/// Moves every due task of `queue`, one slice per call (other commands run
/// between slices); returns how many moved.
pub async fn promote_due(conn: &mut ConnectionManager, queue: &str) -> RedisResult<usize> {
    let mut total = 0;
    loop {
        let moved = promote_slice(conn, queue, SLICE).await?;
        total += moved;
        if moved < SLICE {
            return Ok(total);
        }
    }
}

/// Promotes `queues` every [`INTERVAL`] until `stop` is cancelled. Errors
/// (Redis down) are logged and retried on the next round: the promoter must
/// outlive any Redis outage. Several processes may run it at once: each
/// slice is atomic.
pub async fn run(mut conn: ConnectionManager, queues: Vec<String>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        for queue in &queues {
            match promote_due(&mut conn, queue).await {
                Ok(n) => {
                    if failing {
                        tracing::info!(queue, "promoter recovered");
                        failing = false;
                    }
                    if n > 0 {
                        tracing::trace!(queue, promoted = n, "promoted due tasks");
                    }
                }
                Err(e) if !failing => {
                    tracing::warn!(queue, error = %e, "promoter failed; retrying");
                    failing = true;
                }
                Err(_) => {}
            }
        }
    }
}
