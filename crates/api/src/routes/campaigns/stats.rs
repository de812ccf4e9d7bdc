//! `GET /v1/campaigns/{id}/stats` (with an ETag) and its server-sent-event
//! stream: live statistics from the counters the ledger's triggers
//! keep, so a read costs the same for ten contacts or ten million.

use std::{collections::BTreeMap, convert::Infallible, time::Duration};

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use chrono::{DateTime, TimeDelta, Utc};
use domain::campaign::Lifecycle;
use serde::Serialize;
use store::campaigns::{self, CampaignRecord, stats::Counters};
use utoipa::ToSchema;

use super::{
    limits::{self, LimitsNow, MessagingLimitView, PacingView, Waiting},
    not_found,
};
use crate::{
    auth::Auth,
    error::{ApiResult, ErrorBody},
    extract::ApiPath,
    state::AppState,
};

/// A campaign's live statistics. Percentages: *received by* is of
/// the contacts we could send to (targeted − excluded), *read by* and
/// *replied by* are of those who received it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Stats {
    pub campaign_id: i64,
    /// `editable`, `scheduled`, `active` or `finished`.
    pub lifecycle: String,
    pub paused: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_reason: Option<String>,
    /// Every contact in the ledger (sent to or not); 0 until the launch job planned it.
    pub targeted: i64,
    /// Targeted and not excluded.
    pub could_send: i64,
    /// Messages Meta accepted.
    pub accepted: i64,
    /// Contacts the message reached (`delivered` or `read`).
    pub received: i64,
    pub received_pct: f64,
    pub read: i64,
    pub read_pct: f64,
    pub replied: i64,
    pub replied_pct: f64,
    /// Contacts that could not be reached: excluded or failed.
    pub not_sent_to: i64,
    /// `not_sent_to` (and `in_doubt`) by reason, largest first.
    pub not_sent_reasons: Vec<ReasonCount>,
    /// The message may or may not have gone out; settled by a webhook or the campaign's delivery policy.
    pub in_doubt: i64,
    /// Planned, queued or being sent right now.
    pub still_queued: i64,
    /// Share of targeted contacts with a final outcome.
    pub progress_pct: f64,
    /// The pace still to go at, in contacts per second; null while the
    /// campaign has neither a pace nor a number to take one from.
    pub pace_per_second: Option<f64>,
    /// Time to send `still_queued` at the pace; absent when nothing is left or the campaign is not running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finishes_at: Option<DateTime<Utc>>,
    /// Contacts per ledger state.
    pub states: BTreeMap<String, i64>,
    /// Why sending waits or goes slower right now (the messaging limit,
    /// quiet hours, the support team's capacity); empty when it does not.
    pub waiting: Vec<Waiting>,
    /// The number's messaging limit (its business portfolio's) and its use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messaging_limit: Option<MessagingLimitView>,
    /// Reply-aware pacing, for a campaign with a support capacity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pacing: Option<PacingView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReasonCount {
    /// Stable code (an exclusion's, a Meta error's, or ours).
    pub code: String,
    pub reason: String,
    pub count: i64,
}

/// The readable text of a reason code kept by the counters.
pub(crate) fn reason_text(code: &str) -> String {
    let text = match code {
        "invalid_phone" => "the phone number is not a valid international number",
        "opted_out" => "the contact opted out of campaigns",
        "already_engaged" => "already engaged in another active campaign",
        "missing_valued_tag" => "the contact lacks a valued tag the template needs",
        "missing_name" => "the contact has no name, which the template needs",
        "invalid_name" => "the contact's name cannot be sent as a template parameter",
        "invalid_param_value" => "a valued tag's value cannot be sent as a template parameter",
        "open_inbox_case" => "an agent is attending the contact (open inbox case)",
        "campaign_finished" => "the campaign was finished before it was sent",
        "contact_deleted" => "the contact was deleted before it was sent",
        "outcome_unknown" => "outcome unknown, not retried",
        "invalid_request" => "the request could not be built",
        "meta_failed" => "Meta reported the message failed without an error",
        other => return whatsapp::describe(other).map_or_else(|| other.replace('_', " "), str::to_owned),
    };
    text.to_owned()
}

fn pct(part: i64, whole: i64) -> f64 {
    if whole <= 0 { 0.0 } else { ((part as f64 / whole as f64) * 1000.0).round() / 10.0 }
}

/// The pace the pipeline sends at: the schedule's, the launch pace, else the
/// number's throughput; never faster than the number. `None` when nothing
/// sets one (a Draft without a number or a pace).
fn pace(record: &CampaignRecord) -> Option<f64> {
    let number = record.number_throughput_per_sec.map_or(f64::INFINITY, f64::from);
    let wanted = match (record.pace_per_hour, record.pace_per_second) {
        (Some(per_hour), _) => f64::from(per_hour) / 3600.0,
        (None, Some(per_second)) => per_second,
        (None, None) => number,
    };
    Some(wanted.min(number)).filter(|pace| pace.is_finite())
}

pub fn compute(record: &CampaignRecord, c: &Counters, limits: LimitsNow, now: DateTime<Utc>) -> Stats {
    let targeted = c.total();
    let excluded = c.state("excluded");
    let could_send = targeted - excluded;
    let received = c.get("delivered");
    let still_queued = c.state("planned") + c.state("queued") + c.state("sending");
    let in_doubt = c.state("in_doubt");
    let pace_per_second = limits.pacing.as_ref().map(|p| p.current_per_second).or_else(|| pace(record));
    let running = record.lifecycle() == Lifecycle::Active && record.paused_at.is_none();
    let rules = record.delivery_rules();
    let eta_seconds = pace_per_second
        .filter(|pace| running && still_queued > 0 && *pace > 0.0)
        .map(|pace| limits::eta(still_queued, pace, limits.messaging_limit.as_ref(), &rules).0)
        .map(|eta| eta.max(limits.quiet_wait.map_or(0, |d| d.as_secs() as i64)));
    Stats {
        campaign_id: record.id,
        lifecycle: record.lifecycle.clone(),
        paused: record.paused_at.is_some(),
        pause_reason: record.pause_reason.clone(),
        targeted,
        could_send,
        accepted: c.state("accepted") + c.state("sent") + c.state("delivered") + c.state("read"),
        received,
        received_pct: pct(received, could_send),
        read: c.get("read"),
        read_pct: pct(c.get("read"), received),
        replied: c.get("replied"),
        replied_pct: pct(c.get("replied"), received).min(100.0),
        not_sent_to: excluded + c.state("failed"),
        not_sent_reasons: c
            .reasons()
            .into_iter()
            .map(|(code, count)| ReasonCount { code: code.to_owned(), reason: reason_text(code), count })
            .collect(),
        in_doubt,
        still_queued,
        progress_pct: pct(targeted - still_queued - in_doubt, targeted),
        pace_per_second,
        eta_seconds,
        finishes_at: eta_seconds.map(|s| now + TimeDelta::seconds(s)),
        states: c.values.iter().filter_map(|(k, v)| Some((k.strip_prefix("state:")?.to_owned(), *v))).collect(),
        waiting: limits.waiting,
        messaging_limit: limits.messaging_limit,
        pacing: limits.pacing,
    }
}

/// The statistics of a campaign read already (the console's page).
pub(crate) async fn of_record(state: &AppState, record: &CampaignRecord) -> ApiResult<Stats> {
    Ok(with_tag(state, record).await?.0)
}

/// The campaign's statistics and their ETag; `None` when it is not the organization's.
async fn load(state: &AppState, org: store::OrgId, id: i64) -> ApiResult<Option<(Stats, String)>> {
    let Some(record) = campaigns::get(&state.pg, org, id).await? else { return Ok(None) };
    Ok(Some(with_tag(state, &record).await?))
}

async fn with_tag(state: &AppState, record: &CampaignRecord) -> ApiResult<(Stats, String)> {
    let counters = campaigns::stats::counters(&state.pg, record.id).await?;
    let running = record.lifecycle() == Lifecycle::Active && record.paused_at.is_none();
    let limits = limits::now(state, record, running, counters.state("planned"), pace(record)).await?;
    // The ETag covers what the counters, the campaign's state and its limits
    // say, not the ETA (which moves with the clock).
    let tag = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (&counters.values, &record.lifecycle, record.paused_at, &record.pause_reason, record.updated_at).hash(&mut h);
        for w in &limits.waiting {
            (&w.code, &w.reason).hash(&mut h);
        }
        limits.messaging_limit.as_ref().map(|m| m.used).hash(&mut h);
        limits.pacing.as_ref().map(|p| (p.current_per_second.to_bits(), p.events.len())).hash(&mut h);
        format!("\"{:016x}\"", h.finish())
    };
    Ok((compute(record, &counters, limits, Utc::now()), tag))
}

/// Live statistics, served from counters (O(1) in the campaign's size).
/// Send the last `ETag` as `If-None-Match` to get a cheap 304 while nothing changed.
#[utoipa::path(
    get, path = "/v1/campaigns/{id}/stats", tag = "campaigns", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Campaign id")),
    responses(
        (status = 200, body = Stats, headers(("ETag" = String))),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn stats(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (stats, tag) = load(&state, auth.org(), id).await?.ok_or_else(not_found)?;
    let etag = HeaderValue::from_str(&tag).expect("hex in quotes is a valid header");
    let cache = HeaderValue::from_static("no-cache");
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == tag.as_bytes()) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag), (header::CACHE_CONTROL, cache)]).into_response());
    }
    Ok(([(header::ETAG, etag), (header::CACHE_CONTROL, cache)], Json(stats)).into_response())
}

/// The same statistics as server-sent events: a `stats` event at once and
/// then whenever they change (checked every second), until the client goes
/// away; a finished campaign's stream ends after its last event.
#[utoipa::path(
    get, path = "/v1/campaigns/{id}/stats/stream", tag = "campaigns", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Campaign id")),
    responses(
        (status = 200, description = "`text/event-stream` of `stats` events, each a `Stats` JSON"),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn stream(State(state): State<AppState>, auth: Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Response> {
    live(state, auth.org(), id, None).await
}

/// The statistics as server-sent events (the API's stream and the console
/// page's): 404 now rather than an empty stream, then a `stats` event at
/// once and whenever they change (checked every second). It ends after a
/// finished campaign's last event, when the campaign is deleted or the
/// database is away (the client reconnects), and — for a console page —
/// once its session is over (`session`: the cookie's token, checked every 5 s).
pub(crate) async fn live(state: AppState, org: store::OrgId, id: i64, session: Option<String>) -> ApiResult<Response> {
    let first = load(&state, org, id).await?.ok_or_else(not_found)?;
    let live = Live { state, org, id, session, next: Some(first), last_tag: String::new(), done: false };
    let events = futures::stream::unfold(live, |mut live| async move {
        let event = live.next().await?;
        Some((Ok::<_, Infallible>(event), live))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()).into_response())
}

/// The state of one statistics stream.
struct Live {
    state: AppState,
    org: store::OrgId,
    id: i64,
    session: Option<String>,
    /// Loaded and not sent yet (the first event).
    next: Option<(Stats, String)>,
    last_tag: String,
    /// The finished campaign's last event was sent.
    done: bool,
}

impl Live {
    async fn next(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        let mut ticks = 0u32;
        loop {
            let (stats, tag) = match self.next.take() {
                Some(loaded) => loaded,
                None => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    ticks += 1;
                    if let Some(token) = &self.session
                        && ticks % 5 == 0
                        && !store::operators::session_live(&self.state.pg, token).await.ok()?
                    {
                        return None;
                    }
                    load(&self.state, self.org, self.id).await.ok().flatten()?
                }
            };
            self.done = stats.lifecycle == "finished";
            if tag != self.last_tag {
                self.last_tag = tag;
                return Some(Event::default().event("stats").json_data(&stats).expect("stats serialize"));
            }
            if self.done {
                return None;
            }
        }
    }
}
