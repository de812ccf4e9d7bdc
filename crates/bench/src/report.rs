//! `campaigns-bench report`: the CSV report of a campaign whose ledger
//! `scripts/bench report` wrote in SQL, requested through the API and built
//! by a running `campaigns-worker` (`WORKER_QUEUES=report`): the time until
//! it is ready and the worker's peak RSS, then the time of a gzip download.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

use crate::forecast::Api;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    api: String,
    #[arg(long, env = "API_KEY", hide_env_values = true)]
    key: String,
    /// The campaign whose ledger was written.
    #[arg(long)]
    campaign: i64,
    /// Recipients in its ledger: the report must have as many rows.
    #[arg(long, default_value_t = 1_000_000)]
    rows: i64,
    /// The worker process that builds it, for its peak resident memory (VmHWM).
    #[arg(long)]
    worker_pid: u32,
}

pub async fn run(args: Args) -> anyhow::Result<Value> {
    let api = Api { http: reqwest::Client::new(), base: args.api.clone(), key: args.key.clone() };
    let started = Instant::now();
    let path = format!("/v1/campaigns/{}/reports", args.campaign);
    let report = api.call(reqwest::Method::POST, &path, None).await?;
    let id = report["id"].as_i64().context("the report has no id")?;
    let report = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let report = api.call(reqwest::Method::GET, &format!("/v1/reports/{id}"), None).await?;
        match report["status"].as_str() {
            Some("ready") => break report,
            Some("failed") => bail!("the report failed: {report}"),
            _ if started.elapsed() > Duration::from_secs(600) => bail!("the report was not ready in 10 minutes"),
            _ => {}
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let peak_rss_mb = crate::peak_rss_mb(args.worker_pid);
    let rows = report["row_count"].as_i64().unwrap_or_default();
    ensure!(rows == args.rows, "the report has {rows} rows, the ledger {}", args.rows);

    let downloaded = Instant::now();
    let mut resp = api
        .http
        .get(format!("{}/v1/reports/{id}/download", args.api))
        .bearer_auth(&args.key)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .context("downloading the report")?;
    ensure!(resp.status().is_success(), "the download answered {}", resp.status());
    let mut gzip_bytes = 0_u64;
    while let Some(chunk) = resp.chunk().await.context("reading the download")? {
        gzip_bytes += chunk.len() as u64;
    }
    let mb = |bytes: f64| (bytes / 1_048_576.0 * 10.0).round() / 10.0;
    Ok(json!({
        "bench": "report",
        "metrics": {
            "rows": rows,
            "seconds": (seconds * 100.0).round() / 100.0,
            "peak_rss_mb": peak_rss_mb,
            "csv_mb": mb(report["byte_count"].as_f64().unwrap_or_default()),
            "gzip_mb": mb(gzip_bytes as f64),
            "gzip_download_seconds": (downloaded.elapsed().as_secs_f64() * 100.0).round() / 100.0,
        }
    }))
}
