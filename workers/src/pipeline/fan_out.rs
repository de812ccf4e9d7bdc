//! Fan-out with a bounded window: moving a campaign's planned recipients to
//! the queue a window at a time, and pushing their send jobs.

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use domain::{
    campaign::{DeliveryRules, QuietHours, zone_or_utc},
    messaging_limit::{self, Limit},
};
use queue::{
    SendJob,
    apalis::prelude::{TaskBuilder, TaskSink},
};
use serde::Deserialize;
use store::{campaigns, messaging_limit::Pick, recipients, recipients::JobKey};

use super::Pipeline;

impl Pipeline {
    /// Tops a campaign's queued window up to its pace × the window (at most
    /// [`super::Settings::window_max`]); returns how many send jobs were pushed.
    ///
    /// One process at a time per campaign (a transaction-scoped advisory
    /// lock; a caller that finds it taken does nothing, the holder is
    /// filling the same window), so the tick, the launch job and the send
    /// workers' top-ups in any number of processes never overfill it.
    pub async fn fan_out(&self, campaign_id: i64) -> anyhow::Result<usize> {
        let mut tx = self.pg.begin().await?;
        // The two-key form: its key space is apart from the scheduler's one-key lock.
        let mine: bool = sqlx::query_scalar("select pg_try_advisory_xact_lock(hashtext('campaigns.fan_out'), $1)")
            .bind(i32::try_from(campaign_id.rem_euclid(1 << 31)).unwrap_or_default())
            .fetch_one(&mut *tx)
            .await?;
        if !mine {
            return Ok(0);
        }
        // `queue_next` takes the first planned rows through (campaign_id,
        // state). Half-way through a large campaign the statistics say half
        // the ledger is planned and the planner picks a sequential scan, which
        // reads every row already sent (at the start of the table) each time.
        sqlx::query("set local enable_seqscan = off").execute(&mut *tx).await?;
        let Some(limits) = recipients::send_limits(&mut *tx, campaign_id).await? else { return Ok(0) };
        if limits.paced_to_zero() {
            return Ok(0); // reply-aware pacing waits for the support team
        }
        let rules = DeliveryRules::deserialize(&limits.delivery_rules).unwrap_or_default();
        if rules.support_capacity.is_some() && limits.paced_per_second.is_none() {
            return Ok(0); // reply-aware pacing has not set its first pace yet (the next tick does)
        }
        let zones = match (rules.quiet_hours, &limits.recipient_zones) {
            (Some(quiet), Some(zones)) => {
                let open = open_zones(quiet, zones, Utc::now());
                if open.is_empty() {
                    return Ok(0); // every recipient left is outside its local send window
                }
                Some(open)
            }
            _ => None,
        };
        let window = ((limits.pace_per_second() * self.settings.window.as_secs_f64()).ceil() as i64)
            .clamp(1, self.settings.window_cap());
        let room = window - campaigns::in_flight(&mut *tx, campaign_id).await?;
        if room <= 0 {
            return Ok(0);
        }
        let jobs = match messaging_limit::limit_of(limits.messaging_tier.as_deref()) {
            Limit::Unlimited => campaigns::queue_next(&mut *tx, campaign_id, room, zones.as_deref()).await?,
            Limit::Users(users) => {
                // Under the portfolio's lock: campaigns sharing it never spend the same room.
                store::messaging_limit::lock(&mut tx, limits.org_id, &limits.portfolio_id).await?;
                let window = self.settings.messaging_window;
                let budget = store::messaging_limit::budget(
                    &mut *tx,
                    limits.org_id,
                    &limits.portfolio_id,
                    i64::from(users),
                    window,
                )
                .await?;
                if budget.remaining() == 0 {
                    return Ok(0); // waiting for the messaging limit's window to roll
                }
                let pick = Pick {
                    campaign_id,
                    org_id: limits.org_id,
                    portfolio_id: &limits.portfolio_id,
                    rows: room,
                    new_phones: budget.remaining(),
                    window,
                    zones: zones.as_deref(),
                };
                store::messaging_limit::queue_within(&mut tx, pick).await?
            }
        };
        tx.commit().await?;
        self.push_sends(&jobs).await?;
        Ok(jobs.len())
    }

    /// Pushes a send job for each key. A failed push leaves the rows queued
    /// in Postgres; the tick's sweep pushes them again.
    ///
    /// Without idempotency keys: each job carries its row's dispatch number,
    /// so a second job for a row (a push that was not lost after all) finds
    /// itself stale and does nothing. A key per send would cost Redis ~100 B
    /// for its whole TTL: 50 MB at 4,000 sends/s with the hot queues' 2 minutes.
    pub(crate) async fn push_sends(&self, jobs: &[JobKey]) -> anyhow::Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let tasks: Vec<_> = jobs
            .iter()
            .map(|j| {
                TaskBuilder::new(SendJob::new(j.campaign_id, j.contact_id, j.dispatch.unwrap_or_default())).build()
            })
            .collect();
        self.sends().push_all(futures::stream::iter(tasks)).await.context("pushing send jobs")?;
        Ok(())
    }

    pub(super) async fn fan_out_all(&self) -> anyhow::Result<()> {
        for id in campaigns::sending(&self.pg).await? {
            self.fan_out(id).await?;
        }
        Ok(())
    }
}

/// The recipients' time zones whose send window is open at `now`.
pub(crate) fn open_zones(quiet: QuietHours, zones: &[String], now: DateTime<Utc>) -> Vec<String> {
    zones.iter().filter(|z| quiet.is_open_in(zone_or_utc(z), now)).cloned().collect()
}

/// The send workers' share of the fan-out: the tick tops each window up
/// once a second, which caps a campaign at `window_max` sends per second;
/// so each process also tops a campaign up after every
/// [`super::Settings::top_up_every`] of its own sends finish (one top-up per
/// campaign at a time in a process; [`Pipeline::fan_out`]'s lock keeps
/// processes apart). A slow campaign's window is never drained by that many
/// between ticks, so for it this is a rare, cheap no-op.
#[derive(Debug, Default)]
pub(super) struct TopUps {
    campaigns: std::sync::Mutex<std::collections::HashMap<i64, TopUp>>,
}

#[derive(Debug, Default)]
struct TopUp {
    sent: u32,
    running: bool,
}

impl TopUps {
    pub(super) fn sent(self: &Arc<Self>, pipeline: &Arc<Pipeline>, campaign_id: i64) {
        {
            let mut campaigns = self.campaigns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if campaigns.len() >= 10_000 {
                // Counts of campaigns long finished; only running top-ups matter.
                campaigns.retain(|_, t| t.running);
            }
            let entry = campaigns.entry(campaign_id).or_default();
            entry.sent += 1;
            if entry.running || entry.sent < pipeline.settings.top_up_every() {
                return;
            }
            *entry = TopUp { sent: 0, running: true };
        }
        let (top_ups, pipeline) = (self.clone(), pipeline.clone());
        tokio::spawn(async move {
            match pipeline.fan_out(campaign_id).await {
                Ok(pushed) => tracing::trace!(campaign.id = campaign_id, pushed, "window topped up"),
                Err(e) => {
                    tracing::warn!(error.cause_chain = %format!("{e:#}"), campaign.id = campaign_id,
                        "topping the window up failed")
                }
            }
            let mut campaigns = top_ups.campaigns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            // A campaign that stopped sending leaves nothing behind.
            if campaigns.get(&campaign_id).is_some_and(|t| t.sent == 0) {
                campaigns.remove(&campaign_id);
            } else if let Some(t) = campaigns.get_mut(&campaign_id) {
                t.running = false;
            }
        });
    }
}
