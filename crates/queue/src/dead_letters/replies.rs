//! Dead letters of the reply queue: `inbound_messages` rows with `dead_at`
//! set (delivery to the bot flow failed its last attempt). The row is the
//! record; the reply job also left a dead task in Redis, which a replay
//! drops. Replies are never deleted: a message is the contact's
//! conversation, not a job.

use std::{collections::HashSet, time::Duration};

use apalis::prelude::{TaskBuilder, TaskSink};
use serde_json::json;

use super::{DeadLetter, DeadLetterPage, DeadLetters, DeadQueue, Result, Scope, next_cursor};
use crate::{QueueSettings, ReplyJob, dead};

/// Messages replayed per statement, and reply jobs due per second: a large
/// replay never leaves thousands of tasks due at once (the apalis wedge).
const BATCH: usize = 1_000;

pub(super) async fn list(dl: &DeadLetters, scope: Scope, cursor: Option<&str>, limit: usize) -> Result<DeadLetterPage> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX - 1);
    let mut rows = store::inbound::dead(&dl.pg, scope.org(), cursor.unwrap_or(""), limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let items: Vec<DeadLetter> = rows
        .into_iter()
        .map(|m| DeadLetter {
            payload: json!({
                "wamid": m.wamid, "org_id": m.org_id, "from": m.from_wa_id, "route": m.route,
                "campaign_id": m.campaign_id, "bot_flow_id": m.bot_flow_id, "received_at": m.received_at,
                "message": m.message,
            }),
            id: m.wamid,
            last_error: m.last_error,
            attempts: i64::from(m.route_attempts),
            failed_at: Some(m.dead_at),
        })
        .collect();
    let last = items.last().map(|i| i.id.clone());
    Ok(DeadLetterPage { next_cursor: next_cursor(last.as_deref(), more), items })
}

/// Replays the message `wamid` (or every dead one), [`BATCH`] at a time:
/// the rows become due again with no attempts, and a reply job is pushed
/// for each (no idempotency key: the first push's key may still live), the
/// k-th batch due k seconds from now. A push lost to a Redis failure is
/// pushed again by the scheduler's sweep. Returns how many were replayed.
pub(super) async fn replay(dl: &DeadLetters, scope: Scope, wamid: Option<&str>) -> Result<u64> {
    let settings = QueueSettings { queue: dl.task_queue(DeadQueue::Reply), ..QueueSettings::for_job::<ReplyJob>() };
    let mut storage = settings.storage::<ReplyJob>(dl.conn());
    let mut replayed = HashSet::new();
    for second in 0u64.. {
        let delay = Duration::from_secs(second);
        let wamids = store::inbound::replay_dead(&dl.pg, scope.org(), wamid, delay, BATCH as i64).await?;
        let tasks: Vec<_> = wamids
            .iter()
            .map(|w| {
                let task = TaskBuilder::new(ReplyJob { wamid: w.clone() });
                if second == 0 { task.build() } else { task.run_after(delay).build() }
            })
            .collect();
        if tasks.is_empty() {
            break;
        }
        if let Err(e) = storage.push_all(futures::stream::iter(tasks)).await {
            tracing::warn!(error = %e, n = wamids.len(), "pushing replayed replies failed; the sweeper pushes them");
        }
        let n = wamids.len();
        replayed.extend(wamids);
        if n < BATCH || wamid.is_some() {
            break;
        }
    }
    forget_dead_jobs(dl, &replayed).await?;
    Ok(replayed.len() as u64)
}

/// Drops the reply queue's dead tasks for these messages: they are being
/// delivered again, and their row is the record.
async fn forget_dead_jobs(dl: &DeadLetters, wamids: &HashSet<String>) -> Result<()> {
    if wamids.is_empty() {
        return Ok(());
    }
    let queue = dl.task_queue(DeadQueue::Reply);
    let mut conn = dl.conn();
    let ids = dead::ids(&mut conn, &queue).await?;
    for chunk in ids.chunks(dead::CHUNK) {
        let tasks = dead::get(&mut conn, &queue, chunk).await?;
        let ours: Vec<String> = tasks
            .into_iter()
            .filter(|t| t.payload.get("wamid").and_then(|w| w.as_str()).is_some_and(|w| wamids.contains(w)))
            .map(|t| t.id)
            .collect();
        dead::delete_many(&mut conn, &queue, &ours).await?;
    }
    Ok(())
}
