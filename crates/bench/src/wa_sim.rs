//! `campaigns-bench wa-sim`: send throughput of the WhatsApp Cloud API
//! simulator, without webhooks and with status webhooks to a receiver run
//! here (answers 200 at once and counts statuses).
//!
//! It starts no simulator: `scripts/bench wa-sim` starts two, one configured
//! without a webhook URL and one posting to `--receiver`.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use axum::{Router, body::Bytes, extract::State, routing::post};
use futures::StreamExt;
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A simulator without webhooks.
    #[arg(long)]
    sim: String,
    /// A simulator whose webhook URL is `http://<receiver>/hook`.
    #[arg(long)]
    sim_webhooks: String,
    /// Where to run the webhook receiver.
    #[arg(long)]
    receiver: SocketAddr,
    #[arg(long, default_value = "1001")]
    phone_number_id: String,
    #[arg(long, default_value = "bench-token")]
    token: String,
    #[arg(long, default_value = "bench")]
    template: String,
    /// Messages per phase.
    #[arg(long, default_value_t = 50_000)]
    messages: u64,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Statuses each message produces with the webhook config the script uses.
    #[arg(long, default_value_t = 3)]
    statuses_per_message: u64,
}

pub async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build()?;
    let (no_hooks, _) = send_all(&http, &args, &args.sim).await.context("phase 1 (no webhooks)")?;

    let received = Arc::new(AtomicU64::new(0));
    let app = Router::new().route("/hook", post(count_statuses)).with_state(received.clone());
    let listener = tokio::net::TcpListener::bind(args.receiver).await.context("binding the webhook receiver")?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (with_hooks, started) = send_all(&http, &args, &args.sim_webhooks).await.context("phase 2 (webhooks)")?;
    let expected = args.messages * args.statuses_per_message;
    let deadline = Instant::now() + Duration::from_secs(120);
    while received.load(Ordering::Relaxed) < expected {
        if Instant::now() > deadline {
            bail!("received {} of {expected} statuses within 120 s", received.load(Ordering::Relaxed));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let events_per_s = expected as f64 / started.elapsed().as_secs_f64();
    Ok(json!({
        "bench": "wa-sim",
        "metrics": {
            "sends_per_s_no_webhooks": no_hooks.round(),
            "sends_per_s_with_webhooks": with_hooks.round(),
            "webhook_events_per_s": events_per_s.round(),
        }
    }))
}

/// Sends `messages` templates to distinct recipients with `concurrency`
/// requests in flight; returns sends/s and when sending started.
async fn send_all(http: &reqwest::Client, args: &Args, base: &str) -> anyhow::Result<(f64, Instant)> {
    let url = format!("{base}/v23.0/{}/messages", args.phone_number_id);
    let started = Instant::now();
    let mut results = futures::stream::iter(0..args.messages)
        .map(|i| {
            let body = json!({
                "messaging_product": "whatsapp", "recipient_type": "individual", "type": "template",
                "to": format!("+3460{i:08}"),
                "template": {"name": args.template, "language": {"code": "en_US"},
                    "components": [{"type": "body", "parameters": [{"type": "text", "text": format!("n{i}")}]}]},
                "biz_opaque_callback_data": format!("row={i}"),
            });
            let request = http.post(&url).bearer_auth(&args.token).json(&body).send();
            async move { request.await.map(|r| r.status()) }
        })
        .buffer_unordered(args.concurrency);
    while let Some(result) = results.next().await {
        let status = result.context("sending")?;
        if !status.is_success() {
            bail!("the simulator answered {status}");
        }
    }
    Ok((args.messages as f64 / started.elapsed().as_secs_f64(), started))
}

async fn count_statuses(State(received): State<Arc<AtomicU64>>, body: Bytes) -> &'static str {
    let payload: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let statuses: usize = payload["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["changes"].as_array().into_iter().flatten())
        .map(|c| c["value"]["statuses"].as_array().map_or(0, Vec::len))
        .sum();
    received.fetch_add(statuses as u64, Ordering::Relaxed);
    "ok"
}
