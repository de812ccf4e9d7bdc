//! `GET /v1/campaigns/{id}/recipients`: who got the campaign and who did
//! not, and why — each contact's outcome, readable reason and timestamps,
//! filtered by outcome, reason code and phone.

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use store::recipient_list::{self, Filter, Outcome, Recipient};
use utoipa::{IntoParams, ToSchema};

use super::{not_found, stats::reason_text};
use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiPath, ApiQuery},
    state::AppState,
};

const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 500;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecipientsQuery {
    /// `pending`, `received`, `read`, `replied`, `not_sent` or `in_doubt`.
    outcome: Option<String>,
    /// A stable reason code, as in the stats' `not_sent_reasons` (e.g. `opted_out`, `131049`).
    reason: Option<String>,
    /// Digits the phone number contains.
    q: Option<String>,
    /// Page size, 1 to 500 (default 100).
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// One recipient of the campaign.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientView {
    pub contact_id: i64,
    pub phone: String,
    /// The contact's name, while the contact exists.
    pub name: Option<String>,
    /// `pending`, `received`, `read`, `replied`, `not_sent` or `in_doubt`.
    pub outcome: String,
    /// The ledger state (`queued`, `delivered`, `excluded`, `failed`, ...).
    pub state: String,
    /// Why it was not sent (or is in doubt): a stable code and its readable text.
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    pub meta_error_code: Option<i32>,
    pub attempt: i32,
    pub planned_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub replied_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    /// The funnel steps the bot recorded for this contact, in order.
    pub funnel_steps: Vec<String>,
}

impl From<Recipient> for RecipientView {
    fn from(r: Recipient) -> Self {
        let outcome = r.outcome().as_str().to_owned();
        let reason = r.reason.clone().or_else(|| r.reason_code.as_deref().map(reason_text));
        Self {
            contact_id: r.contact_id,
            phone: r.phone,
            name: r.name,
            outcome,
            state: r.state,
            reason_code: r.reason_code,
            reason,
            meta_error_code: r.meta_error_code,
            attempt: r.attempt,
            planned_at: r.planned_at,
            accepted_at: r.accepted_at,
            delivered_at: r.delivered_at,
            read_at: r.read_at,
            replied_at: r.replied_at,
            failed_at: r.failed_at,
            funnel_steps: r.funnel_steps,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientPage {
    pub data: Vec<RecipientView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A page of the campaign's recipients in contact order, with each one's
/// outcome and readable reason.
#[utoipa::path(
    get, path = "/v1/campaigns/{id}/recipients", tag = "campaigns", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Campaign id"), RecipientsQuery),
    responses(
        (status = 200, body = RecipientPage), (status = 404, body = ErrorBody),
        (status = 422, description = "Bad filter, limit or cursor", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<RecipientsQuery>,
) -> ApiResult<Json<RecipientPage>> {
    let field = |f: &str| Some(f.to_owned());
    let outcome = q
        .outcome
        .as_deref()
        .map(|o| {
            Outcome::parse(o).ok_or_else(|| {
                ApiError::invalid(
                    "invalid_outcome",
                    "outcome must be one of pending, received, read, replied, not_sent, in_doubt",
                    field("outcome"),
                )
            })
        })
        .transpose()?;
    if let Some(reason) = &q.reason {
        crate::text::check_line(reason, "reason")?;
        if reason.len() > 100 {
            return Err(ApiError::invalid(
                "invalid_reason",
                "reason is a code of at most 100 characters",
                field("reason"),
            ));
        }
    }
    let digits = match q.q.as_deref() {
        Some(text) if !text.chars().all(|c| c.is_ascii_digit() || c == '+') || text.len() > 20 => {
            return Err(ApiError::invalid("invalid_phone_query", "q is up to 20 digits of a phone number", field("q")));
        }
        Some(text) => Some(text.trim_start_matches('+').to_owned()).filter(|d| !d.is_empty()),
        None => None,
    };
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid("invalid_limit", "limit must be between 1 and 500", field("limit")));
    }
    let after = q
        .cursor
        .as_deref()
        .map(|c| {
            c.strip_prefix('r').and_then(|id| id.parse::<i64>().ok()).ok_or_else(|| {
                ApiError::invalid("invalid_cursor", "cursor is not one this API returned", field("cursor"))
            })
        })
        .transpose()?;
    let filter = Filter { outcome, reason: q.reason.as_deref(), phone: digits.as_deref(), after, limit };
    let rows = recipient_list::page(&state.pg, auth.org(), id, filter).await?.ok_or_else(not_found)?;
    let next_cursor = (rows.len() as i64 == limit).then(|| rows.last().map(|r| format!("r{}", r.contact_id))).flatten();
    Ok(Json(RecipientPage { data: rows.into_iter().map(RecipientView::from).collect(), next_cursor }))
}
