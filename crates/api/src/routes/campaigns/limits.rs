//! What a campaign's delivery limits say, for the statistics, the forecast
//! and the console: Meta's messaging limit (the portfolio's budget in the
//! moving window), quiet hours (which recipients' local send window is
//! open) and reply-aware pacing (the pace now and why).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use domain::{
    campaign::{DeliveryRules, QuietHours, zone_or_utc},
    messaging_limit::{self, Limit},
};
use serde::Serialize;
use store::{campaigns::CampaignRecord, messaging_limit as budget, pacing};
use utoipa::ToSchema;

use crate::{error::ApiResult, state::AppState};

/// Why sending waits (or goes slower than the configured pace) right now.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Waiting {
    /// `messaging_limit`, `quiet_hours`, `reply_capacity` or `open_cases`.
    pub code: String,
    pub reason: String,
    /// When it is expected to go on, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

/// The messaging limit of the campaign's number (its business portfolio's).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MessagingLimitView {
    /// Meta's tier, e.g. `TIER_10K`; null when Meta did not report one
    /// (then the lowest limit, 250, is assumed).
    pub tier: Option<String>,
    /// Distinct users per window; null for an unlimited tier.
    pub limit: Option<i64>,
    /// Distinct users the organization reached through the portfolio in the window.
    pub used: i64,
    pub remaining: Option<i64>,
    /// The moving window (24 hours at Meta).
    pub window_seconds: u64,
    /// When the next user leaves the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_capacity_at: Option<DateTime<Utc>>,
}

/// Reply-aware pacing's state.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PacingView {
    pub configured_per_second: f64,
    /// The pace sending goes at now (never above the configured one).
    pub current_per_second: f64,
    /// Why it is lower: `reply_capacity` or `open_cases`; null at the configured pace.
    pub code: Option<String>,
    pub reason: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// The last changes of pace, newest first (at most 20).
    pub events: Vec<pacing::PacingEvent>,
}

/// Everything the limits say about one campaign now.
#[derive(Debug, Clone, Default)]
pub struct LimitsNow {
    pub waiting: Vec<Waiting>,
    pub messaging_limit: Option<MessagingLimitView>,
    pub pacing: Option<PacingView>,
    /// Quiet hours: until the last closed zone's window opens.
    pub quiet_wait: Option<Duration>,
}

/// The portfolio's budget for a campaign's number; `None` without a number.
pub async fn messaging_limit(state: &AppState, campaign_id: i64) -> ApiResult<Option<MessagingLimitView>> {
    match budget::of_campaign(&state.pg, campaign_id).await? {
        Some(of) => Ok(Some(messaging_limit_of(state, of.org_id, &of.portfolio_id, of.messaging_tier).await?)),
        None => Ok(None),
    }
}

async fn messaging_limit_of(
    state: &AppState,
    org_id: i64,
    portfolio_id: &str,
    tier: Option<String>,
) -> ApiResult<MessagingLimitView> {
    let window = state.settings.messaging_window;
    let mut view = MessagingLimitView {
        tier,
        limit: None,
        used: 0,
        remaining: None,
        window_seconds: window.as_secs(),
        next_capacity_at: None,
    };
    if let Limit::Users(n) = messaging_limit::limit_of(view.tier.as_deref()) {
        let b = budget::budget(&state.pg, org_id, portfolio_id, i64::from(n), window).await?;
        (view.limit, view.used, view.remaining, view.next_capacity_at) =
            (Some(i64::from(n)), b.used, Some(b.remaining()), b.resumes_at());
    }
    Ok(view)
}

/// The limits of a campaign with `planned` recipients not yet queued;
/// `running` when it is active and not paused, `configured` its pace.
pub async fn now(
    state: &AppState,
    record: &CampaignRecord,
    running: bool,
    planned: i64,
    configured: Option<f64>,
) -> ApiResult<LimitsNow> {
    let rules = record.delivery_rules();
    let mut out = LimitsNow::default();
    let Some(of) = budget::of_campaign(&state.pg, record.id).await? else { return Ok(out) };
    let limit = messaging_limit_of(state, of.org_id, &of.portfolio_id, of.messaging_tier).await?;
    let waiting_now = running && planned > 0;
    if waiting_now && limit.remaining == Some(0) {
        let (used, max) = (limit.used, limit.limit.unwrap_or_default());
        let at =
            limit.next_capacity_at.map_or_else(|| "soon".to_owned(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string());
        out.waiting.push(Waiting {
            code: "messaging_limit".into(),
            reason: format!("waiting for the messaging limit: {used} of {max} used, next capacity at {at}"),
            until: limit.next_capacity_at,
        });
    }
    out.messaging_limit = Some(limit);
    if let Some(quiet) = rules.quiet_hours
        && waiting_now
    {
        let zones = of.recipient_zones.unwrap_or_default();
        let now = Utc::now();
        out.quiet_wait = zones.iter().map(|z| quiet.opens_in(zone_or_utc(z), now)).max();
        out.waiting.extend(quiet_waiting(quiet, &zones, now));
    }
    if rules.support_capacity.is_some()
        && let Some(configured) = configured
    {
        let p = pacing::of_campaign(&state.pg, record.id, 20).await?;
        if running && let (Some(code), Some(reason)) = (&p.code, &p.reason) {
            out.waiting.push(Waiting { code: code.clone(), reason: reason.clone(), until: None });
        }
        out.pacing = Some(PacingView {
            configured_per_second: configured,
            current_per_second: p.paced_per_second.map_or(configured, |paced| paced.min(configured)),
            code: p.code,
            reason: p.reason,
            since: p.since,
            events: p.events,
        });
    }
    Ok(out)
}

/// Recipients outside their local send window: which zones wait and when
/// the first of them opens; `None` when every zone is open.
fn quiet_waiting(quiet: QuietHours, zones: &[String], now: DateTime<Utc>) -> Option<Waiting> {
    let closed: Vec<(&String, Duration)> = zones
        .iter()
        .map(|z| (z, quiet.opens_in(zone_or_utc(z), now)))
        .filter(|(_, opens_in)| !opens_in.is_zero())
        .collect();
    let soonest = closed.iter().map(|(_, d)| *d).min()?;
    let until = now + TimeDelta::from_std(soonest).unwrap_or_default();
    let mut names: Vec<&str> = closed.iter().take(5).map(|(z, _)| z.as_str()).collect();
    if closed.len() > 5 {
        names.push("…");
    }
    let who = if closed.len() == zones.len() { "every recipient left" } else { "recipients" };
    Some(Waiting {
        code: "quiet_hours".into(),
        reason: format!(
            "{who} in {} wait for their local send window ({}–{}); the next opens at {}",
            names.join(", "),
            quiet.send_from,
            quiet.send_until,
            until.format("%Y-%m-%d %H:%M UTC")
        ),
        until: Some(until),
    })
}

/// A forecast's time to send `contacts` at `pace`, with the messaging
/// limit's windows and the quiet hours' share of the day accounted for.
pub fn eta(contacts: i64, pace: f64, limit: Option<&MessagingLimitView>, rules: &DeliveryRules) -> (i64, Option<i64>) {
    let mut seconds = (contacts as f64 / pace.max(f64::EPSILON) * 1000.0).round() / 1000.0;
    if let Some(quiet) = rules.quiet_hours {
        seconds /= quiet.open_fraction().max(1.0 / 1440.0);
    }
    let windows = limit.and_then(|m| Some((m.limit?, m.remaining?, m.window_seconds))).map(|(limit, remaining, w)| {
        let beyond = (contacts - remaining).max(0);
        let more = (beyond + limit - 1) / limit.max(1);
        (1 + more, more * i64::try_from(w).unwrap_or(i64::MAX))
    });
    if let Some((_, waiting)) = windows {
        seconds = seconds.max(waiting as f64);
    }
    (seconds.ceil() as i64, windows.map(|(n, _)| n))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn limit(limit: i64, remaining: i64) -> MessagingLimitView {
        MessagingLimitView {
            tier: None,
            limit: Some(limit),
            used: limit - remaining,
            remaining: Some(remaining),
            window_seconds: 86_400,
            next_capacity_at: None,
        }
    }

    #[test]
    fn the_eta_counts_the_windows_a_tier_needs_and_the_share_of_the_day_the_window_is_open() {
        let none = DeliveryRules::default();
        // 30,000 contacts on a 10,000 tier: three windows, two of them waited for.
        assert_eq!(eta(30_000, 1000.0, Some(&limit(10_000, 10_000)), &none), (2 * 86_400, Some(3)));
        assert_eq!(eta(10_000, 100.0, Some(&limit(10_000, 10_000)), &none), (100, Some(1)));
        assert_eq!(eta(10_000, 100.0, None, &none), (100, None));
        let quiet: DeliveryRules =
            serde_json::from_str(r#"{"quiet_hours":{"send_from":"09:00","send_until":"21:00"}}"#).unwrap();
        assert_eq!(eta(3_600, 1.0, None, &quiet), (7_200, None), "open half the day: twice as long");
    }

    #[test]
    fn closed_zones_wait_and_say_when_they_open() {
        let quiet = QuietHours { send_from: "09:00".parse().unwrap(), send_until: "20:00".parse().unwrap() };
        let now = Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap();
        let zones = vec!["Europe/Madrid".to_owned(), "America/Bogota".to_owned()];
        let w = quiet_waiting(quiet, &zones, now).unwrap();
        assert_eq!(w.until, Some(Utc.with_ymd_and_hms(2026, 1, 15, 14, 0, 0).unwrap()));
        assert!(w.reason.starts_with("recipients in America/Bogota wait"), "{}", w.reason);
        assert_eq!(quiet_waiting(quiet, &zones[..1], now), None);
    }
}
