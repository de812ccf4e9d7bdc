//! `/v1/dead-letters`: what the queues gave up on, per queue (`launch`,
//! `send`, `reply`, `report`, `status`): list, replay one or all, delete.
//! Admin keys only. An organization sees its own dead letters: jobs of its
//! campaigns and reports, webhooks about its numbers, its replies; the
//! deployment-wide view is `campaignsctl dead-letters` (docs/operations.md).

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use queue::{
    DeadLetters, DeadQueue, Scope,
    dead_letters::{DeadLetter, DeadLetterError, Deleted, Replayed as ReplayOutcome},
};
use serde::{Deserialize, Serialize};
use store::api_keys::SCOPE_ADMIN;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiPath, ApiQuery},
    state::AppState,
};

const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 500;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(counts))
        .routes(routes!(list))
        .routes(routes!(replay_all))
        .routes(routes!(replay))
        .routes(routes!(delete))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueCount {
    /// `launch`, `send`, `reply`, `report` or `status`.
    pub queue: String,
    /// Dead letters of the caller's organization in it.
    pub dead: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Counts {
    pub queues: Vec<QueueCount>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterView {
    /// The task id (`launch`, `send`, `report`), event id (`status`) or message wamid (`reply`).
    pub id: String,
    /// The job (`{"campaign_id", "contact_id"}`…), the webhook batch as Meta sent it, or the message.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub last_error: Option<String>,
    /// Attempts made before giving up.
    pub attempts: i64,
    /// When it was given up on.
    pub failed_at: Option<DateTime<Utc>>,
}

impl From<DeadLetter> for DeadLetterView {
    fn from(d: DeadLetter) -> Self {
        Self { id: d.id, payload: d.payload, last_error: d.last_error, attempts: d.attempts, failed_at: d.failed_at }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterPage {
    pub queue: String,
    pub data: Vec<DeadLetterView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1 to 500 (default 50).
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    pub queue: String,
    /// How many dead letters were put back in their queue.
    pub replayed: u64,
}

/// The admin-checked caller's scope and the deployment's queues.
fn setup(state: &AppState, auth: &Auth) -> ApiResult<(DeadLetters, Scope)> {
    auth.require(SCOPE_ADMIN)?;
    Ok((queues(state)?, Scope::Org(auth.org())))
}

/// The deployment's queues (the API's dead letters and the console's operations page).
pub(crate) fn queues(state: &AppState) -> ApiResult<DeadLetters> {
    state
        .dead_letters
        .clone()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the API was built without its queues")))
}

pub(crate) fn queue(name: &str) -> ApiResult<DeadQueue> {
    name.parse().map_err(|e: queue::dead_letters::UnknownQueue| ApiError::Invalid {
        status: StatusCode::NOT_FOUND,
        code: "unknown_queue",
        message: e.to_string(),
        field: None,
    })
}

pub(crate) fn failed(e: DeadLetterError) -> ApiError {
    match e {
        DeadLetterError::InvalidCursor(_) => {
            ApiError::invalid("invalid_cursor", "cursor is not one this API returned", Some("cursor".into()))
        }
        e => ApiError::Internal(anyhow::Error::new(e).context("dead letters")),
    }
}

fn not_found() -> ApiError {
    ApiError::NotFound { what: "dead letter" }
}

/// Dead letters per queue.
#[utoipa::path(get, path = "/v1/dead-letters", tag = "dead-letters", security(("api_key" = ["admin"])),
    responses((status = 200, body = Counts), (status = 403, description = "Needs the admin scope", body = ErrorBody)))]
pub async fn counts(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Counts>> {
    let (dl, scope) = setup(&state, &auth)?;
    let counts = dl.counts(scope).await.map_err(failed)?;
    let queues = counts.into_iter().map(|(q, dead)| QueueCount { queue: q.name().to_owned(), dead }).collect();
    Ok(Json(Counts { queues }))
}

/// One queue's dead letters, in id order.
#[utoipa::path(get, path = "/v1/dead-letters/{queue}", tag = "dead-letters", security(("api_key" = ["admin"])),
    params(("queue" = String, Path, description = "`launch`, `send`, `reply`, `report` or `status`"), ListQuery),
    responses(
        (status = 200, body = DeadLetterPage),
        (status = 403, description = "Needs the admin scope", body = ErrorBody),
        (status = 404, description = "`unknown_queue`", body = ErrorBody),
        (status = 422, description = "`invalid_limit`, `invalid_cursor`", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<DeadLetterPage>> {
    let (dl, scope) = setup(&state, &auth)?;
    let queue = queue(&name)?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_PAGE}"),
            Some("limit".into()),
        ));
    }
    let page = dl.list(queue, scope, q.cursor.as_deref(), limit).await.map_err(failed)?;
    Ok(Json(DeadLetterPage {
        queue: queue.name().to_owned(),
        data: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Replays every dead letter of the queue: back in the queue, attempts reset.
#[utoipa::path(post, path = "/v1/dead-letters/{queue}/replay", tag = "dead-letters", security(("api_key" = ["admin"])),
    params(("queue" = String, Path, description = "`launch`, `send`, `reply`, `report` or `status`")),
    responses(
        (status = 200, body = Replayed),
        (status = 403, description = "Needs the admin scope", body = ErrorBody),
        (status = 404, description = "`unknown_queue`", body = ErrorBody),
    ))]
pub async fn replay_all(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Replayed>> {
    let (dl, scope) = setup(&state, &auth)?;
    let queue = queue(&name)?;
    let replayed = dl.replay_all(queue, scope).await.map_err(failed)?;
    Ok(Json(Replayed { queue: queue.name().to_owned(), replayed }))
}

/// Replays one dead letter: back in its queue with its attempts reset (a
/// reply is delivered again with a new job). A dead send puts its recipient
/// back in the campaign's queue with a fresh job, unless its message may
/// have gone out (409): sending it again could duplicate it.
#[utoipa::path(post, path = "/v1/dead-letters/{queue}/{id}/replay", tag = "dead-letters", security(("api_key" = ["admin"])),
    params(("queue" = String, Path, description = "`launch`, `send`, `reply`, `report` or `status`"),
           ("id" = String, Path, description = "The dead letter's id")),
    responses(
        (status = 200, body = Replayed),
        (status = 403, description = "Needs the admin scope", body = ErrorBody),
        (status = 404, description = "`unknown_queue`, or `not_found`: no such dead letter", body = ErrorBody),
        (status = 409, description = "A send that cannot run again: `may_have_been_sent` (its outcome is unknown), \
            `campaign_not_active`, `recipient_not_failed`, `recipient_gone` or `unreadable_job`", body = ErrorBody),
    ))]
pub async fn replay(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((name, id)): ApiPath<(String, String)>,
) -> ApiResult<Json<Replayed>> {
    let (dl, scope) = setup(&state, &auth)?;
    let queue = queue(&name)?;
    match dl.replay(queue, scope, &id).await.map_err(failed)? {
        ReplayOutcome::Replayed => Ok(Json(Replayed { queue: queue.name().to_owned(), replayed: 1 })),
        ReplayOutcome::NotFound => Err(not_found()),
        ReplayOutcome::Refused { code, message } => Err(ApiError::Conflict { code, message }),
    }
}

/// Deletes one dead letter for good. Replies are kept (409): a message is
/// the contact's conversation; replay it or leave it.
#[utoipa::path(delete, path = "/v1/dead-letters/{queue}/{id}", tag = "dead-letters", security(("api_key" = ["admin"])),
    params(("queue" = String, Path, description = "`launch`, `send`, `report` or `status`"),
           ("id" = String, Path, description = "The dead letter's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Needs the admin scope", body = ErrorBody),
        (status = 404, description = "`unknown_queue`, or `not_found`: no such dead letter", body = ErrorBody),
        (status = 409, description = "`reply_kept`: replies are not deleted", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((name, id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let (dl, scope) = setup(&state, &auth)?;
    let queue = queue(&name)?;
    match dl.delete(queue, scope, &id).await.map_err(failed)? {
        Deleted::Deleted => Ok(StatusCode::NO_CONTENT),
        Deleted::NotFound => Err(not_found()),
        Deleted::Kept => Err(ApiError::Conflict {
            code: "reply_kept",
            message: "a dead reply is the contact's message and is kept: replay it, or leave it".into(),
        }),
    }
}
