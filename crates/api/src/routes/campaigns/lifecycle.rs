//! Launch now, schedule, cancel a schedule, finish.

use axum::{Json, extract::State};
use chrono::{DateTime, TimeDelta, Utc};
use domain::campaign::{Lifecycle, check_contacts_per_hour, check_pace_per_second};
use serde::Deserialize;
use store::{
    OrgId,
    campaigns::{self, CampaignRecord},
};
use utoipa::ToSchema;

use super::{load, not_found, ready, view::CampaignView};
use crate::{
    auth::Auth,
    cloud::ensure_media_fresh,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiJson, ApiPath, OptionalJson},
    state::AppState,
};

/// The longest a launch may be scheduled ahead.
const MAX_SCHEDULE_AHEAD: TimeDelta = TimeDelta::days(366);

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LaunchInput {
    /// Contacts per second for this launch; else the campaign's pace, else the default (20).
    pub pace_per_second: Option<f64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    /// When to start (RFC 3339, in the future).
    pub at: DateTime<Utc>,
    /// The delivery pace, 1 to 3,600,000 contacts per hour.
    pub contacts_per_hour: i64,
}

/// Checks a campaign before it starts, then makes its header media's Meta
/// id valid for at least `horizon` (ids live 30 days after upload): the
/// upload runs before the row is locked, so a campaign that cannot start
/// uploads nothing, and [`same_media`] catches a change made meanwhile.
async fn prepare_start(
    state: &AppState,
    org: OrgId,
    id: i64,
    horizon: TimeDelta,
    check: fn(&CampaignRecord) -> ApiResult<()>,
) -> ApiResult<Option<i64>> {
    let record = campaigns::get(&state.pg, org, id).await?.ok_or_else(not_found)?;
    check(&record)?;
    if let Some(media_id) = record.header_media_id {
        ensure_media_fresh(state, org, media_id, horizon).await?;
    }
    Ok(record.header_media_id)
}

/// 409 when the header media changed between [`prepare_start`] and the lock.
fn same_media(record: &CampaignRecord, prepared: Option<i64>) -> ApiResult<()> {
    if record.header_media_id == prepared {
        Ok(())
    } else {
        Err(conflict("concurrent_update", "the campaign's header media changed at the same time; retry"))
    }
}

/// Locks a campaign and reads it in the same transaction.
async fn locked(tx: &mut sqlx::PgConnection, org: OrgId, id: i64) -> ApiResult<CampaignRecord> {
    campaigns::lock(tx, org, id).await?.ok_or_else(not_found)?;
    campaigns::get(&mut *tx, org, id).await?.ok_or_else(not_found)
}

fn conflict(code: &'static str, message: &str) -> ApiError {
    ApiError::Conflict { code, message: message.to_owned() }
}

/// Launches a Ready campaign now: it becomes Active and its launch is
/// recorded durably (even with Redis down) and exactly once.
#[utoipa::path(
    post, path = "/v1/campaigns/{id}/launch", tag = "campaigns", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Campaign id")), request_body(content = Option<LaunchInput>),
    responses(
        (status = 200, body = CampaignView), (status = 404, body = ErrorBody),
        (status = 409, description = "Not ready, scheduled, or already launched", body = ErrorBody),
        (status = 422, description = "Invalid pace", body = ErrorBody),
    )
)]
pub async fn launch(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
    OptionalJson(body): OptionalJson<LaunchInput>,
) -> ApiResult<Json<CampaignView>> {
    let given = body
        .pace_per_second
        .map(|p| {
            check_pace_per_second(p)
                .map_err(|e| ApiError::invalid("invalid_pace", e.to_string(), Some("pace_per_second".into())))
        })
        .transpose()?;
    start_now(&state, auth.org(), id, given).await?;
    Ok(Json(load(&state, auth.org(), id).await?))
}

/// Launches a Ready campaign now at `pace` (else its own, else the default);
/// the API's launch and the console's "Start now".
pub(crate) async fn start_now(state: &AppState, org: OrgId, id: i64, pace: Option<f64>) -> ApiResult<()> {
    let media = prepare_start(state, org, id, TimeDelta::days(7), launchable).await?;
    let mut tx = state.pg.begin().await?;
    let record = locked(&mut tx, org, id).await?;
    launchable(&record)?;
    same_media(&record, media)?;
    let pace = pace.or(record.pace_per_second).unwrap_or(state.settings.launch_pace_per_second);
    campaigns::launch(&mut tx, org, id, pace).await?;
    tx.commit().await?;
    Ok(())
}

fn launchable(record: &CampaignRecord) -> ApiResult<()> {
    match record.lifecycle() {
        Lifecycle::Editable => ready(record),
        Lifecycle::Scheduled => {
            Err(conflict("campaign_scheduled", "the campaign is scheduled; cancel the schedule to launch it now"))
        }
        Lifecycle::Active | Lifecycle::Finished => {
            Err(conflict("already_launched", "the campaign was already launched; a campaign launches once"))
        }
    }
}

fn schedulable(record: &CampaignRecord) -> ApiResult<()> {
    match record.lifecycle() {
        Lifecycle::Editable | Lifecycle::Scheduled => ready(record),
        Lifecycle::Active | Lifecycle::Finished => {
            Err(conflict("already_launched", "the campaign was already launched; it cannot be scheduled"))
        }
    }
}

/// Schedules a Ready campaign (or reschedules a scheduled one) to start at
/// `at`, paced in contacts per hour.
#[utoipa::path(
    post, path = "/v1/campaigns/{id}/schedule", tag = "campaigns", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Campaign id")), request_body = ScheduleInput,
    responses(
        (status = 200, body = CampaignView), (status = 404, body = ErrorBody),
        (status = 409, description = "Not ready, or already launched", body = ErrorBody),
        (status = 422, description = "In the past, too far ahead, or an invalid pace", body = ErrorBody),
    )
)]
pub async fn schedule(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ScheduleInput>,
) -> ApiResult<Json<CampaignView>> {
    schedule_at(&state, auth.org(), id, body.at, body.contacts_per_hour).await?;
    Ok(Json(load(&state, auth.org(), id).await?))
}

/// Schedules a Ready campaign to start at `at`, paced in contacts per hour:
/// the API's schedule and the console's.
pub(crate) async fn schedule_at(
    state: &AppState,
    org: OrgId,
    id: i64,
    at: DateTime<Utc>,
    contacts_per_hour: i64,
) -> ApiResult<()> {
    let now = Utc::now();
    if at <= now {
        return Err(ApiError::invalid(
            "schedule_in_past",
            format!("at ({}) is not in the future; launch now instead", at.to_rfc3339()),
            Some("at".into()),
        ));
    }
    if at > now + MAX_SCHEDULE_AHEAD {
        return Err(ApiError::invalid("schedule_too_far", "at must be within a year from now", Some("at".into())));
    }
    let per_hour = check_contacts_per_hour(contacts_per_hour)
        .map_err(|e| ApiError::invalid("invalid_pace", e.to_string(), Some("contacts_per_hour".into())))?;
    let per_hour = i32::try_from(per_hour).map_err(anyhow::Error::from)?;
    // Valid until a day after the start, as far as one upload reaches (the
    // scheduled launch does not renew it yet: docs/sending.md, "Open").
    let horizon = (at - now + TimeDelta::days(1)).min(TimeDelta::days(29));
    let media = prepare_start(state, org, id, horizon, schedulable).await?;
    let mut tx = state.pg.begin().await?;
    let record = locked(&mut tx, org, id).await?;
    schedulable(&record)?;
    same_media(&record, media)?;
    campaigns::schedule(&mut tx, org, id, at, per_hour).await?;
    tx.commit().await?;
    Ok(())
}

/// Cancels a schedule: the campaign is Ready (and editable) again.
#[utoipa::path(
    delete, path = "/v1/campaigns/{id}/schedule", tag = "campaigns", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Campaign id")),
    responses(
        (status = 200, body = CampaignView), (status = 404, body = ErrorBody),
        (status = 409, description = "The campaign is not scheduled", body = ErrorBody),
    )
)]
pub async fn unschedule(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<CampaignView>> {
    let mut tx = state.pg.begin().await?;
    let record = locked(&mut tx, auth.org(), id).await?;
    if record.lifecycle() != Lifecycle::Scheduled {
        return Err(conflict("not_scheduled", &format!("the campaign is not scheduled (it is {})", record.lifecycle)));
    }
    campaigns::unschedule(&mut tx, auth.org(), id).await?;
    tx.commit().await?;
    Ok(Json(load(&state, auth.org(), id).await?))
}

/// Finishes an Active campaign: its contacts are released for future
/// campaigns and contacts not yet sent to are not sent to. Finishing a
/// finished campaign changes nothing.
#[utoipa::path(
    post, path = "/v1/campaigns/{id}/finish", tag = "campaigns", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Campaign id")),
    responses(
        (status = 200, body = CampaignView), (status = 404, body = ErrorBody),
        (status = 409, description = "The campaign was never launched", body = ErrorBody),
    )
)]
pub async fn finish(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<CampaignView>> {
    finish_active(&state, auth.org(), id).await?;
    Ok(Json(load(&state, auth.org(), id).await?))
}

/// Finishes an Active campaign (a finished one stays as it is).
pub(crate) async fn finish_active(state: &AppState, org: OrgId, id: i64) -> ApiResult<()> {
    let mut tx = state.pg.begin().await?;
    let record = locked(&mut tx, org, id).await?;
    match record.lifecycle() {
        Lifecycle::Active => {
            let done = campaigns::finish(&mut tx, org, id).await?;
            tracing::info!(campaign.id = id, released = done.released, stopped = done.stopped, "campaign finished");
            tx.commit().await?;
            Ok(())
        }
        Lifecycle::Finished => Ok(()),
        Lifecycle::Editable | Lifecycle::Scheduled => {
            Err(conflict("campaign_not_active", "only an active campaign can be finished; it was never launched"))
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseInput {
    /// Why, as the campaign's `pause_reason` shows it (default "paused by an operator").
    pub reason: Option<String>,
}

/// Pauses an Active campaign's sending (nothing more is queued; what is
/// being sent finishes) until `POST /v1/campaigns/{id}/resume`.
#[utoipa::path(
    post, path = "/v1/campaigns/{id}/pause", tag = "campaigns", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Campaign id")), request_body(content = Option<PauseInput>),
    responses(
        (status = 200, body = CampaignView), (status = 404, body = ErrorBody),
        (status = 409, description = "The campaign is not active, or is paused already", body = ErrorBody),
        (status = 422, description = "Invalid reason", body = ErrorBody),
    )
)]
pub async fn pause(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
    OptionalJson(body): OptionalJson<PauseInput>,
) -> ApiResult<Json<CampaignView>> {
    pause_active(&state, auth.org(), id, body.reason.as_deref()).await?;
    Ok(Json(load(&state, auth.org(), id).await?))
}

/// Pauses an Active, unpaused campaign (the API's and the console's).
pub(crate) async fn pause_active(state: &AppState, org: OrgId, id: i64, reason: Option<&str>) -> ApiResult<()> {
    let reason = match reason {
        Some(r) => {
            crate::text::check_line(r, "reason")?;
            let r = r.trim();
            if r.is_empty() || r.chars().count() > 200 {
                return Err(ApiError::invalid(
                    "invalid_reason",
                    "reason must be 1 to 200 characters",
                    Some("reason".into()),
                ));
            }
            r
        }
        None => "paused by an operator",
    };
    let mut tx = state.pg.begin().await?;
    let record = locked(&mut tx, org, id).await?;
    if record.lifecycle() != Lifecycle::Active {
        return Err(conflict("not_active", "only an active campaign can be paused"));
    }
    if record.paused_at.is_some() {
        return Err(conflict("already_paused", "the campaign is paused already"));
    }
    campaigns::pause(&mut *tx, id, campaigns::OPERATOR_PAUSE, reason).await?;
    tx.commit().await?;
    Ok(())
}

/// Resumes a campaign the engine paused (e.g. WhatsApp refused the sender:
/// a revoked token, a paused template); `pause_reason` said why. Sending
/// goes on where it stopped.
#[utoipa::path(
    post, path = "/v1/campaigns/{id}/resume", tag = "campaigns", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Campaign id")),
    responses(
        (status = 200, body = CampaignView), (status = 404, body = ErrorBody),
        (status = 409, description = "The campaign is not paused", body = ErrorBody),
    )
)]
pub async fn resume(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<CampaignView>> {
    resume_paused(&state, auth.org(), id).await?;
    Ok(Json(load(&state, auth.org(), id).await?))
}

/// Resumes an Active campaign the engine paused.
pub(crate) async fn resume_paused(state: &AppState, org: OrgId, id: i64) -> ApiResult<()> {
    let mut tx = state.pg.begin().await?;
    let record = locked(&mut tx, org, id).await?;
    if record.lifecycle() != Lifecycle::Active || record.paused_at.is_none() {
        return Err(conflict("not_paused", "only an active, paused campaign can be resumed"));
    }
    campaigns::resume(&mut tx, org, id).await?;
    tx.commit().await?;
    Ok(())
}
