//! Dead letters of one apalis queue, in Redis: list, replay, delete.
//!
//! A task whose handler fails ends `Killed` (our [`crate::JobError`]) and
//! apalis-redis's `handle_results.lua` adds its id to the SET `{q}:dead`,
//! once. Its payload stays in the HASH `{q}:data` and its meta in
//! `{q}:meta:{id}`: `status`, `attempts`, `result` (the last error, as
//! `{"Err": "..."}`) and `done_at` (Unix seconds). apalis-redis 1.0 can
//! neither re-queue nor delete a task (its 1.0 API has no call for either), so this module does,
//! with Lua scripts that touch only ids still in the dead set.
//!
//! Ids are ULIDs: sorted, they are in creation order, which is the order
//! [`list`] pages in. The janitor never touches dead tasks.

use std::{collections::HashMap, sync::LazyLock};

use redis::{RedisResult, Script, aio::ConnectionManager};

/// Ids per script call or pipeline: a call stays around a millisecond.
pub const CHUNK: usize = 1_000;

static REPLAY: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("replay_dead.lua")));
static DELETE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("delete_dead.lua")));

/// One dead task, as apalis left it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadTask {
    pub id: String,
    /// The job as pushed (JSON); `Null` when its payload is gone.
    pub payload: serde_json::Value,
    /// The handler's last error.
    pub last_error: Option<String>,
    /// Runs so far (apalis's count).
    pub attempts: u32,
    /// When it died, in Unix seconds (apalis's clock).
    pub died_at: Option<i64>,
}

/// One page of [`list`]: `next_cursor` is `None` on the last page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeadPage {
    pub tasks: Vec<DeadTask>,
    pub next_cursor: Option<String>,
}

/// How many tasks are dead.
pub async fn count(conn: &mut ConnectionManager, queue: &str) -> RedisResult<u64> {
    redis::cmd("SCARD").arg(format!("{queue}:dead")).query_async(conn).await
}

/// Every dead id, sorted (creation order). Read with `SSCAN`, a page at a
/// time, so a large set never blocks Redis.
pub async fn ids(conn: &mut ConnectionManager, queue: &str) -> RedisResult<Vec<String>> {
    let key = format!("{queue}:dead");
    let mut out = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, page): (u64, Vec<String>) =
            redis::cmd("SSCAN").arg(&key).arg(cursor).arg("COUNT").arg(CHUNK).query_async(conn).await?;
        out.extend(page);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    out.sort_unstable();
    out.dedup(); // SSCAN may return an element twice
    Ok(out)
}

/// The payload and meta of `ids` (dead or not: the caller took them from
/// [`ids`]), one pipeline per [`CHUNK`].
pub async fn get(conn: &mut ConnectionManager, queue: &str, ids: &[String]) -> RedisResult<Vec<DeadTask>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let data: Vec<Option<String>> =
            redis::cmd("HMGET").arg(format!("{queue}:data")).arg(chunk).query_async(conn).await?;
        let mut pipe = redis::pipe();
        for id in chunk {
            pipe.hgetall(format!("{queue}:meta:{id}"));
        }
        let metas: Vec<HashMap<String, String>> = pipe.query_async(conn).await?;
        for ((id, data), meta) in chunk.iter().zip(data).zip(metas) {
            out.push(task(id, data, &meta));
        }
    }
    Ok(out)
}

fn task(id: &str, data: Option<String>, meta: &HashMap<String, String>) -> DeadTask {
    let payload = data
        .map_or(serde_json::Value::Null, |raw| serde_json::from_str(&raw).unwrap_or(serde_json::Value::String(raw)));
    DeadTask {
        id: id.to_owned(),
        payload,
        last_error: meta.get("result").and_then(|r| last_error(r)),
        attempts: meta.get("attempts").and_then(|a| a.parse().ok()).unwrap_or(0),
        died_at: meta.get("done_at").and_then(|t| t.parse().ok()),
    }
}

/// apalis stores a task's result as JSON: `{"Err": "AbortError: ..."}` for
/// our handlers' errors (the prefix says nothing to an operator).
fn last_error(result: &str) -> Option<String> {
    match serde_json::from_str::<serde_json::Value>(result) {
        Ok(serde_json::Value::Object(o)) => match o.get("Err") {
            Some(serde_json::Value::String(e)) => Some(e.strip_prefix("AbortError: ").unwrap_or(e).to_owned()),
            Some(other) => Some(other.to_string()),
            None => None,
        },
        _ => Some(result.to_owned()),
    }
}

/// One dead task; `None` when `id` is not in the dead set.
pub async fn find(conn: &mut ConnectionManager, queue: &str, id: &str) -> RedisResult<Option<DeadTask>> {
    let dead: bool = redis::cmd("SISMEMBER").arg(format!("{queue}:dead")).arg(id).query_async(conn).await?;
    if !dead {
        return Ok(None);
    }
    Ok(get(conn, queue, &[id.to_owned()]).await?.pop())
}

/// Up to `limit` dead tasks with ids after `after`, in id order.
pub async fn list(
    conn: &mut ConnectionManager,
    queue: &str,
    after: Option<&str>,
    limit: usize,
) -> RedisResult<DeadPage> {
    let all = ids(conn, queue).await?;
    let start = after.map_or(0, |a| all.partition_point(|id| id.as_str() <= a));
    let page = &all[start..(start + limit).min(all.len())];
    let next_cursor = (start + page.len() < all.len()).then(|| page.last().cloned()).flatten();
    Ok(DeadPage { tasks: get(conn, queue, page).await?, next_cursor })
}

/// Moves one dead task back to the active list with its attempts reset: a
/// consumer runs it again as if just pushed. `false` when it is not dead.
pub async fn replay(conn: &mut ConnectionManager, queue: &str, id: &str) -> RedisResult<bool> {
    Ok(replay_many(conn, queue, &[id.to_owned()]).await? == 1)
}

/// [`replay`] for many ids, [`CHUNK`] per atomic call; returns how many
/// were dead (and are queued now).
pub async fn replay_many(conn: &mut ConnectionManager, queue: &str, ids: &[String]) -> RedisResult<usize> {
    let mut n = 0;
    for chunk in ids.chunks(CHUNK) {
        let moved: usize = REPLAY
            .key(format!("{queue}:dead"))
            .key(format!("{queue}:active"))
            .key(format!("{queue}:signal"))
            .arg(format!("{queue}:meta"))
            .arg(chunk)
            .invoke_async(conn)
            .await?;
        n += moved;
    }
    Ok(n)
}

/// Replays every dead task of `queue`; returns how many.
pub async fn replay_all(conn: &mut ConnectionManager, queue: &str) -> RedisResult<usize> {
    let all = ids(conn, queue).await?;
    replay_many(conn, queue, &all).await
}

/// Forgets one dead task: its id, payload, meta hash and (when it still
/// names this task) its idempotency key. `false` when it is not dead.
pub async fn delete(conn: &mut ConnectionManager, queue: &str, id: &str) -> RedisResult<bool> {
    Ok(delete_many(conn, queue, &[id.to_owned()]).await? == 1)
}

/// [`delete`] for many ids; returns how many were dead (and are gone).
pub async fn delete_many(conn: &mut ConnectionManager, queue: &str, ids: &[String]) -> RedisResult<usize> {
    let mut n = 0;
    for chunk in ids.chunks(CHUNK) {
        let deleted: usize = DELETE
            .key(format!("{queue}:dead"))
            .key(format!("{queue}:data"))
            .arg(format!("{queue}:meta"))
            .arg(format!("{queue}:idempotency"))
            .arg(chunk)
            .invoke_async(conn)
            .await?;
        n += deleted;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_error_is_read_from_apalis_result_json() {
        assert_eq!(last_error(r#"{"Err":"AbortError: it failed"}"#).as_deref(), Some("it failed"));
        assert_eq!(last_error(r#"{"Err":"Timeout"}"#).as_deref(), Some("Timeout"));
        assert_eq!(last_error(r#"{"Ok":null}"#), None);
        assert_eq!(last_error("plain text").as_deref(), Some("plain text"));
    }
}
