//! `campaigns-bench limiter-accuracy`: launches a campaign at a fixed pace
//! on workers that `scripts/bench` started, waits until it is fully sent,
//! and measures from wa-sim's own log of accepted messages the achieved
//! rate and the busiest 1-second window.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

use crate::forecast::{Api, Args as Setup, ready_campaign};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    setup: Setup,
    /// The simulator the workers send to (its `/_sim/messages` log is read).
    #[arg(long)]
    sim: String,
    /// The campaign's pace in contacts per second.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
}

pub async fn run(args: Args) -> anyhow::Result<Value> {
    let api = Api { http: reqwest::Client::new(), base: args.setup.api.clone(), key: args.setup.key.clone() };
    let id = ready_campaign(&api, &args.setup).await?;
    api.call(reqwest::Method::POST, &format!("/v1/campaigns/{id}/launch"), Some(json!({"pace_per_second": args.rate})))
        .await?;
    let expected_secs = args.setup.contacts as f64 / args.rate;
    let deadline = Instant::now() + Duration::from_secs_f64(expected_secs * 2.0 + 60.0);
    loop {
        let c = api.call(reqwest::Method::GET, &format!("/v1/campaigns/{id}"), None).await?;
        if c["fully_sent_at"].is_string() {
            break;
        }
        if Instant::now() > deadline {
            bail!("campaign {id} was not fully sent in time: {c}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let messages: Vec<Value> =
        api.http.get(format!("{}/_sim/messages", args.sim)).send().await?.json().await.context("wa-sim's log")?;
    let mut at: Vec<u64> = messages.iter().filter_map(|m| m["accepted_at"].as_u64()).collect();
    at.sort_unstable();
    ensure!(at.len() as i64 == args.setup.contacts, "{} messages accepted, expected {}", at.len(), args.setup.contacts);
    let (first, last) = (at[0], at[at.len() - 1]);
    let achieved = (at.len() - 1) as f64 / ((last - first) as f64 / 1000.0);
    let mut busiest = 0;
    let mut start = 0;
    for (end, &t) in at.iter().enumerate() {
        while at[start] + 1000 <= t {
            start += 1;
        }
        busiest = busiest.max(end - start + 1);
    }
    Ok(json!({
        "bench": "limiter-accuracy",
        "metrics": {
            "target_per_s": args.rate,
            "achieved_per_s": (achieved * 100.0).round() / 100.0,
            "max_1s_window": busiest,
            "messages": at.len(),
            "seconds": ((last - first) as f64 / 10.0).round() / 100.0,
        }
    }))
}
