//! The job types: small serde structs carrying ids, never snapshots of data.
//! A handler re-reads Postgres and treats "already done" as success, so a
//! job delivered twice is harmless (docs/architecture.md, "Postgres is the truth").

use serde::{Serialize, de::DeserializeOwned};

/// A job type and where it lives. The names are part of the wire format:
/// changing one orphans every task already queued under the old name.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + Unpin + 'static {
    /// The Redis queue (key prefix). Never contains `:`: apalis-redis's
    /// pub/sub wake-up splits channel names on `:` and would never wake it.
    const QUEUE: &'static str;
    /// The name `job_outbox.queue` uses for this job, when it is written
    /// through the outbox.
    const OUTBOX_KIND: &'static str;
}

/// Plans a launched campaign's recipient ledger and starts its fan-out.
/// Written to `job_outbox` (kind `launch`, key `launch:<id>`) in the same
/// transaction that makes the campaign Active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LaunchJob {
    pub campaign_id: i64,
}

impl Job for LaunchJob {
    const QUEUE: &'static str = "campaigns.launch";
    const OUTBOX_KIND: &'static str = "launch";
}

/// Sends one campaign message to one contact. The ledger row
/// `(campaign_id, contact_id)` is claimed before sending, so only one
/// delivery of this job ever sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SendJob {
    pub campaign_id: i64,
    pub contact_id: i64,
    /// The row's dispatch number when this job was pushed: a job whose number
    /// is no longer the row's was replaced by a newer push and does nothing.
    #[serde(default)]
    pub dispatch: i32,
    /// Failures before the claim so far (the limiter or Postgres failing):
    /// the back-off grows with it, and a systemic one pauses the campaign.
    #[serde(default)]
    pub failures: u16,
}

impl Job for SendJob {
    const QUEUE: &'static str = "campaigns.send";
    // Send jobs are pushed by the fan-out, never through the outbox.
    const OUTBOX_KIND: &'static str = "send";
}

impl SendJob {
    pub fn new(campaign_id: i64, contact_id: i64, dispatch: i32) -> Self {
        Self { campaign_id, contact_id, dispatch, failures: 0 }
    }

    /// The idempotency key of this send: pushing the same recipient twice
    /// while the key lives enqueues one task.
    pub fn dedupe_key(&self) -> String {
        format!("send:{}:{}", self.campaign_id, self.contact_id)
    }
}

/// Delivers one inbound message (by its wamid) to its bot flow. Pushed after
/// the message is recorded in `inbound_messages`; the handler re-reads the
/// row and does nothing once it was delivered or given up on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplyJob {
    pub wamid: String,
}

impl Job for ReplyJob {
    const QUEUE: &'static str = "campaigns.reply";
    // Pushed by the status consumer after its transaction, never through the outbox.
    const OUTBOX_KIND: &'static str = "reply";
}

impl ReplyJob {
    /// Pushing the same message twice while the key lives enqueues one task.
    pub fn dedupe_key(&self) -> String {
        format!("reply:{}", self.wamid)
    }
}

/// Builds one CSV report of a campaign's ledger. Written to `job_outbox`
/// (kind `report`, key `report:<id>`) in the transaction that records the
/// request; the handler does nothing for a report already ready or failed,
/// and restarts one left building.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReportJob {
    pub report_id: i64,
}

impl Job for ReportJob {
    const QUEUE: &'static str = "campaigns.report";
    const OUTBOX_KIND: &'static str = "report";
}
