//! Dead letters of the apalis queues (launch, send, report): the Redis dead
//! set, filtered by owner for an organization. A job is an organization's
//! when the campaign (`campaign_id`) or report (`report_id`) it names is.

use std::collections::HashSet;

use chrono::DateTime;

use super::{DeadLetter, DeadLetterPage, DeadLetters, Result, Scope, next_cursor};
use crate::dead::{self, DeadTask};

/// Tasks read per round trip while filtering.
const SCAN: usize = 200;

pub(super) async fn count(dl: &DeadLetters, queue: &str, scope: Scope) -> Result<u64> {
    let mut conn = dl.conn();
    let Scope::Org(_) = scope else {
        return Ok(dead::count(&mut conn, queue).await?);
    };
    let ids = dead::ids(&mut conn, queue).await?;
    let mut n = 0;
    for chunk in ids.chunks(SCAN) {
        let tasks = dead::get(&mut conn, queue, chunk).await?;
        n += owned(dl, scope, &tasks).await?.into_iter().filter(|o| *o).count() as u64;
    }
    Ok(n)
}

pub(super) async fn list(
    dl: &DeadLetters,
    queue: &str,
    scope: Scope,
    cursor: Option<&str>,
    limit: usize,
) -> Result<DeadLetterPage> {
    let mut conn = dl.conn();
    let ids = dead::ids(&mut conn, queue).await?;
    let mut pos = cursor.map_or(0, |c| ids.partition_point(|id| id.as_str() <= c));
    // One item more than the page, so the last page has no cursor even when
    // other organizations' tasks follow it.
    let mut items = Vec::new();
    while pos < ids.len() && items.len() <= limit {
        let want = limit + 1 - items.len();
        let end = (pos + want.max(SCAN)).min(ids.len());
        let tasks = dead::get(&mut conn, queue, &ids[pos..end]).await?;
        let keep = owned(dl, scope, &tasks).await?;
        for (task, keep) in tasks.into_iter().zip(keep) {
            pos += 1;
            if keep {
                items.push(letter(task));
                if items.len() > limit {
                    break;
                }
            }
        }
    }
    let more = items.len() > limit;
    items.truncate(limit);
    let last = items.last().map(|i: &DeadLetter| i.id.clone());
    Ok(DeadLetterPage { next_cursor: next_cursor(last.as_deref(), more), items })
}

pub(super) async fn replay(dl: &DeadLetters, queue: &str, scope: Scope, id: &str) -> Result<bool> {
    let mut conn = dl.conn();
    if !visible(dl, queue, scope, id).await? {
        return Ok(false);
    }
    Ok(dead::replay(&mut conn, queue, id).await?)
}

pub(super) async fn replay_all(dl: &DeadLetters, queue: &str, scope: Scope) -> Result<u64> {
    let mut conn = dl.conn();
    let ids = match scope {
        Scope::Deployment => dead::ids(&mut conn, queue).await?,
        Scope::Org(_) => owned_ids(dl, queue, scope).await?,
    };
    Ok(dead::replay_many(&mut conn, queue, &ids).await? as u64)
}

pub(super) async fn delete(dl: &DeadLetters, queue: &str, scope: Scope, id: &str) -> Result<bool> {
    let mut conn = dl.conn();
    if !visible(dl, queue, scope, id).await? {
        return Ok(false);
    }
    Ok(dead::delete(&mut conn, queue, id).await?)
}

/// Whether `id` is dead and, for an organization, its own.
async fn visible(dl: &DeadLetters, queue: &str, scope: Scope, id: &str) -> Result<bool> {
    let Some(task) = dead::find(&mut dl.conn(), queue, id).await? else {
        return Ok(false);
    };
    Ok(owned(dl, scope, &[task]).await?.first().copied().unwrap_or(false))
}

/// The ids of every dead task the scope owns.
async fn owned_ids(dl: &DeadLetters, queue: &str, scope: Scope) -> Result<Vec<String>> {
    let mut conn = dl.conn();
    let ids = dead::ids(&mut conn, queue).await?;
    let mut out = Vec::new();
    for chunk in ids.chunks(SCAN) {
        let tasks = dead::get(&mut conn, queue, chunk).await?;
        let keep = owned(dl, scope, &tasks).await?;
        out.extend(tasks.into_iter().zip(keep).filter(|(_, k)| *k).map(|(t, _)| t.id));
    }
    Ok(out)
}

/// For each task, whether the scope owns it: always for the deployment; for
/// an organization, when the campaign or report its payload names is its.
async fn owned(dl: &DeadLetters, scope: Scope, tasks: &[DeadTask]) -> Result<Vec<bool>> {
    let Scope::Org(org) = scope else {
        return Ok(vec![true; tasks.len()]);
    };
    let field = |t: &DeadTask, name: &str| t.payload.get(name).and_then(serde_json::Value::as_i64);
    let campaign_ids: Vec<i64> = tasks.iter().filter_map(|t| field(t, "campaign_id")).collect();
    let report_ids: Vec<i64> = tasks.iter().filter_map(|t| field(t, "report_id")).collect();
    let campaigns: HashSet<i64> = if campaign_ids.is_empty() {
        HashSet::new()
    } else {
        store::owners::campaigns_of(&dl.pg, org, &campaign_ids).await?.into_iter().collect()
    };
    let reports: HashSet<i64> = if report_ids.is_empty() {
        HashSet::new()
    } else {
        store::owners::reports_of(&dl.pg, org, &report_ids).await?.into_iter().collect()
    };
    Ok(tasks
        .iter()
        .map(|t| match (field(t, "campaign_id"), field(t, "report_id")) {
            (Some(c), _) => campaigns.contains(&c),
            (None, Some(r)) => reports.contains(&r),
            (None, None) => false,
        })
        .collect())
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
