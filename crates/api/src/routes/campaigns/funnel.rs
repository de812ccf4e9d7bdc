//! Funnel steps: bots record that a recipient reached step S of the
//! campaign's flow at time T (idempotent: the first time stays), and
//! dashboards read how many reached each step.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Duration, Utc};
use domain::Phone;
use serde::{Deserialize, Serialize};
use store::funnel::{self, FunnelStep, Recorded, StepSummary};
use utoipa::ToSchema;

use super::not_found;
use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiJson, ApiPath},
    state::AppState,
};

const STEP_CHARS: std::ops::RangeInclusive<usize> = 1..=100;
/// Clock skew allowed between the bot and us.
const MAX_FUTURE: Duration = Duration::minutes(5);

/// `{"contact_id": 1, "step": "asked_price"}` or `{"phone": "+34612345678", "step": "...", "reached_at": "..."}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordStep {
    /// The contact; give this or `phone`.
    pub contact_id: Option<i64>,
    /// The contact's phone with its country code; give this or `contact_id`.
    pub phone: Option<String>,
    /// The step's name: 1 to 100 characters, trimmed.
    pub step: String,
    /// When the contact reached it (RFC 3339); default now, at most 5 minutes ahead.
    pub reached_at: Option<DateTime<Utc>>,
}

/// The campaign's funnel, most reached step first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Funnel {
    pub campaign_id: i64,
    pub steps: Vec<StepSummary>,
}

fn invalid(code: &'static str, message: impl Into<String>, field: &str) -> ApiError {
    ApiError::invalid(code, message, Some(field.to_owned()))
}

fn not_a_recipient(message: String, field: &str) -> ApiError {
    invalid("not_a_recipient", message, field)
}

fn check_step(value: &str) -> ApiResult<&str> {
    let step = value.trim();
    if !STEP_CHARS.contains(&step.chars().count()) {
        let (min, max) = (STEP_CHARS.start(), STEP_CHARS.end());
        return Err(invalid("invalid_step", format!("step must be {min} to {max} characters after trimming"), "step"));
    }
    Ok(step)
}

fn check_reached_at(value: Option<DateTime<Utc>>, now: DateTime<Utc>) -> ApiResult<DateTime<Utc>> {
    match value {
        Some(at) if at > now + MAX_FUTURE => Err(invalid(
            "reached_at_in_future",
            format!("reached_at {} is more than 5 minutes in the future", at.to_rfc3339()),
            "reached_at",
        )),
        Some(at) => Ok(at),
        None => Ok(now),
    }
}

/// Records that a recipient of the campaign reached a step of its flow.
/// The first time recorded for (campaign, contact, step) stays: recording
/// it again answers 200 with the existing row.
#[utoipa::path(
    post, path = "/v1/campaigns/{id}/funnel-steps", tag = "campaigns", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Campaign id")), request_body = RecordStep,
    responses(
        (status = 201, description = "Recorded", body = FunnelStep),
        (status = 200, description = "Recorded before; the first time stays", body = FunnelStep),
        (status = 404, body = ErrorBody),
        (status = 422, description = "`not_a_recipient`, `invalid_step`, `reached_at_in_future`, `invalid_phone`, \
                                      `missing_contact`, `ambiguous_contact`", body = ErrorBody),
    )
)]
pub async fn record(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<RecordStep>,
) -> ApiResult<(StatusCode, Json<FunnelStep>)> {
    let step = check_step(&body.step)?;
    let reached_at = check_reached_at(body.reached_at, Utc::now())?;
    let phone =
        body.phone.as_deref().map(|p| Phone::parse(p).map_err(|e| ApiError::domain(&e, "phone"))).transpose()?;
    let mut conn = state.pg.acquire().await?;
    if !funnel::campaign_exists(&mut *conn, auth.org(), id).await? {
        return Err(not_found());
    }
    let (contact_id, field) = match (body.contact_id, phone) {
        (Some(contact_id), None) => (contact_id, "contact_id"),
        (None, Some(phone)) => {
            let contact = funnel::contact_by_phone(&mut *conn, auth.org(), phone.as_e164()).await?;
            let contact = contact.ok_or_else(|| {
                not_a_recipient(format!("no contact of this organization has the phone {phone}"), "phone")
            })?;
            (contact, "phone")
        }
        (Some(_), Some(_)) => {
            return Err(invalid("ambiguous_contact", "give contact_id or phone, not both", "contact_id"));
        }
        (None, None) => return Err(invalid("missing_contact", "give the contact's contact_id or phone", "contact_id")),
    };
    match funnel::record(&mut conn, auth.org(), id, contact_id, step, reached_at).await? {
        Recorded::New(row) => Ok((StatusCode::CREATED, Json(row))),
        Recorded::Existing(row) => Ok((StatusCode::OK, Json(row))),
        Recorded::NotARecipient => Err(not_a_recipient(
            format!("contact {contact_id} is not a recipient of campaign {id} (not in its audience, or excluded)"),
            field,
        )),
    }
}

/// Per step of the campaign's flow: the contacts that reached it and the
/// first and last time one did, most reached first.
#[utoipa::path(
    get, path = "/v1/campaigns/{id}/funnel", tag = "campaigns", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Campaign id")),
    responses((status = 200, body = Funnel), (status = 404, body = ErrorBody))
)]
pub async fn summary(State(state): State<AppState>, auth: Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Funnel>> {
    if !funnel::campaign_exists(&state.pg, auth.org(), id).await? {
        return Err(not_found());
    }
    let steps = funnel::summary(&state.pg, auth.org(), id).await?;
    Ok(Json(Funnel { campaign_id: id, steps }))
}
