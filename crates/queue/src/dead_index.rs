//! Whose each dead task is: an index kept beside an apalis queue's dead set,
//! so one organization's dead letters are listed and counted in time
//! proportional to the page, never by reading the whole deployment's dead
//! set and looking every owner up.
//!
//! - `{q}:dead:owner`: HASH task id → the owning organization's id (`0`:
//!   nobody, e.g. the campaign was deleted);
//! - `{q}:dead:by:{org}`: ZSET of that organization's dead task ids, all at
//!   score 0, so `ZRANGE … BYLEX` pages them in id (= creation) order;
//! - `{q}:dead:indexed`: set once every task that was dead before the index
//!   existed has been indexed.
//!
//! A task is indexed by the worker whose handler gave up on it, right before
//! apalis marks it dead; a replay, a delete or the retention trim forgets it.
//! An entry whose task is not dead is skipped by a page, and forgotten once
//! the task is gone from the queue (replayed by other means and finished).

use redis::{RedisResult, aio::ConnectionManager};

fn owner_key(queue: &str) -> String {
    format!("{queue}:dead:owner")
}

fn org_key(queue: &str, org: i64) -> String {
    format!("{queue}:dead:by:{org}")
}

/// The marker of a completed backfill.
pub fn indexed_key(queue: &str) -> String {
    format!("{queue}:dead:indexed")
}

/// Records that task `id` of `queue` (about to be dead) is `org`'s.
pub async fn add(conn: &mut ConnectionManager, queue: &str, id: &str, org: Option<i64>) -> RedisResult<()> {
    let org = org.unwrap_or(0);
    redis::pipe()
        .hset(owner_key(queue), id, org)
        .ignore()
        .zadd(org_key(queue, org), id, 0)
        .ignore()
        .query_async(conn)
        .await
}

/// Forgets tasks (replayed, deleted or trimmed).
pub async fn forget(conn: &mut ConnectionManager, queue: &str, ids: &[String]) -> RedisResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let owners: Vec<Option<i64>> = redis::cmd("HMGET").arg(owner_key(queue)).arg(ids).query_async(conn).await?;
    let mut pipe = redis::pipe();
    for (id, owner) in ids.iter().zip(owners) {
        if let Some(org) = owner {
            pipe.zrem(org_key(queue, org), id).ignore();
        }
    }
    pipe.hdel(owner_key(queue), ids).ignore();
    pipe.query_async(conn).await
}

/// Up to `limit` of `org`'s dead task ids after `after`, in id order.
pub async fn page(
    conn: &mut ConnectionManager,
    queue: &str,
    org: i64,
    after: Option<&str>,
    limit: usize,
) -> RedisResult<Vec<String>> {
    let min = after.map_or_else(|| "-".to_owned(), |a| format!("({a}"));
    redis::cmd("ZRANGE")
        .arg(org_key(queue, org))
        .arg(min)
        .arg("+")
        .arg("BYLEX")
        .arg("LIMIT")
        .arg(0)
        .arg(limit)
        .query_async(conn)
        .await
}

/// How many dead tasks `org` has in `queue`.
pub async fn count(conn: &mut ConnectionManager, queue: &str, org: i64) -> RedisResult<u64> {
    redis::cmd("ZCARD").arg(org_key(queue, org)).query_async(conn).await
}

/// Whether the backfill of tasks dead before the index has run.
pub async fn is_backfilled(conn: &mut ConnectionManager, queue: &str) -> RedisResult<bool> {
    redis::cmd("EXISTS").arg(indexed_key(queue)).query_async(conn).await
}
