//! The readable tables (checks, then faults) and the result line's metrics.
//! The checks that must be zero decide the exit status; the goals the
//! engine may not meet yet (slowdown, unknown outcomes) are reported only.

use serde_json::{Map, Value, json};

use super::{
    checks::{CampaignChecks, GlobalChecks},
    faults::{Fault, Injected},
    settle::Settled,
};

#[derive(Debug)]
pub struct Outcome {
    pub recipients: u32,
    pub pace: f64,
    pub workers: usize,
    pub seed: u64,
    pub undisturbed: Settled,
    pub chaos: Settled,
    pub calm: CampaignChecks,
    pub checks: CampaignChecks,
    pub global: GlobalChecks,
    pub panics: (usize, Vec<String>),
    pub redis_used_memory_mb: Option<f64>,
    pub injected: Vec<Injected>,
    pub fault_counts: Vec<(Fault, usize)>,
    pub unexpected_exits: Vec<String>,
    pub bot_deliveries: u64,
    pub bot_bad_signatures: u64,
    pub tap_posts: (u64, u64, u64),
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// Prints the tables on stdout and returns the result line and whether
/// every must-be-zero check passed.
#[allow(clippy::print_stdout)] // the tables are the tool's output
pub fn render(o: &Outcome) -> (Value, bool) {
    let c = &o.checks;
    let g = &o.global;
    let slowdown = o.chaos.seconds / o.undisturbed.seconds.max(0.001);
    let unknown_pct = if c.recipients > 0 { 100.0 * c.outcome_unknown as f64 / c.recipients as f64 } else { 0.0 };
    let calm_failures = o.calm.failures();
    let must_be_zero: [(&str, i64, String); 8] = [
        (
            "duplicates",
            c.duplicates as i64,
            format!("recipients with more than one message, of {} sent", c.sim_messages),
        ),
        (
            "lost",
            c.lost(),
            format!("{} never planned, {} claimed sent but unseen by wa-sim", c.lost_unplanned, c.lost_unsent),
        ),
        ("non_terminal", c.non_terminal, format!("{} in doubt; settled: {}", c.in_doubt, yes(o.chaos.settled))),
        ("counter_mismatch", c.counter_mismatch as i64, "counters and stats vs the ledger".to_owned()),
        (
            "statuses_unapplied",
            g.statuses_unapplied as i64,
            format!("of {} acknowledged ({} for wamids no row holds)", g.statuses_acknowledged, g.statuses_unmatched),
        ),
        (
            "replies_missing",
            g.replies_missing as i64,
            format!(
                "of {} acknowledged: {} at the bot, {} dead-lettered",
                g.replies_acknowledged, g.replies_at_bot, g.replies_dead
            ),
        ),
        ("panics", o.panics.0 as i64, "`panicked at` in the API, worker and wa-sim logs".to_owned()),
        (
            "undisturbed_failures",
            calm_failures,
            format!(
                "duplicates + lost + non_terminal + counter_mismatch of the undisturbed campaign; settled: {}",
                yes(o.undisturbed.settled)
            ),
        ),
    ];
    let ok = must_be_zero.iter().all(|(_, v, _)| *v == 0);
    let info: [(&str, String, String); 7] = [
        (
            "outcome_unknown",
            c.outcome_unknown.to_string(),
            format!("{unknown_pct:.2} % of recipients; {} of them wa-sim did accept", c.failed_but_sent),
        ),
        (
            "slowdown_ratio",
            format!("{slowdown:.2}"),
            format!("chaos {:.1} s / undisturbed {:.1} s (launch to settled)", o.chaos.seconds, o.undisturbed.seconds),
        ),
        (
            "redis_used_memory_mb",
            o.redis_used_memory_mb.map_or("?".to_owned(), |m| format!("{m:.1}")),
            "INFO memory at the end".to_owned(),
        ),
        (
            "unexpected_exits",
            o.unexpected_exits.len().to_string(),
            "engine processes that died without being killed, services the harness restarted".to_owned(),
        ),
        (
            "webhook_events_dead",
            g.webhook_events_dead.to_string(),
            "stored webhooks dead-lettered by the status queue".to_owned(),
        ),
        (
            "webhooks_abandoned",
            g.webhooks_abandoned.to_string(),
            format!(
                "wa-sim batches out of attempts ({} answered 200, {} unanswered)",
                g.sim_posts_ok, g.webhooks_unanswered
            ),
        ),
        (
            "bot_bad_signatures",
            o.bot_bad_signatures.to_string(),
            format!("of {} deliveries to the bot", o.bot_deliveries),
        ),
    ];

    println!();
    println!("chaos: {} recipients per campaign at {}/s, {} workers, seed {}", o.recipients, o.pace, o.workers, o.seed);
    println!("final states of the chaos campaign: {}", states(&c.states));
    println!();
    println!("{:<22} {:>10}  {:<6} detail", "check", "value", "result");
    for (name, value, detail) in &must_be_zero {
        println!("{name:<22} {value:>10}  {:<6} {detail}", if *value == 0 { "ok" } else { "FAIL" });
    }
    for (name, value, detail) in &info {
        println!("{name:<22} {value:>10}  {:<6} {detail}", "info");
    }
    for line in c.samples.iter().chain(&o.calm.samples).chain(&g.samples).chain(&o.panics.1).chain(&o.unexpected_exits)
    {
        println!("  - {line}");
    }
    println!();
    println!("{:<15} {:>5}  {:<10} {:>8}  what", "fault", "count", "first at", "took");
    let mut kinds: Vec<&(Fault, usize)> = o.fault_counts.iter().collect();
    kinds.sort_by(|a, b| first_at(o, a.0).total_cmp(&first_at(o, b.0)));
    for (fault, count) in kinds {
        let of_kind: Vec<&Injected> = o.injected.iter().filter(|i| i.fault == *fault).collect();
        let first = of_kind.first().map_or("-".to_owned(), |i| format!("+{:.1} s", i.at));
        let took: f64 = of_kind.iter().map(|i| i.took).sum();
        println!("{:<15} {count:>5}  {first:<10} {:>6.1} s  {}", fault.name(), took, fault.describe());
    }
    let failed: Vec<&Injected> = o.injected.iter().filter(|i| !i.ok).collect();
    for i in &failed {
        println!("  - {} at +{:.1} s: {}", i.fault.name(), i.at, i.detail);
    }
    println!();

    let mut metrics = Map::new();
    for (name, value, _) in &must_be_zero {
        metrics.insert((*name).to_owned(), json!(value));
    }
    let extra = json!({
        "slowdown_ratio": round(slowdown, 3),
        "outcome_unknown": c.outcome_unknown,
        "outcome_unknown_pct": round(unknown_pct, 3),
        "failed_but_sent": c.failed_but_sent,
        "in_doubt": c.in_doubt,
        "recipients": c.recipients,
        "settled": o.chaos.settled,
        "seconds": round(o.chaos.seconds, 2),
        "undisturbed_settled": o.undisturbed.settled,
        "undisturbed_seconds": round(o.undisturbed.seconds, 2),
        "pace_per_second": o.pace,
        "workers": o.workers,
        "redis_used_memory_mb": o.redis_used_memory_mb,
        "lost_unplanned": c.lost_unplanned,
        "lost_unsent": c.lost_unsent,
        "statuses_acknowledged": g.statuses_acknowledged,
        "statuses_unmatched": g.statuses_unmatched,
        "replies_acknowledged": g.replies_acknowledged,
        "replies_at_bot": g.replies_at_bot,
        "replies_dead": g.replies_dead,
        "webhook_events_dead": g.webhook_events_dead,
        "webhooks_abandoned": g.webhooks_abandoned,
        "webhooks_unanswered": g.webhooks_unanswered,
        "webhook_posts_ok": g.sim_posts_ok,
        "tap_posts_ok": o.tap_posts.0,
        "tap_posts_refused": o.tap_posts.1,
        "tap_posts_unreachable": o.tap_posts.2,
        "unexpected_exits": o.unexpected_exits.len(),
        "bot_bad_signatures": o.bot_bad_signatures,
        "sim_messages": c.sim_messages,
        "states": c.states,
        "undisturbed_states": o.calm.states,
        "faults_failed": failed.len(),
        "seed": o.seed,
    });
    if let Value::Object(extra) = extra {
        metrics.extend(extra);
    }
    for (fault, count) in &o.fault_counts {
        metrics.insert(format!("faults_{}", fault.name()), json!(count));
    }
    (json!({"bench": "chaos", "metrics": metrics}), ok)
}

/// When a kind of fault was first injected (never: last).
fn first_at(o: &Outcome, fault: Fault) -> f64 {
    o.injected.iter().find(|i| i.fault == fault).map_or(f64::INFINITY, |i| i.at)
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn states(states: &std::collections::BTreeMap<String, i64>) -> String {
    states.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}
