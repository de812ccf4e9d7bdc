//! Waiting, with a deadline, until a campaign has settled: every recipient
//! terminal, no stored webhook pending, every reply with a route delivered
//! or dead-lettered, and wa-sim's webhooks drained (each POST answered 200
//! or out of attempts, none in flight, and long enough since the last send
//! for its statuses and replies to have been posted).
//!
//! While a fault schedule runs, its faults are injected from this same
//! loop: a fault and a poll never race for the processes, and a campaign
//! cannot count as settled before the last fault.

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use anyhow::Context;
use serde::Deserialize;

use super::{Stack, faults::Schedule, setup};

const POLL: Duration = Duration::from_millis(500);
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// After wa-sim's last accepted send, how long its statuses and replies
/// may still take to be posted: its delays, two flushes and a margin.
fn quiet_period() -> Duration {
    Duration::from_millis(
        setup::SENT_DELAY_MS
            + setup::DELIVERED_DELAY_MS
            + setup::READ_DELAY_MS
            + setup::REPLY_DELAY_MS
            + 2 * setup::FLUSH_MS
            + 1_500,
    )
}

/// One webhook POST attempt in wa-sim's log (`/_sim/webhooks`).
#[derive(Debug, Deserialize)]
pub struct Delivery {
    pub batch: u64,
    pub attempt: u32,
    pub status_code: Option<u16>,
}

/// wa-sim's webhook batches by outcome: (still to be retried or answered,
/// given up after the last attempt, answered 200).
pub async fn sim_batches(stack: &Stack) -> anyhow::Result<(usize, usize, usize)> {
    let log: Vec<Delivery> = stack
        .http
        .get(format!("{}/_sim/webhooks", stack.sim_url))
        .send()
        .await?
        .json()
        .await
        .context("wa-sim's webhook log")?;
    let mut batches: HashMap<u64, (bool, u32)> = HashMap::new();
    for d in &log {
        let b = batches.entry(d.batch).or_default();
        b.0 |= d.status_code == Some(200);
        b.1 = b.1.max(d.attempt);
    }
    let ok = batches.values().filter(|b| b.0).count();
    let abandoned = batches.values().filter(|b| !b.0 && b.1 >= setup::WEBHOOK_ATTEMPTS).count();
    Ok((batches.len() - ok - abandoned, abandoned, ok))
}

/// What one poll saw.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub states: BTreeMap<String, i64>,
    pub rows: i64,
    pub non_terminal: i64,
    pub events_pending: i64,
    pub replies_pending: i64,
    pub sim_accepted: u64,
    pub sim_batches_pending: Option<usize>,
    pub error: Option<String>,
}

impl Snapshot {
    fn line(&self) -> String {
        let states: Vec<String> = self.states.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let mut line = format!(
            "{} | webhooks pending {} | replies pending {} | wa-sim accepted {}",
            states.join(", "),
            self.events_pending,
            self.replies_pending,
            self.sim_accepted
        );
        if let Some(n) = self.sim_batches_pending {
            line.push_str(&format!(" | wa-sim batches unanswered {n}"));
        }
        if let Some(e) = &self.error {
            line.push_str(&format!(" | poll failed: {e}"));
        }
        line
    }
}

#[derive(Debug)]
pub struct Settled {
    pub settled: bool,
    /// From the launch until settled (or until the deadline).
    pub seconds: f64,
}

async fn snapshot(stack: &Stack, campaign: i64) -> Snapshot {
    let mut snap = Snapshot::default();
    let polled = async {
        let states: Vec<(String, i64)> =
            sqlx::query_as("select state, count(*) from recipients where campaign_id = $1 group by state")
                .bind(campaign)
                .fetch_all(&stack.db)
                .await?;
        snap.rows = states.iter().map(|(_, n)| n).sum();
        snap.non_terminal = states
            .iter()
            .filter(|(s, _)| matches!(s.as_str(), "planned" | "queued" | "sending" | "in_doubt"))
            .map(|(_, n)| n)
            .sum();
        snap.states = states.into_iter().collect();
        snap.events_pending =
            sqlx::query_scalar("select count(*) from webhook_events where processed_at is null and failed_at is null")
                .fetch_one(&stack.db)
                .await?;
        snap.replies_pending = sqlx::query_scalar(
            "select count(*) from inbound_messages where bot_flow_id is not null and routed_at is null and dead_at is null",
        )
        .fetch_one(&stack.db)
        .await?;
        let count: serde_json::Value =
            stack.http.get(format!("{}/_sim/messages/count", stack.sim_url)).send().await?.json().await?;
        snap.sim_accepted = count["accepted"].as_u64().unwrap_or(0);
        anyhow::Ok(())
    };
    if let Err(e) = polled.await {
        snap.error = Some(format!("{e:#}"));
    }
    snap
}

/// Polls until `campaign` (whose ledger should hold `rows` recipients) has
/// settled or `deadline` (from `launched`) passes, injecting `schedule`'s
/// faults when they are due.
pub async fn wait(
    stack: &mut Stack,
    campaign: i64,
    rows: i64,
    launched: Instant,
    deadline: Duration,
    mut schedule: Option<&mut Schedule>,
) -> anyhow::Result<Settled> {
    let (mut seen, mut changed) = (0u64, Instant::now());
    let mut printed = Instant::now();
    loop {
        let since = launched.elapsed();
        if let Some(s) = schedule.as_deref_mut()
            && let Some(fault) = s.due(since)
        {
            s.inject(fault, stack, launched).await;
            continue;
        }
        stack.heal().await?;
        let mut snap = snapshot(stack, campaign).await;
        if snap.sim_accepted != seen {
            (seen, changed) = (snap.sim_accepted, Instant::now());
        }
        let faults_done = schedule.as_ref().is_none_or(|s| s.done());
        let ledger_done = snap.error.is_none()
            && snap.rows >= rows
            && snap.non_terminal == 0
            && snap.events_pending == 0
            && snap.replies_pending == 0;
        if faults_done && ledger_done && stack.tap.in_flight() == 0 && changed.elapsed() >= quiet_period() {
            // The costliest check last: wa-sim's whole delivery log.
            match sim_batches(stack).await {
                Ok((0, _, _)) => return Ok(Settled { settled: true, seconds: since.as_secs_f64() }),
                Ok((pending, _, _)) => snap.sim_batches_pending = Some(pending),
                Err(e) => snap.error = Some(format!("{e:#}")),
            }
        }
        if since > deadline {
            eprintln!("chaos: not settled after {:.0} s: {}", since.as_secs_f64(), snap.line());
            return Ok(Settled { settled: false, seconds: since.as_secs_f64() });
        }
        if printed.elapsed() >= PROGRESS_EVERY {
            printed = Instant::now();
            let faults = schedule.as_ref().map(|s| format!(" | faults {}", s.injected.len())).unwrap_or_default();
            eprintln!("chaos: +{:.0} s {}{faults}", since.as_secs_f64(), snap.line());
        }
        tokio::time::sleep(POLL).await;
    }
}
