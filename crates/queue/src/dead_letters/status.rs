//! Dead letters of the status queue: `webhook_events` rows with `failed_at`
//! set (an event that failed 5 claims). An organization sees the events
//! about its numbers.

use super::{DeadLetter, DeadLetterError, DeadLetterPage, DeadLetters, Result, Scope, next_cursor};

pub(super) async fn list(dl: &DeadLetters, scope: Scope, cursor: Option<&str>, limit: usize) -> Result<DeadLetterPage> {
    let after = match cursor {
        None => 0,
        Some(c) => c.parse().map_err(|_| DeadLetterError::InvalidCursor(c.to_owned()))?,
    };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX - 1);
    let mut rows = store::webhook_events::failed(&dl.pg, scope.org(), after, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let items: Vec<DeadLetter> = rows
        .into_iter()
        .map(|e| DeadLetter {
            id: e.id.to_string(),
            // Stored only after it parsed as JSON; shown as text otherwise.
            payload: serde_json::from_slice(&e.payload)
                .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&e.payload).into_owned())),
            last_error: e.last_error,
            attempts: i64::from(e.attempts),
            failed_at: Some(e.failed_at),
        })
        .collect();
    let last = items.last().map(|i| i.id.clone());
    Ok(DeadLetterPage { next_cursor: next_cursor(last.as_deref(), more), items })
}

/// Replays the event `id` (or every one): claimed again by the next consumer.
pub(super) async fn replay(dl: &DeadLetters, scope: Scope, id: Option<&str>) -> Result<u64> {
    let id = match id {
        None => None,
        Some(id) => match id.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => return Ok(0),
        },
    };
    Ok(store::webhook_events::replay_failed(&dl.pg, scope.org(), id).await?)
}

pub(super) async fn delete(dl: &DeadLetters, scope: Scope, id: &str) -> Result<bool> {
    let Ok(id) = id.parse::<i64>() else {
        return Ok(false);
    };
    Ok(store::webhook_events::delete_failed(&dl.pg, scope.org(), id).await?)
}
