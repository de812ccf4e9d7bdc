//! Dead letters of the apalis queues (launch, send, report): the Redis dead
//! set. A job is an organization's when the campaign (`campaign_id`) or
//! report (`report_id`) it names is; an organization's are found through the
//! owner index ([`crate::dead_index`]), the deployment's by reading the set.

use chrono::DateTime;

use super::{DeadLetter, DeadLetterPage, DeadLetters, Replayed, Result, Scope, next_cursor};
use crate::{
    QueueSettings, SendJob,
    apalis::prelude::{TaskBuilder, TaskSink},
    dead::{self, DeadTask},
    dead_index,
};

/// Tasks read per round trip.
const SCAN: usize = 200;

pub(super) async fn count(dl: &DeadLetters, queue: &str, scope: Scope) -> Result<u64> {
    let mut conn = dl.conn();
    match scope {
        Scope::Deployment => Ok(dead::count(&mut conn, queue).await?),
        Scope::Org(org) => {
            backfill(dl, queue).await?;
            Ok(dead_index::count(&mut conn, queue, org.0).await?)
        }
    }
}

pub(super) async fn list(
    dl: &DeadLetters,
    queue: &str,
    scope: Scope,
    cursor: Option<&str>,
    limit: usize,
) -> Result<DeadLetterPage> {
    let mut conn = dl.conn();
    let Scope::Org(org) = scope else {
        let page = dead::list(&mut conn, queue, cursor, limit).await?;
        return Ok(DeadLetterPage {
            items: page.tasks.into_iter().map(letter).collect(),
            next_cursor: page.next_cursor,
        });
    };
    backfill(dl, queue).await?;
    // One more than the page, so the last page has no cursor; entries whose
    // task is no longer dead are forgotten and the page filled from further on.
    let mut items = Vec::new();
    let mut after = cursor.map(str::to_owned);
    while items.len() <= limit {
        let ids = dead_index::page(&mut conn, queue, org.0, after.as_deref(), limit + 1 - items.len()).await?;
        let Some(last) = ids.last().cloned() else { break };
        let dead: Vec<bool> = {
            let mut pipe = redis::pipe();
            for id in &ids {
                pipe.sismember(format!("{queue}:dead"), id);
            }
            pipe.query_async(&mut conn).await?
        };
        let (live, not_dead): (Vec<_>, Vec<_>) = ids.into_iter().zip(dead).partition(|(_, d)| *d);
        forget_finished(&mut conn, queue, not_dead.into_iter().map(|(id, _)| id).collect()).await?;
        let live: Vec<String> = live.into_iter().map(|(id, _)| id).collect();
        items.extend(dead::get(&mut conn, queue, &live).await?.into_iter().map(letter));
        after = Some(last);
    }
    let more = items.len() > limit;
    items.truncate(limit);
    let last = items.last().map(|i: &DeadLetter| i.id.clone());
    Ok(DeadLetterPage { next_cursor: next_cursor(last.as_deref(), more), items })
}

/// Forgets the index entries of tasks that are not dead and are gone from
/// the queue (replayed by other means, then finished and swept). One that
/// still exists is kept: it may be the task whose handler just indexed it
/// and that apalis is about to mark dead.
async fn forget_finished(conn: &mut redis::aio::ConnectionManager, queue: &str, ids: Vec<String>) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    for id in &ids {
        pipe.hexists(format!("{queue}:data"), id);
    }
    let exists: Vec<bool> = pipe.query_async(conn).await?;
    let gone: Vec<String> = ids.into_iter().zip(exists).filter(|(_, e)| !e).map(|(id, _)| id).collect();
    dead_index::forget(conn, queue, &gone).await?;
    Ok(())
}

/// Replays one dead task. A send is a ledger row too: the row goes back to
/// the queue (unless its message may have gone out) and a fresh job is pushed
/// for it; other jobs go back to their queue as they were.
pub(super) async fn replay(dl: &DeadLetters, queue: &str, scope: Scope, id: &str) -> Result<Replayed> {
    let mut conn = dl.conn();
    let Some(task) = visible(dl, queue, scope, id).await? else { return Ok(Replayed::NotFound) };
    if queue.ends_with(<SendJob as crate::Job>::QUEUE) {
        return replay_send(dl, queue, task).await;
    }
    let replayed = dead::replay(&mut conn, queue, id).await?;
    dead_index::forget(&mut conn, queue, &[id.to_owned()]).await?;
    Ok(if replayed { Replayed::Replayed } else { Replayed::NotFound })
}

async fn replay_send(dl: &DeadLetters, queue: &str, task: DeadTask) -> Result<Replayed> {
    let mut conn = dl.conn();
    let Ok(job) = serde_json::from_value::<SendJob>(task.payload.clone()) else {
        return Ok(Replayed::Refused {
            code: "unreadable_job",
            message: "the dead job's payload is not a send".into(),
        });
    };
    use store::recipients::Replay;
    let refused = |code, message: String| Ok(Replayed::Refused { code, message });
    match store::recipients::replay_failed(&dl.pg, job.campaign_id, job.contact_id).await? {
        Replay::Queued(key) => {
            let settings = QueueSettings { queue: queue.to_owned(), ..QueueSettings::for_job::<SendJob>() };
            let fresh = SendJob::new(key.campaign_id, key.contact_id, key.dispatch.unwrap_or_default());
            settings
                .storage::<SendJob>(conn.clone())
                .push_task(TaskBuilder::new(fresh).build())
                .await
                .map_err(|e| super::DeadLetterError::Push(e.to_string()))?;
            dead::delete(&mut conn, queue, &task.id).await?;
            dead_index::forget(&mut conn, queue, &[task.id]).await?;
            Ok(Replayed::Replayed)
        }
        Replay::MayHaveGoneOut => refused(
            "may_have_been_sent",
            "the message may have been sent (its outcome is unknown): sending it again could duplicate it".into(),
        ),
        Replay::CampaignNotActive => refused("campaign_not_active", "the campaign is no longer sending".into()),
        Replay::NotFailed { state } => {
            refused("recipient_not_failed", format!("the recipient is {state} now: there is nothing to send again"))
        }
        Replay::NoRow => refused("recipient_gone", "the recipient is no longer in the campaign's ledger".into()),
    }
}

pub(super) async fn replay_all(dl: &DeadLetters, queue: &str, scope: Scope) -> Result<u64> {
    let mut conn = dl.conn();
    let ids = match scope {
        Scope::Deployment => dead::ids(&mut conn, queue).await?,
        Scope::Org(org) => {
            backfill(dl, queue).await?;
            let mut ids = Vec::new();
            loop {
                let page = dead_index::page(&mut conn, queue, org.0, ids.last().map(String::as_str), 1_000).await?;
                if page.is_empty() {
                    break;
                }
                ids.extend(page);
            }
            ids
        }
    };
    let mut n = 0;
    for id in ids {
        if matches!(replay(dl, queue, scope, &id).await?, Replayed::Replayed) {
            n += 1;
        }
    }
    Ok(n)
}

pub(super) async fn delete(dl: &DeadLetters, queue: &str, scope: Scope, id: &str) -> Result<bool> {
    let mut conn = dl.conn();
    if visible(dl, queue, scope, id).await?.is_none() {
        return Ok(false);
    }
    let deleted = dead::delete(&mut conn, queue, id).await?;
    dead_index::forget(&mut conn, queue, &[id.to_owned()]).await?;
    Ok(deleted)
}

/// The dead task `id` when the scope may see it.
async fn visible(dl: &DeadLetters, queue: &str, scope: Scope, id: &str) -> Result<Option<DeadTask>> {
    let Some(task) = dead::find(&mut dl.conn(), queue, id).await? else {
        return Ok(None);
    };
    let Scope::Org(org) = scope else { return Ok(Some(task)) };
    let owner = owners(dl, std::slice::from_ref(&task)).await?;
    Ok((owner.first().copied().flatten() == Some(org.0)).then_some(task))
}

/// Records whose a task is, as its handler gives up on it (before apalis
/// marks it dead), so the organization's listing finds it.
pub(super) async fn index(dl: &DeadLetters, queue: &str, id: &str, payload: &serde_json::Value) -> Result<()> {
    let task = DeadTask { id: id.to_owned(), payload: payload.clone(), last_error: None, attempts: 0, died_at: None };
    let owner = owners(dl, std::slice::from_ref(&task)).await?.first().copied().flatten();
    dead_index::add(&mut dl.conn(), queue, id, owner).await?;
    Ok(())
}

/// Indexes, once per queue, the tasks that were dead before the index existed.
async fn backfill(dl: &DeadLetters, queue: &str) -> Result<()> {
    let mut conn = dl.conn();
    if dead_index::is_backfilled(&mut conn, queue).await? {
        return Ok(());
    }
    let ids = dead::ids(&mut conn, queue).await?;
    for chunk in ids.chunks(SCAN) {
        let tasks = dead::get(&mut conn, queue, chunk).await?;
        for (task, owner) in tasks.iter().zip(owners(dl, &tasks).await?) {
            dead_index::add(&mut conn, queue, &task.id, owner).await?;
        }
    }
    let _: () = redis::cmd("SET").arg(dead_index::indexed_key(queue)).arg(1).query_async(&mut conn).await?;
    Ok(())
}

/// The owning organization of each task: the one of the campaign or report its payload names.
async fn owners(dl: &DeadLetters, tasks: &[DeadTask]) -> Result<Vec<Option<i64>>> {
    let field = |t: &DeadTask, name: &str| t.payload.get(name).and_then(serde_json::Value::as_i64);
    let campaigns: Vec<Option<i64>> = tasks.iter().map(|t| field(t, "campaign_id")).collect();
    let reports: Vec<Option<i64>> = tasks.iter().map(|t| field(t, "report_id")).collect();
    let (by_campaign, by_report) = store::owners::orgs_of(&dl.pg, &campaigns, &reports).await?;
    Ok(by_campaign.into_iter().zip(by_report).map(|(c, r)| c.or(r)).collect())
}

/// Forgets dead tasks that died before `before` (Unix seconds); returns how many.
pub(super) async fn trim(dl: &DeadLetters, queue: &str, before: i64) -> Result<u64> {
    let mut conn = dl.conn();
    let ids = dead::ids(&mut conn, queue).await?;
    let mut old = Vec::new();
    for chunk in ids.chunks(SCAN) {
        let tasks = dead::get(&mut conn, queue, chunk).await?;
        old.extend(tasks.into_iter().filter(|t| t.died_at.is_some_and(|at| at < before)).map(|t| t.id));
    }
    let n = dead::delete_many(&mut conn, queue, &old).await?;
    dead_index::forget(&mut conn, queue, &old).await?;
    Ok(n as u64)
}

fn letter(task: DeadTask) -> DeadLetter {
    DeadLetter {
        id: task.id,
        payload: task.payload,
        last_error: task.last_error,
        attempts: i64::from(task.attempts),
        failed_at: task.died_at.and_then(|s| DateTime::from_timestamp(s, 0)),
    }
}
