//! The checks, once everything settled (or the deadline passed): the
//! ledger against wa-sim's own log of accepted sends, the live counters
//! and statistics against an aggregate of the ledger, and what the API
//! acknowledged (statuses, replies) against what the ledger and the bot
//! show.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Context;
use serde::Deserialize;

use super::{Stack, settle, tap};

/// Samples kept per finding, for the report.
const SAMPLES: usize = 5;

/// The part of wa-sim's log of accepted sends (`/_sim/messages`) read here.
#[derive(Debug, Deserialize)]
pub struct SimMessage {
    to: String,
    wamid: String,
    biz_opaque_callback_data: Option<String>,
}

impl SimMessage {
    /// `(campaign, contact)` from our callback data `c{campaign}:r{contact}:a{attempt}:{mac}`.
    fn row(&self) -> Option<(i64, i64)> {
        let mut parts = self.biz_opaque_callback_data.as_deref()?.split(':');
        let campaign = parts.next()?.strip_prefix('c')?.parse().ok()?;
        let contact = parts.next()?.strip_prefix('r')?.parse().ok()?;
        Some((campaign, contact))
    }
}

pub async fn sim_messages(stack: &Stack) -> anyhow::Result<Vec<SimMessage>> {
    stack
        .http
        .get(format!("{}/_sim/messages", stack.sim_url))
        .send()
        .await?
        .json()
        .await
        .context("wa-sim's message log")
}

fn sample(samples: &mut Vec<String>, line: impl FnOnce() -> String) {
    if samples.len() < SAMPLES {
        samples.push(line());
    }
}

#[derive(Debug, Default)]
pub struct CampaignChecks {
    pub recipients: i64,
    pub sim_messages: usize,
    /// Recipients (`to`) wa-sim accepted more than one message of the campaign for.
    pub duplicates: usize,
    /// Audience contacts without a ledger row.
    pub lost_unplanned: i64,
    /// Rows that claim a send wa-sim never accepted (no message with their wamid).
    pub lost_unsent: usize,
    pub non_terminal: i64,
    pub in_doubt: i64,
    pub outcome_unknown: i64,
    /// Rows failed as `outcome_unknown` although wa-sim accepted their message.
    pub failed_but_sent: usize,
    pub counter_mismatch: usize,
    pub states: BTreeMap<String, i64>,
    pub samples: Vec<String>,
}

impl CampaignChecks {
    pub fn lost(&self) -> i64 {
        self.lost_unplanned + self.lost_unsent as i64
    }

    pub fn failures(&self) -> i64 {
        self.duplicates as i64 + self.lost() + self.non_terminal + self.counter_mismatch as i64
    }
}

/// Differences between two metric maps (absent = 0), as `metric: a vs b`.
fn diff(what: &str, a: &BTreeMap<String, i64>, b: &BTreeMap<String, i64>) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (x, y) = (a.get(k).copied().unwrap_or(0), b.get(k).copied().unwrap_or(0));
            (x != y).then(|| format!("{what} {k}: {x} vs ledger {y}"))
        })
        .collect()
}

pub async fn campaign(stack: &Stack, id: i64, tag: &str, messages: &[SimMessage]) -> anyhow::Result<CampaignChecks> {
    let mut c = CampaignChecks::default();
    let prefix = format!("c{id}:");
    let ours: Vec<&SimMessage> = messages
        .iter()
        .filter(|m| m.biz_opaque_callback_data.as_deref().is_some_and(|d| d.starts_with(&prefix)))
        .collect();
    c.sim_messages = ours.len();
    let mut per_to: HashMap<&str, usize> = HashMap::new();
    for m in &ours {
        *per_to.entry(m.to.as_str()).or_default() += 1;
    }
    for (to, n) in per_to.iter().filter(|(_, n)| **n > 1) {
        c.duplicates += 1;
        sample(&mut c.samples, || format!("duplicate: {to} got {n} messages"));
    }
    let sent_contacts: HashSet<i64> = ours.iter().filter_map(|m| m.row()).map(|(_, contact)| contact).collect();
    let wamids: HashSet<&str> = messages.iter().map(|m| m.wamid.as_str()).collect();

    let rows: Vec<(i64, String, Option<String>, Option<String>)> =
        sqlx::query_as("select contact_id, state, reason_code, wamid from recipients where campaign_id = $1")
            .bind(id)
            .fetch_all(&stack.db)
            .await?;
    c.recipients = rows.len() as i64;
    for (contact, state, reason, wamid) in &rows {
        *c.states.entry(state.clone()).or_default() += 1;
        match state.as_str() {
            "planned" | "queued" | "sending" | "in_doubt" => c.non_terminal += 1,
            "accepted" | "sent" | "delivered" | "read" if !wamid.as_deref().is_some_and(|w| wamids.contains(w)) => {
                c.lost_unsent += 1;
                sample(&mut c.samples, || {
                    format!("lost: contact {contact} is {state} with wamid {wamid:?} unseen by wa-sim")
                });
            }
            "failed" if reason.as_deref() == Some("outcome_unknown") => {
                c.outcome_unknown += 1;
                if sent_contacts.contains(contact) {
                    c.failed_but_sent += 1;
                }
            }
            _ => {}
        }
        if state == "in_doubt" {
            c.in_doubt += 1;
        }
    }
    c.lost_unplanned = sqlx::query_scalar(
        "select count(*) from contacts k join campaigns cp on cp.id = $1 and k.org_id = cp.org_id
         where k.tags @> array[$2]::text[]
           and not exists (select 1 from recipients r where r.campaign_id = $1 and r.contact_id = k.id)",
    )
    .bind(id)
    .bind(tag)
    .fetch_one(&stack.db)
    .await?;
    if c.lost_unplanned > 0 {
        let n = c.lost_unplanned;
        sample(&mut c.samples, || format!("lost: {n} audience contacts have no ledger row"));
    }
    let mismatches = counters(stack, id).await?;
    c.counter_mismatch = mismatches.len();
    for m in mismatches {
        sample(&mut c.samples, || m);
    }
    Ok(c)
}

/// `campaign_counters` and `GET /v1/campaigns/{id}/stats` against the same
/// metrics aggregated over the ledger (`recipient_metrics`, the function
/// the counters' triggers use).
async fn counters(stack: &Stack, id: i64) -> anyhow::Result<Vec<String>> {
    counter_mismatches(&stack.db, &stack.api()?, id).await
}

/// [`counters`] for any campaign: one line per counter or stat that differs
/// from the ledger.
pub(crate) async fn counter_mismatches(
    db: &sqlx::PgPool,
    api: &crate::forecast::Api,
    id: i64,
) -> anyhow::Result<Vec<String>> {
    let ledger: BTreeMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "select m.metric, count(*) from recipients r
         cross join lateral unnest(recipient_metrics(r.state, r.reason_code, r.sent_at, r.delivered_at,
                                                     r.read_at, r.replied_at)) as m(metric)
         where r.campaign_id = $1 group by 1",
    )
    .bind(id)
    .fetch_all(db)
    .await?
    .into_iter()
    .collect();
    let counters: BTreeMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "select metric, sum(value)::bigint from campaign_counters where campaign_id = $1 group by 1 having sum(value) <> 0",
    )
    .bind(id)
    .fetch_all(db)
    .await?
    .into_iter()
    .collect();
    let mut out = diff("campaign_counters", &counters, &ledger);

    let stats = api.call(reqwest::Method::GET, &format!("/v1/campaigns/{id}/stats"), None).await?;
    let mut shown = BTreeMap::new();
    for (state, n) in stats["states"].as_object().into_iter().flatten() {
        shown.insert(format!("state:{state}"), n.as_i64().unwrap_or(-1));
    }
    for reason in stats["not_sent_reasons"].as_array().into_iter().flatten() {
        shown.insert(
            format!("reason:{}", reason["code"].as_str().unwrap_or("?")),
            reason["count"].as_i64().unwrap_or(-1),
        );
    }
    for (metric, field) in [("delivered", "received"), ("read", "read"), ("replied", "replied")] {
        shown.insert(metric.to_owned(), stats[field].as_i64().unwrap_or(-1));
    }
    let comparable: BTreeMap<String, i64> = ledger
        .iter()
        .filter(|(k, _)| {
            k.starts_with("state:")
                || k.starts_with("reason:")
                || ["delivered", "read", "replied"].contains(&k.as_str())
        })
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    out.extend(diff("stats", &shown, &comparable));
    let state = |s: &str| ledger.get(&format!("state:{s}")).copied().unwrap_or(0);
    let totals = [
        ("targeted", ledger.iter().filter(|(k, _)| k.starts_with("state:")).map(|(_, v)| v).sum::<i64>()),
        ("accepted", state("accepted") + state("sent") + state("delivered") + state("read")),
        ("in_doubt", state("in_doubt")),
    ];
    for (field, expected) in totals {
        let got = stats[field].as_i64().unwrap_or(-1);
        if got != expected {
            out.push(format!("stats {field}: {got} vs ledger {expected}"));
        }
    }
    Ok(out)
}

#[derive(Debug, Default)]
pub struct GlobalChecks {
    /// (wamid, status) pairs the API acknowledged.
    pub statuses_acknowledged: usize,
    pub statuses_unapplied: usize,
    /// Of those, statuses for a wamid no ledger row holds.
    pub statuses_unmatched: usize,
    pub replies_acknowledged: usize,
    pub replies_at_bot: usize,
    pub replies_dead: usize,
    pub replies_missing: usize,
    pub webhook_events_dead: i64,
    /// wa-sim batches that ran out of attempts without a 200.
    pub webhooks_abandoned: usize,
    pub webhooks_unanswered: usize,
    pub sim_posts_ok: usize,
    pub samples: Vec<String>,
}

/// Statuses and replies of both campaigns (they share the number and the bot).
pub async fn global(stack: &Stack, campaigns: &[i64]) -> anyhow::Result<GlobalChecks> {
    let mut g = GlobalChecks::default();
    let rows: Vec<(String, String, bool, bool, bool)> = sqlx::query_as(
        "select wamid, state, sent_at is not null, delivered_at is not null, read_at is not null
         from recipients where campaign_id = any($1) and wamid is not null",
    )
    .bind(campaigns)
    .fetch_all(&stack.db)
    .await?;
    let ledger: HashMap<&str, (&str, bool, bool, bool)> =
        rows.iter().map(|(w, s, a, b, c)| (w.as_str(), (s.as_str(), *a, *b, *c))).collect();
    let (statuses, replies) = {
        let ack = stack.tap.acknowledged();
        (ack.statuses.clone(), ack.replies.clone())
    };
    for (wamid, bits) in &statuses {
        let kinds = [(tap::SENT, "sent"), (tap::DELIVERED, "delivered"), (tap::READ, "read"), (tap::FAILED, "failed")];
        for (bit, kind) in kinds.into_iter().filter(|(bit, _)| bits & bit != 0) {
            g.statuses_acknowledged += 1;
            let applied = match ledger.get(wamid.as_str()) {
                None => {
                    g.statuses_unmatched += 1;
                    false
                }
                Some(&(state, sent, delivered, read)) => match bit {
                    tap::SENT => sent,
                    tap::DELIVERED => delivered,
                    tap::READ => read,
                    _ => matches!(state, "failed" | "delivered" | "read"),
                },
            };
            if !applied {
                g.statuses_unapplied += 1;
                let row = ledger.get(wamid.as_str()).map_or("no ledger row".to_owned(), |r| format!("row {}", r.0));
                sample(&mut g.samples, || format!("status {kind} of {wamid} acknowledged, not applied ({row})"));
            }
        }
    }
    let at_bot = stack.bot.received();
    let dead: HashSet<String> =
        sqlx::query_scalar::<_, String>("select wamid from inbound_messages where dead_at is not null")
            .fetch_all(&stack.db)
            .await?
            .into_iter()
            .collect();
    g.replies_acknowledged = replies.len();
    let mut missing = Vec::new();
    for id in &replies {
        if at_bot.contains(id) {
            g.replies_at_bot += 1;
        } else if dead.contains(id) {
            g.replies_dead += 1;
        } else {
            g.replies_missing += 1;
            missing.push(id);
        }
    }
    for id in missing.into_iter().take(SAMPLES) {
        let row: Option<(String, bool, i32, Option<String>)> = sqlx::query_as(
            "select route, routed_at is not null, route_attempts, last_error from inbound_messages where wamid = $1",
        )
        .bind(id)
        .fetch_optional(&stack.db)
        .await?;
        let row = row.map_or("not in inbound_messages".to_owned(), |(route, routed, attempts, error)| {
            format!("route {route}, routed {routed}, attempts {attempts}, last error {error:?}")
        });
        sample(&mut g.samples, || format!("reply {id} acknowledged, neither at the bot nor dead-lettered ({row})"));
    }
    g.webhook_events_dead = sqlx::query_scalar("select count(*) from webhook_events where failed_at is not null")
        .fetch_one(&stack.db)
        .await?;
    let (unanswered, abandoned, ok) = settle::sim_batches(stack).await?;
    (g.webhooks_unanswered, g.webhooks_abandoned, g.sim_posts_ok) = (unanswered, abandoned, ok);
    Ok(g)
}

/// Lines with `panicked at` in every log of an engine process or wa-sim.
pub fn panics(stack: &Stack) -> (usize, Vec<String>) {
    panics_in(&stack.dir)
}

fn panics_in(dir: &std::path::Path) -> (usize, Vec<String>) {
    let mut found = (0, Vec::new());
    let Ok(dir) = std::fs::read_dir(dir) else { return found };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = ["api.", "worker.", "wa-sim."].iter().any(|p| name.starts_with(p)) && name.ends_with(".log");
        if !ours {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for line in text.lines().filter(|l| l.contains("panicked at")) {
            found.0 += 1;
            sample(&mut found.1, || format!("{name}: {}", line.chars().take(300).collect::<String>()));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_data_names_the_row() {
        let m = |data: Option<&str>| SimMessage {
            to: "+34610000001".to_owned(),
            wamid: "wamid.X".to_owned(),
            biz_opaque_callback_data: data.map(str::to_owned),
        };
        assert_eq!(m(Some("c12:r345:a2:mac")).row(), Some((12, 345)));
        assert_eq!(m(Some("garbage")).row(), None);
        assert_eq!(m(None).row(), None);
    }

    #[test]
    fn diff_treats_absent_as_zero() {
        let map = |pairs: &[(&str, i64)]| pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        let a = map(&[("state:read", 3), ("read", 0)]);
        let b = map(&[("state:read", 3), ("sent", 1)]);
        assert_eq!(diff("x", &a, &b), vec!["x sent: 0 vs ledger 1".to_owned()]);
    }

    #[test]
    fn panics_are_found_in_engine_logs_only() {
        let dir = std::env::temp_dir().join(format!("chaos-panics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("worker.2.log"), "ok\nthread 'main' panicked at src/x.rs:1:1:\nboom\n").unwrap();
        std::fs::write(dir.join("pg.log"), "panicked at (not ours)\n").unwrap();
        let (count, samples) = panics_in(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(count, 1);
        assert!(samples[0].starts_with("worker.2.log: "), "{samples:?}");
    }
}
