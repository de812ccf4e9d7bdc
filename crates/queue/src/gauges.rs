//! Queue gauges as plain numbers ([`crate::exporter`] exports them). apalis
//! exports only task counters and durations, and apalis-board's Redis stats
//! scripts run ZCARD on sets, so depth, lag and dead letters are read here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::{AsyncCommands, RedisResult, aio::ConnectionManager};

use crate::promoter::now_secs;

/// One queue's state at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QueueGauges {
    /// Ids waiting in the active list.
    pub active: u64,
    /// Ids in the scheduled set (delayed, or pushed and not yet promoted).
    pub scheduled: u64,
    /// Of those, how many are due now (the promoter is behind when this grows).
    pub scheduled_due: u64,
    /// Ids fetched by live or dead workers and not acknowledged.
    pub inflight: u64,
    /// Dead-lettered ids.
    pub dead: u64,
    /// How long the oldest waiting task has waited: the head of the active
    /// list (its ULID holds its creation time) or the oldest due scheduled
    /// task, whichever is older.
    pub oldest_pending_age: Option<Duration>,
}

/// Reads `queue`'s gauges (a few O(1) or O(log n) commands, plus one SCARD
/// per registered worker).
pub async fn queue_gauges(conn: &mut ConnectionManager, queue: &str) -> RedisResult<QueueGauges> {
    let now = now_secs();
    let scheduled_key = format!("{queue}:scheduled");
    let active: u64 = conn.llen(format!("{queue}:active")).await?;
    let scheduled: u64 = conn.zcard(&scheduled_key).await?;
    let scheduled_due: u64 = conn.zcount(&scheduled_key, "-inf", now).await?;
    let dead: u64 = conn.scard(format!("{queue}:dead")).await?;
    let workers: Vec<String> = conn.zrange(format!("{queue}:workers"), 0, -1).await?;
    let mut inflight = 0;
    for w in workers {
        inflight += conn.scard::<_, u64>(format!("{queue}:inflight:{w}")).await?;
    }

    let head: Option<String> = conn.lindex(format!("{queue}:active"), 0).await?;
    let head_age = head.as_deref().and_then(ulid_age);
    let oldest_due: Vec<(String, f64)> = conn.zrangebyscore_limit_withscores(&scheduled_key, "-inf", now, 0, 1).await?;
    let due_age = oldest_due.first().map(|(_, score)| Duration::from_secs(now.saturating_sub(*score as u64)));
    let oldest_pending_age = match (head_age, due_age) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    Ok(QueueGauges { active, scheduled, scheduled_due, inflight, dead, oldest_pending_age })
}

/// The age of a task from its id: apalis task ids are ULIDs, whose first 48
/// bits are the creation time in milliseconds.
fn ulid_age(id: &str) -> Option<Duration> {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    if id.len() != 26 {
        return None;
    }
    let mut ms: u64 = 0;
    for c in id.bytes().take(10) {
        let v = ALPHABET.iter().position(|a| *a == c.to_ascii_uppercase())? as u64;
        ms = (ms << 5) | v;
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_millis() as u64;
    Some(Duration::from_millis(now.saturating_sub(ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ulid_made_now_is_young_and_garbage_has_no_age() {
        let age = ulid_age("01ARZ3NDEKTSV4RRFFQ69G5FAV").expect("a valid ULID"); // 2016
        assert!(age > Duration::from_secs(86_400 * 365));
        assert_eq!(ulid_age("not-a-ulid"), None);
    }
}
