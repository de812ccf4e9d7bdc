//! Reply-aware pacing: a campaign that states its support team's capacity
//! (replies per hour, most open inbox cases) is sent at the pace that keeps
//! the replies it provokes within it. Each tick measures the campaign's
//! replies over [`super::Settings::reply_window`], its reply ratio so far
//! and its open cases, and sets the pace the fan-out and the limiter use;
//! never above the configured pace.

use std::time::Duration;

use domain::campaign::{DeliveryRules, SupportCapacity};
use serde::Deserialize;
use store::{
    pacing::{self, Decision, Observation},
    recipients::configured_pace,
};

use super::Pipeline;

/// A change of pace larger than this share (or of its reason) is recorded in
/// the campaign's pacing history.
const NOTABLE_CHANGE: f64 = 0.25;

/// A change of pace smaller than this share is not even written.
const UNWRITTEN_CHANGE: f64 = 0.05;

/// From this share of the capacity on, the pace slows down towards zero at
/// the capacity: replies settle between it and the capacity.
const SLOW_FROM: f64 = 0.75;

impl Pipeline {
    pub(super) async fn pace_by_replies(&self) -> anyhow::Result<()> {
        for c in pacing::paced_campaigns(&self.pg).await? {
            let Some(capacity) =
                DeliveryRules::deserialize(&c.delivery_rules).ok().and_then(|rules| rules.support_capacity)
            else {
                continue;
            };
            let observed = pacing::observe(&self.pg, c.id, c.org_id, self.settings.reply_window).await?;
            let configured = configured_pace(c.pace_per_hour, c.pace_per_second, c.throughput_per_sec);
            let (paced, code, reason) = decide(capacity, observed, configured, self.settings.reply_window);
            // Always a pace, the configured one when not slowed: until the
            // first decision the fan-out sends nothing (see `fan_out`).
            let now = paced.unwrap_or(configured);
            // How much the pace moved since the last decision (none before the first).
            let moved = c.paced_per_second.map(|before| (now - before).abs() / before.max(now).max(f64::EPSILON));
            let notable = c.pacing_code.as_deref() != code || moved.is_none_or(|m| m > NOTABLE_CHANGE);
            if !notable && moved.is_some_and(|m| m <= UNWRITTEN_CHANGE) {
                continue;
            }
            let decision = Decision { pace_per_second: now, code, reason: reason.as_deref() };
            pacing::set(&self.pg, c.id, &decision, notable).await?;
            if notable {
                tracing::info!(
                    campaign.id = c.id,
                    pace_per_second = now,
                    code = code.unwrap_or("configured_pace"),
                    "reply-aware pacing changed the pace"
                );
            }
        }
        Ok(())
    }
}

/// The pace for a campaign (`None`: the configured one), the code of why it
/// is lower, and the readable reason.
fn decide(
    capacity: SupportCapacity,
    seen: Observation,
    configured: f64,
    window: Duration,
) -> (Option<f64>, Option<&'static str>, Option<String>) {
    let mut pace = configured;
    let mut why: Option<(&'static str, String)> = None;
    if let Some(max) = capacity.max_open_cases.map(i64::from) {
        if seen.open_cases >= max {
            return (
                Some(0.0),
                Some("open_cases"),
                Some(format!(
                    "{} inbox cases of this campaign are open, the team's maximum is {max}: sending waits until cases close",
                    seen.open_cases
                )),
            );
        }
        let share = seen.open_cases as f64 / max as f64;
        if share >= SLOW_FROM {
            pace *= (1.0 - share) / (1.0 - SLOW_FROM);
            why = Some(("open_cases", format!("{} of {max} inbox cases are open: sending slowed", seen.open_cases)));
        }
    }
    if let Some(per_hour) = capacity.replies_per_hour.map(f64::from) {
        let rate = seen.recent_repliers as f64 * 3600.0 / window.as_secs_f64().max(1.0);
        if rate >= per_hour {
            return (
                Some(0.0),
                Some("reply_capacity"),
                Some(format!(
                    "replies at {rate:.0}/hour reached the team's capacity of {per_hour:.0}/hour: sending waits"
                )),
            );
        }
        // The share of recipients who reply, with one reply assumed up
        // front: a campaign starts at the pace where every send is replied
        // to and speeds up as sends go unanswered.
        let ratio = (seen.replied + 1) as f64 / (seen.sent + 1) as f64;
        let headroom = ((1.0 - rate / per_hour) / (1.0 - SLOW_FROM)).min(1.0);
        let sustainable = per_hour / 3600.0 / ratio.max(f64::EPSILON) * headroom;
        if sustainable < pace {
            pace = sustainable;
            why = Some((
                "reply_capacity",
                format!(
                    "{:.0}% of recipients reply and replies run at {rate:.0}/hour: sending slowed to stay within \
                     the team's {per_hour:.0} replies/hour",
                    ratio * 100.0
                ),
            ));
        }
    }
    match why {
        Some((code, reason)) if pace < configured => (Some(pace.max(0.0)), Some(code), Some(reason)),
        _ => (None, None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(recent_repliers: i64, sent: i64, replied: i64, open_cases: i64) -> Observation {
        Observation { recent_repliers, sent, replied, open_cases }
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_campaign_starts_at_the_pace_every_reply_would_allow_and_speeds_up_as_sends_go_unanswered() {
        let team = SupportCapacity { replies_per_hour: Some(360), max_open_cases: None };
        // 360/hour is 0.1/s: with nothing sent yet, every send is assumed answered.
        let (pace, code, _) = decide(team, seen(0, 0, 0, 0), 20.0, MINUTE);
        assert_eq!(code, Some("reply_capacity"));
        assert!((pace.unwrap() - 0.1).abs() < 1e-9);
        // 99 sent, none answered: the ratio is 1 %, the pace 100 times higher (capped at the configured 20).
        let (pace, ..) = decide(team, seen(0, 99, 0, 0), 5.0, MINUTE);
        assert_eq!(pace, None, "never above the configured pace");
        let (pace, ..) = decide(team, seen(0, 99, 0, 0), 50.0, MINUTE);
        assert!((pace.unwrap() - 10.0).abs() < 1e-9);
    }

    #[test]
    fn sending_waits_at_the_capacity_and_slows_near_it() {
        let team = SupportCapacity { replies_per_hour: Some(600), max_open_cases: Some(10) };
        // 10 replies in the last minute = 600/hour: the capacity.
        let (pace, code, reason) = decide(team, seen(10, 100, 50, 0), 20.0, MINUTE);
        assert_eq!((pace, code), (Some(0.0), Some("reply_capacity")));
        assert!(reason.unwrap().contains("600/hour"));
        // 10 open cases of 10: waits whatever the replies.
        assert_eq!(decide(team, seen(0, 100, 0, 10), 20.0, MINUTE).1, Some("open_cases"));
        // 8 of 10 open: slowed to (1 − 0.8) / 0.25 = 80 % of the configured pace.
        let few = SupportCapacity { replies_per_hour: None, max_open_cases: Some(10) };
        let (pace, code, _) = decide(few, seen(0, 100, 0, 8), 10.0, MINUTE);
        assert_eq!(code, Some("open_cases"));
        assert!((pace.unwrap() - 8.0).abs() < 1e-9);
        assert_eq!(decide(few, seen(0, 100, 0, 2), 10.0, MINUTE), (None, None, None));
    }
}
