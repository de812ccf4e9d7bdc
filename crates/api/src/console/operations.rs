//! Operations (admins): each queue's depth and oldest waiting age, and the
//! organization's dead letters per queue, with their payload and last
//! error, to replay or delete — the API's `/v1/dead-letters`.

use askama::Template;
use axum::{
    Form,
    extract::{Path, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use axum_extra::extract::cookie::CookieJar;
use queue::{
    DeadQueue, Scope,
    dead_letters::{Deleted, Replayed},
};

use super::{
    i18n,
    pages::{Frame, maybe_when, render},
    session::{self, Rejection, Signed},
};
use crate::{error::ApiError, routes::dead_letters, state::AppState};

/// Dead letters shown per queue.
const SHOWN: usize = 50;

#[derive(Debug)]
struct Letter {
    id: String,
    payload: String,
    last_error: String,
    attempts: i64,
    failed_at: String,
}

#[derive(Debug)]
struct QueueView {
    name: &'static str,
    waiting: String,
    oldest: String,
    in_flight: String,
    dead: u64,
    letters: Vec<Letter>,
    more: bool,
}

#[derive(Template)]
#[template(path = "console/operations.html")]
struct OperationsPage {
    frame: Frame,
    queues: Vec<QueueView>,
}

pub async fn page(State(state): State<AppState>, signed: Signed, jar: CookieJar) -> Result<Response, Rejection> {
    signed.require_admin()?;
    let dl = dead_letters::queues(&state)?;
    let scope = Scope::Org(signed.org());
    let depths = dl.depths().await.map_err(dead_letters::failed)?;
    let mut queues = Vec::new();
    for q in DeadQueue::ALL {
        let page = dl.list(q, scope, None, SHOWN).await.map_err(dead_letters::failed)?;
        let dead = dl.count(q, scope).await.map_err(dead_letters::failed)?;
        let depth = depths.iter().find(|d| d.queue == q);
        queues.push(QueueView {
            name: q.name(),
            waiting: depth.map_or_else(|| "—".into(), |d| d.waiting.to_string()),
            oldest: depth.and_then(|d| d.oldest_waiting).map_or_else(|| "—".into(), |a| format!("{} s", a.as_secs())),
            in_flight: depth.map_or_else(|| "—".into(), |d| d.in_flight.to_string()),
            dead,
            more: page.next_cursor.is_some(),
            letters: page
                .items
                .into_iter()
                .map(|d| Letter {
                    payload: serde_json::to_string_pretty(&d.payload).unwrap_or_default(),
                    last_error: d.last_error.unwrap_or_else(|| "—".into()),
                    attempts: d.attempts,
                    failed_at: maybe_when(&d.failed_at),
                    id: d.id,
                })
                .collect(),
        });
    }
    let (jar, notice) = session::take_notice(jar);
    Ok((jar, render(&OperationsPage { frame: Frame::new(&signed, "operations", notice), queues })).into_response())
}

/// Replays (`replay`) or deletes (`delete`) one dead letter of the organization.
pub async fn act(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    headers: HeaderMap,
    Path((queue, id, action)): Path<(String, String, String)>,
    Form(form): Form<session::CsrfForm>,
) -> Result<Response, Rejection> {
    signed.require_admin()?;
    signed.check_csrf(&form.csrf)?;
    let dl = dead_letters::queues(&state)?;
    let q = dead_letters::queue(&queue)?;
    let scope = Scope::Org(signed.org());
    let done: Result<String, ApiError> = match action.as_str() {
        "replay" => match dl.replay(q, scope, &id).await.map_err(dead_letters::failed)? {
            Replayed::Replayed => Ok(i18n::t("dead-letter-replayed")),
            Replayed::NotFound => Err(ApiError::NotFound { what: "dead letter" }),
            Replayed::Refused { code, message } => Err(ApiError::Conflict { code, message }),
        },
        "delete" => match dl.delete(q, scope, &id).await.map_err(dead_letters::failed)? {
            Deleted::Deleted => Ok(i18n::t("dead-letter-deleted")),
            Deleted::NotFound => Err(ApiError::NotFound { what: "dead letter" }),
            Deleted::Kept => Err(ApiError::Conflict {
                code: "reply_kept",
                message: "a dead reply is the contact's message and is kept: replay it, or leave it".into(),
            }),
        },
        _ => return Err(ApiError::NotFound { what: "route" }.into()),
    };
    let text = match done {
        Ok(text) => text,
        Err(e) => session::refusal(e)?,
    };
    Ok(session::redirect_with_notice(jar, &headers, &text, "/console/operations"))
}
