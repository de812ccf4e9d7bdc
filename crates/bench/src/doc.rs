//! `campaigns-bench bench-doc`: writes `docs/benchmarks.md` from the runs of
//! `scripts/bench all`.
//!
//! Each run is a directory holding, per benchmark, `NAME.json` (the
//! benchmark's last line) and `NAME.rc` (its exit status). This command
//! first records the machine in the newest run (`machine.json`: cores,
//! memory, CPU, and the Postgres and Redis it measured, with the settings
//! that decide their speed), then renders the newest [`RUNS_SHOWN`] runs side
//! by side, each metric with its target where the benchmark has one.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
};

use anyhow::Context;
use serde_json::{Map, Value, json};

/// The runs the document shows side by side.
const RUNS_SHOWN: usize = 2;

/// Every benchmark of `scripts/bench all`, in its order, with what it does.
const BENCHES: &[(&str, &str)] = &[
    ("contacts-import", "1,000,000 contacts (3 tags + 1 valued tag each) in one CSV request"),
    ("wa-sim", "the simulator alone: 100,000 template sends per phase, 64 concurrent senders"),
    ("forecast", "the forecast of a campaign whose audience is 1,000,000 contacts (median of 3)"),
    ("plan", "planning that campaign's ledger once launched"),
    ("limiter-accuracy", "4 worker processes send one campaign at 20/s for about 60 s"),
    ("send-throughput", "2 workers send 200,000 recipients with the limits lifted, webhooks off"),
    ("redis-memory", "peak Redis memory while 1,000,000 recipients are sent"),
    ("webhooks", "600,000 signed status events against a 200,000-message ledger, one worker applying"),
    ("webhooks-backpressure", "3,000 events/s while the status and reply consumers are stopped for 300 s"),
    ("messaging-limit", "30,000 contacts on a 10,000 tier over a compressed day (60 s)"),
    ("report", "the CSV report of a 1,000,000-recipient ledger"),
    ("e2e", "200,000 recipients with everything on: status webhooks, 5 % replies to a bot, 2 workers"),
    ("multi", "20 campaigns × 20,000 across 10 numbers at 80/s, beside one 500,000-recipient campaign"),
];

#[derive(Debug, Clone, Copy)]
enum Goal {
    AtLeast(f64),
    AtMost(f64),
    Zero,
    Equal(f64),
}

/// The targets: (bench, metric, goal).
const TARGETS: &[(&str, &str, Goal)] = &[
    ("contacts-import", "rows_per_s", Goal::AtLeast(50_000.0)),
    ("contacts-import", "api_peak_rss_mb", Goal::AtMost(150.0)),
    ("wa-sim", "sends_per_s_no_webhooks", Goal::AtLeast(10_000.0)),
    ("wa-sim", "sends_per_s_with_webhooks", Goal::AtLeast(3_000.0)),
    ("forecast", "seconds", Goal::AtMost(5.0)),
    ("plan", "seconds", Goal::AtMost(20.0)),
    ("limiter-accuracy", "achieved_per_s", Goal::AtLeast(19.6)),
    ("limiter-accuracy", "achieved_per_s", Goal::AtMost(20.4)),
    ("limiter-accuracy", "max_1s_window", Goal::AtMost(22.0)),
    ("send-throughput", "sends_per_s", Goal::AtLeast(2_000.0)),
    ("send-throughput", "duplicates", Goal::Zero),
    ("redis-memory", "peak_used_memory_mb", Goal::AtMost(50.0)),
    ("webhooks", "events_per_s_ingested", Goal::AtLeast(5_000.0)),
    ("webhooks", "ack_p99_ms", Goal::AtMost(100.0)),
    ("webhooks", "events_per_s_applied", Goal::AtLeast(5_000.0)),
    ("webhooks", "lost", Goal::Zero),
    ("webhooks-backpressure", "lost", Goal::Zero),
    ("webhooks-backpressure", "ack_p99_ms_during_outage", Goal::AtMost(100.0)),
    ("messaging-limit", "failed", Goal::Zero),
    ("messaging-limit", "max_sent_per_window", Goal::AtMost(10_000.0)),
    ("messaging-limit", "windows", Goal::Equal(3.0)),
    ("report", "seconds", Goal::AtMost(30.0)),
    ("report", "peak_rss_mb", Goal::AtMost(200.0)),
    ("e2e", "messages_per_s", Goal::AtLeast(3_000.0)),
    ("e2e", "duplicates", Goal::Zero),
    ("e2e", "counter_mismatch", Goal::Zero),
    ("e2e", "status_lag_p99_ms", Goal::AtMost(2_000.0)),
    ("multi", "worst_pace_ratio", Goal::AtLeast(0.95)),
    ("multi", "worst_tier_ratio", Goal::AtMost(1.0)),
    ("multi", "time_to_first_send_s", Goal::AtMost(1.0)),
    ("multi", "duplicates", Goal::Zero),
];

impl Goal {
    fn met(self, x: f64) -> bool {
        match self {
            Self::AtLeast(t) => x >= t,
            Self::AtMost(t) => x <= t,
            Self::Zero => x == 0.0,
            Self::Equal(t) => x == t,
        }
    }

    fn describe(self) -> String {
        match self {
            Self::AtLeast(t) => format!("≥ {}", number(t)),
            Self::AtMost(t) => format!("≤ {}", number(t)),
            Self::Zero => "0".to_owned(),
            Self::Equal(t) => format!("= {}", number(t)),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The directory holding the runs (`.dev/bench-all`); the newest is this run.
    #[arg(long)]
    runs: PathBuf,
    /// The document to write.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    redis_url: String,
}

/// A number with thousands separators; up to 3 decimals when not whole.
fn number(x: f64) -> String {
    if x.fract() != 0.0 && x.abs() < 1_000.0 {
        let s = format!("{x:.3}");
        return s.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    let whole = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if x < 0.0 { format!("-{out}") } else { out }
}

fn first_line(path: &str, prefix: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| l.strip_prefix(prefix)).map(|v| v.trim().to_owned())
}

async fn machine(args: &Args) -> anyhow::Result<Value> {
    let mem_kb: f64 = first_line("/proc/meminfo", "MemTotal:")
        .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    let cpu = first_line("/proc/cpuinfo", "model name").map(|v| v.trim_start_matches(':').trim().to_owned());
    let pg = process::connections::connect_postgres_url(&args.database_url)
        .await
        .context("connecting to the benchmarks' Postgres")?;
    let mut postgres = Map::new();
    let version: String = sqlx::query_scalar("show server_version").fetch_one(&pg).await?;
    postgres.insert("version".into(), json!(version));
    for setting in
        ["fsync", "synchronous_commit", "full_page_writes", "shared_buffers", "max_wal_size", "max_connections"]
    {
        let value: String = sqlx::query_scalar(&format!("show {setting}")).fetch_one(&pg).await?;
        postgres.insert(setting.into(), json!(value));
    }
    let mut redis = process::connections::connect_redis_url(&args.redis_url).await.context("connecting to Redis")?;
    let info: String = redis::cmd("INFO").arg("server").query_async(&mut redis).await?;
    let redis_version = info.lines().find_map(|l| l.strip_prefix("redis_version:")).unwrap_or("?").trim().to_owned();
    let mut redis_settings = Map::new();
    redis_settings.insert("version".into(), json!(redis_version));
    for setting in ["appendonly", "appendfsync", "save", "maxmemory"] {
        let pair: Vec<String> = redis::cmd("CONFIG").arg("GET").arg(setting).query_async(&mut redis).await?;
        redis_settings.insert(setting.into(), json!(pair.get(1).cloned().unwrap_or_default()));
    }
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    Ok(json!({
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "memory_gib": (mem_kb / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        "cpu": cpu,
        "postgres": postgres,
        "redis": redis_settings,
        "commit": commit,
        "finished_at": chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
    }))
}

/// A row of the machine table: its label, and its cell from a run's `machine.json`.
type MachineRow = (&'static str, fn(&Value) -> String);

/// One run: its directory's name, machine and results.
struct Run {
    name: String,
    machine: Value,
    results: Map<String, Value>,
    /// Benchmarks that exited non-zero or printed no result.
    failed: Vec<String>,
}

fn load(dir: &Path) -> anyhow::Result<Run> {
    let machine: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("machine.json"))?)?;
    let (mut results, mut failed) = (Map::new(), Vec::new());
    for (bench, _) in BENCHES {
        let rc = std::fs::read_to_string(dir.join(format!("{bench}.rc"))).unwrap_or_default();
        let json = std::fs::read_to_string(dir.join(format!("{bench}.json"))).unwrap_or_default();
        match serde_json::from_str::<Value>(json.trim()) {
            Ok(v) if rc.trim() == "0" => {
                results.insert((*bench).to_owned(), v["metrics"].clone());
            }
            _ if rc.is_empty() && json.is_empty() => {}
            _ => failed.push(format!("{bench} (exit {})", rc.trim())),
        }
    }
    Ok(Run {
        name: dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        machine,
        results,
        failed,
    })
}

/// The metrics shown for a benchmark: numbers, and one level of objects of
/// numbers (`by_process.api`), targeted ones first.
fn metric_names(bench: &str, runs: &[Run]) -> Vec<String> {
    let mut names: Vec<String> = TARGETS.iter().filter(|t| t.0 == bench).map(|t| t.1.to_owned()).collect::<Vec<_>>();
    names.dedup();
    for run in runs {
        let Some(Value::Object(metrics)) = run.results.get(bench) else { continue };
        for (key, value) in metrics {
            let mut add = |name: String| {
                if !names.contains(&name) {
                    names.push(name);
                }
            };
            match value {
                Value::Number(_) => add(key.clone()),
                Value::Object(inner) => {
                    for (k, v) in inner {
                        if v.is_number() {
                            add(format!("{key}.{k}"));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    names
}

fn metric(run: &Run, bench: &str, name: &str) -> Option<f64> {
    let metrics = run.results.get(bench)?;
    match name.split_once('.') {
        Some((outer, inner)) if metrics.get(name).is_none() => metrics[outer][inner].as_f64(),
        _ => metrics[name].as_f64(),
    }
}

fn render(runs: &[Run]) -> String {
    let mut doc = String::from("# Benchmarks\n\n");
    let _ = writeln!(
        doc,
        "Written by `scripts/bench all`, which runs every benchmark of `scripts/bench` one after the other on this \
         machine and keeps each run under `.dev/bench-all/`; this page shows the newest {} side by side. Do not edit \
         it by hand: run `scripts/bench all` again. What each benchmark does is in the header of `scripts/bench`; the \
         README's numbers come from here. A target is met (✓) or missed (✗) in each run; metrics without a target \
         are for reading.\n",
        runs.len()
    );
    doc.push_str("## The machine\n\n| | ");
    doc.push_str(&runs.iter().map(|r| format!("run {}", r.name)).collect::<Vec<_>>().join(" | "));
    doc.push_str(" |\n|---|");
    doc.push_str(&"---|".repeat(runs.len()));
    doc.push('\n');
    let rows: [MachineRow; 6] = [
        ("finished", |m| m["finished_at"].as_str().unwrap_or("?").to_owned()),
        ("commit", |m| format!("`{}`", m["commit"].as_str().unwrap_or("?"))),
        ("cores, memory", |m| format!("{} cores, {} GiB", m["cores"], m["memory_gib"])),
        ("CPU", |m| m["cpu"].as_str().unwrap_or("?").to_owned()),
        ("Postgres", |m| {
            let p = &m["postgres"];
            format!(
                "{}: fsync {}, synchronous_commit {}, full_page_writes {}, shared_buffers {}, max_wal_size {}",
                p["version"].as_str().unwrap_or("?"),
                p["fsync"].as_str().unwrap_or("?"),
                p["synchronous_commit"].as_str().unwrap_or("?"),
                p["full_page_writes"].as_str().unwrap_or("?"),
                p["shared_buffers"].as_str().unwrap_or("?"),
                p["max_wal_size"].as_str().unwrap_or("?")
            )
        }),
        ("Redis", |m| {
            let r = &m["redis"];
            format!(
                "{}: appendonly {}, save \"{}\", maxmemory {}",
                r["version"].as_str().unwrap_or("?"),
                r["appendonly"].as_str().unwrap_or("?"),
                r["save"].as_str().unwrap_or("?"),
                r["maxmemory"].as_str().unwrap_or("?")
            )
        }),
    ];
    for (label, value) in rows {
        let _ =
            writeln!(doc, "| {label} | {} |", runs.iter().map(|r| value(&r.machine)).collect::<Vec<_>>().join(" | "));
    }
    doc.push_str(
        "\nPostgres and Redis run on the same machine as the engine and the load generators, on loopback. Postgres \
         is the benchmarks' own cluster with production durability (`PG_DURABLE=1 scripts/services`), not the \
         development one (fsync off).\n",
    );
    for run in runs.iter().filter(|r| r.results.len() + r.failed.len() < BENCHES.len()) {
        let ran: Vec<&str> = BENCHES.iter().map(|b| b.0).filter(|b| run.results.contains_key(*b)).collect();
        let _ = writeln!(doc, "\nRun {} is partial: it holds only {}.", run.name, ran.join(", "));
    }
    for run in runs.iter().filter(|r| !r.failed.is_empty()) {
        let _ = writeln!(doc, "\nRun {} failed: {}.", run.name, run.failed.join(", "));
    }
    doc.push_str("\n## Results\n\n| benchmark | metric | target | ");
    doc.push_str(&runs.iter().map(|r| format!("run {}", r.name)).collect::<Vec<_>>().join(" | "));
    doc.push_str(" |\n|---|---|---|");
    doc.push_str(&"---|".repeat(runs.len()));
    doc.push('\n');
    for (bench, what) in BENCHES {
        for (i, name) in metric_names(bench, runs).iter().enumerate() {
            let goals: Vec<Goal> = TARGETS.iter().filter(|t| t.0 == *bench && t.1 == name).map(|t| t.2).collect();
            let target = if goals.is_empty() {
                String::new()
            } else {
                goals.iter().map(|g| g.describe()).collect::<Vec<_>>().join(", ")
            };
            let cells: Vec<String> = runs
                .iter()
                .map(|run| match metric(run, bench, name) {
                    None => "—".to_owned(),
                    Some(x) if goals.is_empty() => number(x),
                    Some(x) => format!("{} {}", number(x), if goals.iter().all(|g| g.met(x)) { "✓" } else { "✗" }),
                })
                .collect();
            let label = if i == 0 { format!("`{bench}`: {what}") } else { String::new() };
            let _ = writeln!(doc, "| {label} | `{name}` | {target} | {} |", cells.join(" | "));
        }
    }
    doc
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&args.runs)
        .with_context(|| format!("reading {}", args.runs.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let newest = dirs.last().context("no run of scripts/bench all")?;
    let machine = machine(&args).await?;
    std::fs::write(newest.join("machine.json"), serde_json::to_string_pretty(&machine)?)?;
    let shown: Vec<&PathBuf> = dirs.iter().filter(|d| d.join("machine.json").exists()).collect();
    let runs =
        shown[shown.len().saturating_sub(RUNS_SHOWN)..].iter().map(|d| load(d)).collect::<anyhow::Result<Vec<_>>>()?;
    std::fs::write(&args.out, render(&runs)).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("wrote {} ({} runs)", args.out.display(), runs.len());
    Ok(())
}
