//! `GET /v1/campaigns/{id}/forecast`: know before you send.

use std::time::Instant;

use axum::{Json, extract::State};
use chrono::{DateTime, TimeDelta, Utc};
use domain::campaign::{Exclusion, Lifecycle, zone_or_utc};
use serde::Serialize;
use store::campaigns::{self, CampaignRecord, SampleContact};
use utoipa::ToSchema;

use super::{
    limits::{self, MessagingLimitView},
    not_found, ready,
};
use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::ApiPath,
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct Forecast {
    pub campaign_id: i64,
    /// Contacts the audience (or the test phones) matches.
    pub audience: i64,
    /// Contacts that would be sent to now.
    pub will_send: i64,
    /// Contacts that would not, each for exactly one reason.
    pub excluded: i64,
    /// One entry per reason (and per key or engaging campaign), largest first.
    pub exclusions: Vec<ExclusionGroup>,
    pub pace: PaceView,
    /// The number's messaging limit (its business portfolio's), with the
    /// windows and days sending `will_send` takes under the current tier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messaging_limit: Option<MessagingLimitForecast>,
    /// Quiet hours: how many of `will_send` are in each time zone, and
    /// whether their send window is open now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHoursForecast>,
    /// When sending would start: the schedule, or now.
    pub starts_at: DateTime<Utc>,
    /// How long sending `will_send` contacts takes at the pace, within the
    /// messaging limit's windows and the quiet hours' share of the day
    /// (an estimate: replies can slow a campaign with a support capacity).
    pub eta_seconds: i64,
    pub finishes_at: DateTime<Utc>,
    /// How long this forecast took to compute.
    pub computed_ms: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExclusionGroup {
    /// Stable code: invalid_phone, opted_out, already_engaged, missing_valued_tag, missing_name, invalid_name,
    /// invalid_param_value, open_inbox_case.
    pub code: String,
    /// Readable reason, naming the key or campaign.
    pub reason: String,
    /// The valued-tag key, for missing_valued_tag and invalid_param_value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The active campaign the contacts are engaged in, for already_engaged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<EngagingCampaign>,
    pub count: i64,
    /// Up to five of these contacts.
    pub sample: Vec<SampleContact>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EngagingCampaign {
    pub id: i64,
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagingLimitForecast {
    #[serde(flatten)]
    pub now: MessagingLimitView,
    /// Moving windows the campaign needs (1 when it fits in what remains).
    pub windows_needed: Option<i64>,
    /// The same in days of Meta's 24-hour window.
    pub days_needed: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuietHoursForecast {
    #[schema(value_type = String)]
    pub send_from: String,
    #[schema(value_type = String)]
    pub send_until: String,
    pub zones: Vec<ZoneCount>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ZoneCount {
    /// IANA name: the contact's own time zone, else its phone's country's.
    pub time_zone: String,
    pub contacts: i64,
    pub open_now: bool,
    /// When its window opens next, if it is closed now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaceView {
    /// The rate used for the estimate: the campaign's pace, capped by the number's throughput.
    pub contacts_per_second: f64,
    /// `launch_now` or `schedule`.
    pub mode: &'static str,
    /// True when the number's Meta throughput is lower than the campaign's pace.
    pub limited_by_number: bool,
}

/// The dry run of a launch of a Ready or scheduled campaign: how many would
/// be sent to, why each other contact would not be (with counts and a
/// sample), and how long it would take at the chosen pace.
#[utoipa::path(
    get, path = "/v1/campaigns/{id}/forecast", tag = "campaigns", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Campaign id")),
    responses(
        (status = 200, body = Forecast), (status = 404, body = ErrorBody),
        (status = 409, description = "A draft, or already launched", body = ErrorBody),
    )
)]
pub async fn forecast(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Forecast>> {
    Ok(Json(compute(&state, auth.org(), id).await?))
}

/// The forecast of a campaign (the API's and the console's review step).
pub(crate) async fn compute(state: &AppState, org: store::OrgId, id: i64) -> ApiResult<Forecast> {
    let started = Instant::now();
    let record = campaigns::get(&state.pg, org, id).await?.ok_or_else(not_found)?;
    match record.lifecycle() {
        Lifecycle::Editable | Lifecycle::Scheduled => ready(&record)?,
        Lifecycle::Active | Lifecycle::Finished => {
            return Err(ApiError::Conflict {
                code: "already_launched",
                message: "the campaign was launched; its recipients and stats say who was sent to".into(),
            });
        }
    }
    let groups = campaigns::forecast(&state.pg, org, id).await?;
    let sample_ids: Vec<i64> = groups.iter().flat_map(|g| g.sample.iter().copied()).collect();
    let samples = campaigns::sample_contacts(&state.pg, org, &sample_ids).await?;

    let mut will_send = 0;
    let mut exclusions = Vec::new();
    for g in groups {
        let Some(code) = g.code else {
            will_send += g.count;
            continue;
        };
        let exclusion =
            Exclusion::from_parts(&code, g.key.clone(), g.engaged_campaign_id, g.engaged_campaign_name.clone());
        exclusions.push(ExclusionGroup {
            reason: exclusion.map_or_else(|| code.clone(), |e| e.to_string()),
            code,
            key: g.key,
            campaign: g.engaged_campaign_id.map(|id| EngagingCampaign { id, name: g.engaged_campaign_name }),
            count: g.count,
            sample: samples.iter().filter(|s| g.sample.contains(&s.id)).cloned().collect(),
        });
    }
    let excluded = exclusions.iter().map(|e| e.count).sum();
    let pace = pace(&record, state.settings.launch_pace_per_second);
    let starts_at = record.scheduled_at.unwrap_or_else(Utc::now);
    let rules = record.delivery_rules();
    let limit_now = limits::messaging_limit(state, id).await?;
    // Rounded to the millisecond first, so 30 contacts at 60/hour is 1800 s, not 1801.
    let (eta_seconds, windows_needed) = limits::eta(will_send, pace.contacts_per_second, limit_now.as_ref(), &rules);
    let messaging_limit = limit_now.map(|now| MessagingLimitForecast {
        days_needed: windows_needed.map(|n| (n as f64 * now.window_seconds as f64 / 86_400.0 * 100.0).round() / 100.0),
        windows_needed,
        now,
    });
    let (quiet_hours, last_opening) = match rules.quiet_hours {
        Some(quiet) => {
            let at = Utc::now();
            let zones: Vec<(ZoneCount, std::time::Duration)> = store::messaging_limit::audience_zones(&state.pg, id)
                .await?
                .into_iter()
                .map(|(time_zone, contacts)| {
                    let opens_in = quiet.opens_in(zone_or_utc(&time_zone), at);
                    let opens_at =
                        (!opens_in.is_zero()).then(|| at + TimeDelta::from_std(opens_in).unwrap_or_default());
                    (ZoneCount { open_now: opens_in.is_zero(), opens_at, time_zone, contacts }, opens_in)
                })
                .collect();
            let last_opening = zones.iter().map(|(_, opens_in)| *opens_in).max();
            let forecast = QuietHoursForecast {
                send_from: quiet.send_from.to_string(),
                send_until: quiet.send_until.to_string(),
                zones: zones.into_iter().map(|(zone, _)| zone).collect(),
            };
            (Some(forecast), last_opening)
        }
        None => (None, None),
    };
    // A zone whose window opens later cannot finish before it opens.
    let eta_seconds = match last_opening {
        Some(wait) if !wait.is_zero() => eta_seconds.max(wait.as_secs() as i64 + 1),
        _ => eta_seconds,
    };
    Ok(Forecast {
        messaging_limit,
        quiet_hours,
        campaign_id: id,
        audience: will_send + excluded,
        will_send,
        excluded,
        exclusions,
        finishes_at: starts_at + TimeDelta::seconds(eta_seconds),
        starts_at,
        eta_seconds,
        pace,
        computed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// The rate sending would run at: the schedule's contacts per hour, or the
/// launch-now pace; never faster than the number's Meta throughput.
fn pace(record: &CampaignRecord, default_per_second: f64) -> PaceView {
    let (wanted, mode) = match (record.lifecycle(), record.pace_per_hour) {
        (Lifecycle::Scheduled, Some(per_hour)) => (f64::from(per_hour) / 3600.0, "schedule"),
        _ => (record.pace_per_second.unwrap_or(default_per_second), "launch_now"),
    };
    let number = record.number_throughput_per_sec.map_or(f64::INFINITY, f64::from);
    PaceView { contacts_per_second: wanted.min(number), mode, limited_by_number: number < wanted }
}
