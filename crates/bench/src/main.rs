//! `campaigns-bench`: load generators for `scripts/bench` and sample data for
//! `scripts/demo`.
//!
//! ```text
//! campaigns-bench csv --rows 10000 > contacts.csv
//! campaigns-bench contacts-import --api http://127.0.0.1:8080 --key wce_... --rows 1000000 --api-pid 1234
//! campaigns-bench forecast --api http://127.0.0.1:8080 --key wce_... --contacts 1000000
//! campaigns-bench plan --api http://127.0.0.1:8080 --key wce_... --contacts 1000000 --database-url postgres://...
//! campaigns-bench wa-sim --sim http://127.0.0.1:18081 --sim-webhooks http://127.0.0.1:18082 --receiver 127.0.0.1:18083
//! campaigns-bench send-throughput --api ... --key wce_... --contacts 200000 --sim http://... --cpu worker1=123 --cpu postgres=456
//! campaigns-bench redis-memory --api ... --key wce_... --contacts 1000000 --sim http://... --redis-url redis://...
//! campaigns-bench report --api ... --key wce_... --campaign 1 --rows 1000000 --worker-pid 1234
//! campaigns-bench webhooks --api ... --key wce_... --worker target/release/campaigns-worker --events 600000 --cpu api=123
//! campaigns-bench webhooks-backpressure --api ... --key wce_... --worker ... --rate 3000 --outage-secs 300
//! campaigns-bench chaos --dir .dev/chaos --bin target/release --recipients 3000 --pace 200 --rounds 1
//! ```

mod chaos;
mod demo;
mod doc;
mod e2e;
mod forecast;
mod limiter;
mod messaging_limit;
mod multi;
mod report;
mod sample;
mod throughput;
mod wa_sim;
mod webhooks;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(name = "campaigns-bench", about = "Load generators and sample data for the campaign engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a sample contacts CSV (three tags and one valued tag per row).
    Csv {
        #[arg(long, default_value_t = 10_000)]
        rows: u64,
    },
    /// Stream a generated CSV to the import endpoint and report rows/s and the API's peak RSS.
    ContactsImport {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        api: String,
        /// An API key of the organization to import into.
        #[arg(long, env = "API_KEY", hide_env_values = true)]
        key: String,
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// The API's process id, to read its peak resident memory (VmHWM).
        #[arg(long)]
        api_pid: Option<u32>,
    },
    /// Send throughput of two running wa-sim simulators (without and with status webhooks).
    WaSim(wa_sim::Args),
    /// The demo's bot endpoint: acknowledges signed replies and reports funnel steps.
    DemoBot(demo::BotArgs),
    /// The demo's terminal view of a campaign: progress bar and live statistics.
    DemoWatch(demo::WatchArgs),
    /// Time the forecast of a campaign whose audience is every imported sample contact.
    Forecast(forecast::Args),
    /// Time planning the ledger of such a campaign once launched.
    Plan(forecast::PlanArgs),
    /// The achieved pace of a campaign sent by running workers, from wa-sim's log.
    LimiterAccuracy(limiter::Args),
    /// A campaign larger than its messaging-limit tier over a compressed day: failures, the busiest window, windows taken.
    MessagingLimit(messaging_limit::Args),
    /// Sends/s, CPU per send and duplicates of a campaign sent with its limits lifted.
    SendThroughput(throughput::Args),
    /// Peak Redis memory while such a campaign is sent.
    RedisMemory(throughput::MemoryArgs),
    /// The time until a 1,000,000-row CSV report is ready, and the building worker's peak RSS.
    Report(report::Args),
    /// Signed status webhooks ingested by the API and applied by a worker: events/s, ack latency, CPU per event.
    Webhooks(webhooks::Args),
    /// Webhooks keep arriving while the status and reply consumers are stopped: ack latency, backlog, catch-up.
    WebhooksBackpressure(webhooks::BackpressureArgs),
    /// A campaign sent on a stack of its own while its parts fail: no duplicate, nothing lost.
    Chaos(chaos::Args),
    /// Many tenants at once: 20 paced campaigns on ten 80/s numbers beside a big lifted one.
    Multi(multi::Args),
    /// One campaign with everything on (status webhooks, replies to a bot, two workers): rate, lags, CPU, counters.
    E2e(e2e::Args),
    /// Write docs/benchmarks.md from the runs of `scripts/bench all` (and record this machine in the newest).
    BenchDoc(doc::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Csv { rows } => {
            use std::io::Write;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for (_, chunk) in sample::chunks(rows) {
                out.write_all(&chunk)?;
            }
            out.flush()?;
        }
        Command::ContactsImport { api, key, rows, api_pid } => {
            let result = contacts_import(&api, &key, rows, api_pid).await?;
            emit(&result);
        }
        Command::WaSim(args) => emit(&wa_sim::run(args).await?),
        Command::DemoBot(args) => demo::bot(args).await?,
        Command::DemoWatch(args) => emit_pretty(&demo::watch(args).await?),
        Command::Forecast(args) => emit(&forecast::run(args).await?),
        Command::Plan(args) => emit(&forecast::plan(args).await?),
        Command::LimiterAccuracy(args) => emit(&limiter::run(args).await?),
        Command::MessagingLimit(args) => emit(&messaging_limit::run(args).await?),
        Command::SendThroughput(args) => emit(&throughput::send_throughput(args).await?),
        Command::RedisMemory(args) => emit(&throughput::redis_memory(args).await?),
        Command::Report(args) => emit(&report::run(args).await?),
        Command::Webhooks(args) => emit(&webhooks::run(args).await?),
        Command::WebhooksBackpressure(args) => emit(&webhooks::backpressure(args).await?),
        Command::Multi(args) => emit(&multi::run(args).await?),
        Command::E2e(args) => emit(&e2e::run(args).await?),
        Command::BenchDoc(args) => doc::run(args).await?,
        Command::Chaos(args) => {
            let (result, code) = chaos::run(args).await;
            emit(&result);
            if code != 0 {
                std::process::exit(code);
            }
        }
    }
    Ok(())
}

#[allow(clippy::print_stdout)] // the result line is the tool's output
fn emit(value: &serde_json::Value) {
    println!("{value}");
}

#[allow(clippy::print_stdout)] // the demo shows the final statistics
fn emit_pretty(value: &serde_json::Value) {
    println!("{value:#}");
}

async fn contacts_import(api: &str, key: &str, rows: u64, api_pid: Option<u32>) -> anyhow::Result<serde_json::Value> {
    let progress = ProgressBar::new(rows).with_style(
        ProgressStyle::with_template("{spinner} importing {pos}/{len} rows [{bar:40}] {per_sec} eta {eta}")
            .context("progress template")?
            .progress_chars("=> "),
    );
    progress.enable_steady_tick(Duration::from_millis(200));
    let bar = progress.clone();
    let body = futures::stream::iter(sample::chunks(rows).map(move |(n, chunk)| {
        bar.inc(n);
        Ok::<_, std::io::Error>(chunk)
    }))
    .boxed();
    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(format!("{api}/v1/contacts/import"))
        .bearer_auth(key)
        .header("content-type", "text/csv")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .context("sending the import")?;
    let status = response.status();
    let summary: serde_json::Value = response.json().await.context("reading the import answer")?;
    let seconds = started.elapsed().as_secs_f64();
    progress.finish_and_clear();
    if !status.is_success() {
        bail!("import failed with {status}: {summary}");
    }
    let imported = summary["rows"].as_u64().unwrap_or(0);
    if imported != rows {
        bail!("the API imported {imported} rows, expected {rows}: {summary}");
    }
    let peak_rss_mb = api_pid.and_then(peak_rss_mb);
    Ok(json!({
        "bench": "contacts-import",
        "metrics": {
            "rows": imported,
            "seconds": (seconds * 100.0).round() / 100.0,
            "rows_per_s": (imported as f64 / seconds).round(),
            "api_peak_rss_mb": peak_rss_mb,
        }
    }))
}

/// Peak resident set size (VmHWM) of a process, in MiB.
fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}
