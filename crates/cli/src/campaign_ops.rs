//! `campaignsctl campaign pause|resume`: stop and restart an active
//! campaign's sending, as the engine does when WhatsApp refuses a sender.

use anyhow::bail;
use serde_json::{Value, json};
use store::{PgPool, campaigns, owners};

pub async fn pause(pg: &PgPool, id: i64, reason: &str) -> anyhow::Result<Value> {
    if !campaigns::pause(pg, id, campaigns::OPERATOR_PAUSE, reason).await? {
        bail!("campaign {id} is not active, or is paused already");
    }
    Ok(json!({"campaign_id": id, "paused": true, "pause_code": campaigns::OPERATOR_PAUSE, "pause_reason": reason}))
}

pub async fn resume(pg: &PgPool, id: i64) -> anyhow::Result<Value> {
    let Some(org) = owners::campaign_org(pg, id).await? else {
        bail!("there is no campaign {id}");
    };
    let mut tx = pg.begin().await?;
    let Some(campaign) = campaigns::get(&mut *tx, org, id).await? else {
        bail!("there is no campaign {id}");
    };
    if campaign.paused_at.is_none() {
        bail!("campaign {id} is not paused");
    }
    campaigns::resume(&mut tx, org, id).await?;
    tx.commit().await?;
    Ok(json!({"campaign_id": id, "resumed": true, "was_paused_because": campaign.pause_reason}))
}
