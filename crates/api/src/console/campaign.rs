//! A campaign's page: its live statistics, the pause banner, the reasons
//! contacts were not sent to, and the recipients table — each contact's
//! outcome and readable reason, filterable by outcome and reason and
//! searchable by phone.

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    response::{IntoResponse, Response},
};
use axum_extra::extract::cookie::CookieJar;
use chrono::Utc;
use domain::campaign::Lifecycle;
use serde::Deserialize;
use store::{
    campaigns,
    recipient_list::{self, Filter, Outcome, Recipient},
};

use super::{
    assets, i18n,
    pages::{Badge, Frame, badge, maybe_when, render, when},
    session::{self, Rejection, Signed},
};
use crate::{
    error::ApiError,
    routes::campaigns::{retry, stats},
    state::AppState,
};

const PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct RecipientsQuery {
    outcome: Option<String>,
    reason: Option<String>,
    q: Option<String>,
    after: Option<i64>,
}

/// One row of the recipients table.
#[derive(Debug)]
struct Row {
    phone: String,
    name: String,
    outcome: String,
    reason: String,
    accepted_at: String,
    delivered_at: String,
    read_at: String,
    replied_at: String,
    failed_at: String,
    funnel: String,
}

pub(super) fn outcome_label(o: Outcome) -> String {
    i18n::t(match o {
        Outcome::Pending => "outcome-pending",
        Outcome::Received => "outcome-received",
        Outcome::Read => "outcome-read",
        Outcome::Replied => "outcome-replied",
        Outcome::NotSent => "outcome-not-sent",
        Outcome::InDoubt => "outcome-in-doubt",
    })
}

fn row(r: &Recipient) -> Row {
    Row {
        phone: r.phone.clone(),
        name: r.name.clone().unwrap_or_else(|| "—".to_owned()),
        outcome: outcome_label(r.outcome()),
        // The ledger keeps Meta's text for failures; exclusions have only their code.
        reason: match (&r.reason, &r.reason_code) {
            (Some(text), Some(code)) => format!("{text} ({code})"),
            (None, Some(code)) => format!("{} ({code})", stats::reason_text(code)),
            _ => String::new(),
        },
        accepted_at: maybe_when(&r.accepted_at),
        delivered_at: maybe_when(&r.delivered_at),
        read_at: maybe_when(&r.read_at),
        replied_at: maybe_when(&r.replied_at),
        failed_at: maybe_when(&r.failed_at),
        funnel: r.funnel_steps.join(" → "),
    }
}

#[derive(Template)]
#[template(path = "console/campaign.html")]
struct CampaignPage {
    frame: Frame,
    id: i64,
    name: String,
    kind: String,
    badge: Badge,
    paused: Option<String>,
    can_start: bool,
    can_finish: bool,
    can_pause: bool,
    editable: bool,
    /// Recipients a "Retry failed" would target.
    retryable: i64,
    /// A "Retry failed" campaign: its fixed audience and the campaign it retries.
    retrying: Option<(i32, Option<i64>)>,
    stats: stats::Stats,
    eta: String,
    live: bool,
    live_js: String,
    problems: Vec<String>,
    outcomes: Vec<(&'static str, String)>,
    outcome: String,
    reason: String,
    q: String,
    rows: Vec<Row>,
    next: Option<String>,
    shown_at: String,
    reports: Vec<super::reports::ReportRow>,
}

pub async fn page(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    Path(id): Path<i64>,
    Query(query): Query<RecipientsQuery>,
) -> Result<Response, Rejection> {
    let org = signed.org();
    let record = campaigns::get(&state.pg, org, id).await?.ok_or(ApiError::NotFound { what: "campaign" })?;
    let now = Utc::now();
    let stats = stats::of_record(&state, &record).await?;
    let outcome = query.outcome.as_deref().and_then(Outcome::parse);
    let q = query.q.unwrap_or_default().trim().to_owned();
    let reason = query.reason.unwrap_or_default().trim().to_owned();
    crate::text::check_line(&q, "q")?;
    crate::text::check_line(&reason, "reason")?;
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    let recipients = recipient_list::page(
        &state.pg,
        org,
        id,
        Filter {
            outcome,
            reason: Some(reason.as_str()).filter(|r| !r.is_empty()),
            phone: Some(digits.as_str()).filter(|d| !d.is_empty()),
            after: query.after,
            limit: PAGE + 1,
        },
    )
    .await?
    .ok_or(ApiError::NotFound { what: "campaign" })?;
    let more = recipients.len() as i64 > PAGE;
    let rows: Vec<Row> = recipients.iter().take(PAGE as usize).map(row).collect();
    let next = more.then(|| {
        let last = recipients[PAGE as usize - 1].contact_id;
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        if let Some(o) = outcome {
            url.append_pair("outcome", o.as_str());
        }
        if !reason.is_empty() {
            url.append_pair("reason", &reason);
        }
        if !q.is_empty() {
            url.append_pair("q", &q);
        }
        url.append_pair("after", &last.to_string());
        format!("/console/campaigns/{id}?{}#recipients", url.finish())
    });
    let lifecycle = record.lifecycle();
    let (jar, notice) = session::take_notice(jar);
    let page = CampaignPage {
        frame: Frame::new(&signed, "campaigns", notice),
        id,
        name: record.name.clone(),
        kind: record.kind.clone(),
        badge: badge(&record),
        paused: record.paused_at.map(|_| record.pause_reason.clone().unwrap_or_else(|| i18n::t("badge-paused"))),
        can_start: lifecycle == Lifecycle::Editable && record.problems().is_empty(),
        can_finish: lifecycle == Lifecycle::Active,
        can_pause: lifecycle == Lifecycle::Active && record.paused_at.is_none(),
        editable: lifecycle == Lifecycle::Editable,
        retryable: retry::retryable(&state, org, id).await?,
        retrying: record.audience_contacts.map(|n| (n, record.retry_of)),
        eta: stats.finishes_at.as_ref().map_or_else(|| "—".to_owned(), when),
        live: lifecycle != Lifecycle::Finished,
        live_js: assets::url("live-stats"),
        problems: if lifecycle == Lifecycle::Editable {
            record.problems().into_iter().map(|p| p.message).collect()
        } else {
            vec![]
        },
        stats,
        outcomes: Outcome::ALL.iter().map(|o| (o.as_str(), outcome_label(*o))).collect(),
        outcome: outcome.map_or("", Outcome::as_str).to_owned(),
        reason,
        q,
        rows,
        next,
        shown_at: when(&now),
        reports: super::reports::latest(&state, org, id).await?,
    };
    Ok((jar, render(&page)).into_response())
}

/// The page's live numbers: the API's statistics stream, for as long as the session lasts.
pub async fn live(State(state): State<AppState>, signed: Signed, Path(id): Path<i64>) -> Result<Response, Rejection> {
    Ok(stats::live(state, signed.org(), id, Some(signed.token)).await?)
}
