//! Meta's messaging limit, the worker's part: each number's tier is read
//! from Meta again every [`super::Settings::tier_refresh`] (and soon after
//! a `business_capability_update` webhook marks it stale), and reaches that
//! left the window are forgotten. The budget itself is spent in the fan-out.

use store::{OrgId, numbers};

use super::Pipeline;

/// Numbers whose tier is read per tick: the tick must stay short.
const TIER_READS_PER_TICK: i64 = 5;

/// Reaches forgotten per tick.
const PRUNE_BATCH: i64 = 10_000;

impl Pipeline {
    pub(super) async fn messaging_limits(&self) -> anyhow::Result<()> {
        for due in numbers::claim_tier_checks(&self.pg, self.settings.tier_refresh, TIER_READS_PER_TICK).await? {
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
        store::messaging_limit::prune(&self.pg, self.settings.messaging_window, PRUNE_BATCH).await?;
        Ok(())
    }
}
