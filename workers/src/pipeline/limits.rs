//! Meta's messaging limit, the worker's part: each number's tier is read
//! from Meta again every [`super::Settings::tier_refresh`] (and soon after
//! a `business_capability_update` webhook or a refusal for the limit marks
//! it stale), and reaches that left the window are forgotten. The budget
//! itself is spent in the fan-out.
//!
//! The reads from Meta run in a loop of their own, not in the scheduler
//! tick: a slow Cloud API must not delay every campaign's fan-out.

use std::sync::Arc;

use store::{OrgId, numbers};
use tokio_util::sync::CancellationToken;

use super::Pipeline;

/// Numbers whose tier is read per round.
const TIER_READS_PER_ROUND: i64 = 5;

/// Reaches forgotten per tick.
const PRUNE_BATCH: i64 = 10_000;

/// Reads the tiers that are due, every tick, until `stop`. Several processes
/// may run it: each number is claimed by one (`skip locked`).
pub(super) async fn refresh_tiers(pipeline: Arc<Pipeline>, stop: CancellationToken) {
    let mut every = tokio::time::interval(pipeline.settings.tick);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        if let Err(e) = pipeline.read_due_tiers().await {
            tracing::warn!(error.cause_chain = %format!("{e:#}"), "reading messaging tiers failed");
        }
    }
}

impl Pipeline {
    async fn read_due_tiers(&self) -> anyhow::Result<()> {
        for due in numbers::claim_tier_checks(&self.pg, self.settings.tier_refresh, TIER_READS_PER_ROUND).await? {
            let token = numbers::decrypt_access_token(&self.sender.cipher, OrgId(due.org_id), &due.access_token_enc)?;
            match self.sender.cloud.phone_number(&due.phone_number_id, &token).await {
                Ok(info) => {
                    let tier = info.whatsapp_business_manager_messaging_limit.as_deref();
                    numbers::set_tier(&self.pg, due.id, tier).await?;
                    tracing::debug!(number.id = due.id, ?tier, "messaging tier read from Meta");
                }
                // Tried again after the refresh interval; the last tier known stays in force.
                Err(e) => tracing::warn!(number.id = due.id, error = %e, "reading the messaging tier from Meta failed"),
            }
        }
        Ok(())
    }

    /// The tick's part: forget reaches that left the window.
    pub(super) async fn prune_reaches(&self) -> anyhow::Result<()> {
        store::messaging_limit::prune(&self.pg, self.settings.messaging_window, PRUNE_BATCH).await?;
        Ok(())
    }
}
