//! `campaigns-bench messaging-limit`: a campaign larger than its number's
//! messaging-limit tier, sent by workers that `scripts/bench` started against
//! a wa-sim that enforces the tier over a compressed day (its
//! `limits.messaging_window_ms`; the engine's `MESSAGING_LIMIT_WINDOW_SECS`
//! is a little longer, as the production default is). From wa-sim's log:
//! the most distinct recipients accepted in any window, and how many windows
//! the campaign took; from the ledger: how many failed.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::forecast::{Api, Args as Setup, ready_campaign};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    setup: Setup,
    /// The simulator the workers send to.
    #[arg(long)]
    sim: String,
    /// wa-sim's window (the compressed 24 hours), in seconds.
    #[arg(long, default_value_t = 60)]
    window_secs: u64,
    /// The number's tier's limit, for the check.
    #[arg(long, default_value_t = 10_000)]
    limit: usize,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
}

#[derive(Debug, serde::Deserialize)]
struct Accepted {
    to: String,
    accepted_at: u64,
}

pub async fn run(args: Args) -> anyhow::Result<Value> {
    let http = reqwest::Client::new();
    let api = Api { http: http.clone(), base: args.setup.api.clone(), key: args.setup.key.clone() };
    let pg = PgPool::connect(&args.database_url).await.context("connecting to Postgres")?;
    let id = ready_campaign(&api, &args.setup).await?;
    let forecast = api.call(reqwest::Method::GET, &format!("/v1/campaigns/{id}/forecast"), None).await?;
    eprintln!("forecast: {}", forecast["messaging_limit"]);
    api.call(reqwest::Method::POST, &format!("/v1/campaigns/{id}/launch"), Some(json!({ "pace_per_second": 1000 })))
        .await?;
    let started = Instant::now();
    let timeout = Duration::from_secs(args.window_secs * 6 + 120);
    let mut waited = false;
    loop {
        let stats = api.call(reqwest::Method::GET, &format!("/v1/campaigns/{id}/stats"), None).await?;
        if !waited && stats["waiting"].as_array().is_some_and(|w| w.iter().any(|w| w["code"] == "messaging_limit")) {
            waited = true;
            eprintln!("{:.0} s: {}", started.elapsed().as_secs_f64(), stats["waiting"][0]["reason"]);
        }
        if stats["still_queued"] == 0 && stats["in_doubt"] == 0 && stats["targeted"].as_i64() > Some(0) {
            break;
        }
        if started.elapsed() > timeout {
            bail!("campaign {id} did not finish in {timeout:?}: {stats}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let failed: i64 = sqlx::query_scalar(
        "select count(*) from recipients where campaign_id = $1 and state in ('failed', 'excluded')",
    )
    .bind(id)
    .fetch_one(&pg)
    .await?;
    let mut messages: Vec<Accepted> =
        http.get(format!("{}/_sim/messages", args.sim)).send().await?.json().await.context("wa-sim's log")?;
    ensure!(!messages.is_empty(), "wa-sim accepted nothing");
    messages.sort_unstable_by_key(|m| m.accepted_at);
    let window_ms = args.window_secs * 1000;
    // Distinct recipients in a sliding window: a count per recipient inside it.
    let (mut best, mut start) = (0, 0);
    let mut inside: HashMap<&str, u32> = HashMap::new();
    for end in 0..messages.len() {
        *inside.entry(messages[end].to.as_str()).or_default() += 1;
        while messages[end].accepted_at - messages[start].accepted_at >= window_ms {
            let to = messages[start].to.as_str();
            if let Some(n) = inside.get_mut(to) {
                *n -= 1;
                if *n == 0 {
                    inside.remove(to);
                }
            }
            start += 1;
        }
        best = best.max(inside.len());
    }
    let span_ms = messages[messages.len() - 1].accepted_at - messages[0].accepted_at;
    let windows = span_ms.div_ceil(window_ms).max(1);
    let duplicates = messages.len() - messages.iter().map(|m| m.to.as_str()).collect::<HashSet<_>>().len();
    let portfolio: Value = http
        .get(format!("{}/_sim/portfolios/9{}", args.sim, args.setup.waba_id))
        .send()
        .await?
        .json()
        .await
        .context("wa-sim's portfolio")?;
    eprintln!(
        "{} accepted over {:.1} s ({} windows of {} s); busiest window {best} (limit {}); refused by wa-sim: {}",
        messages.len(),
        span_ms as f64 / 1000.0,
        windows,
        args.window_secs,
        args.limit,
        portfolio["refused"]
    );
    Ok(json!({
        "bench": "messaging-limit",
        "metrics": {
            "failed": failed,
            "max_sent_per_window": best,
            "windows": windows,
            "sent": messages.len(),
            "refused_by_meta": portfolio["refused"],
            "duplicates": duplicates,
        }
    }))
}
