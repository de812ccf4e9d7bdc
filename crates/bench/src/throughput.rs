//! `campaigns-bench send-throughput` and `campaigns-bench redis-memory`: one
//! campaign sent with its limits lifted by workers that `scripts/bench`
//! started.
//!
//! "Limits lifted": the number's throughput tier is set to the limiter's
//! maximum (`scripts/bench` drops the 1–1,000 check on `wa_numbers` in its
//! scratch database first) and the campaign's pace to null, so its pace is
//! the number's (`store::recipients::SendLimits::pace_per_second`). Neither
//! throttles; what is measured is the pipeline itself.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::forecast::{Api, Args as Setup, ready_campaign};

/// The number's throughput tier while the limits are lifted: the limiter's
/// maximum rate (`ratelimit::MAX_PER_SECOND`).
const LIFTED_THROUGHPUT: i32 = 10_000;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    setup: Setup,
    /// The simulator the workers send to (its `/_sim/messages` log is read).
    #[arg(long)]
    sim: String,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// A process whose CPU time (with its descendants') is counted, as
    /// `label=pid`; repeat for each (workers, wa-sim, API, postmaster, redis-server).
    #[arg(long = "cpu", value_parser = labelled_pid)]
    cpu: Vec<(String, u32)>,
}

#[derive(Debug, clap::Args)]
pub struct MemoryArgs {
    #[command(flatten)]
    setup: Setup,
    /// The simulator the workers send to (its message count is read).
    #[arg(long)]
    sim: String,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    redis_url: String,
    /// How often Redis's `used_memory` is sampled, in milliseconds.
    #[arg(long, default_value_t = 100)]
    sample_ms: u64,
}

pub(crate) fn labelled_pid(s: &str) -> Result<(String, u32), String> {
    let (label, pid) = s.split_once('=').ok_or("expected label=pid")?;
    Ok((label.to_owned(), pid.parse().map_err(|e| format!("pid {pid:?}: {e}"))?))
}

/// Creates the Ready campaign, lifts the number's tier, launches it and
/// clears its pace. The launch job waits for the scheduler tick's outbox
/// relay (up to a second), so it normally plans with the pace already null.
async fn launch_lifted(api: &Api, setup: &Setup, pg: &PgPool) -> anyhow::Result<i64> {
    let id = ready_campaign(api, setup).await?;
    lift_and_launch(api, pg, id).await?;
    Ok(id)
}

/// Lifts the limits of Ready campaign `id` (its number's tier to the
/// limiter's maximum, its pace cleared) and launches it.
pub(crate) async fn lift_and_launch(api: &Api, pg: &PgPool, id: i64) -> anyhow::Result<()> {
    sqlx::query(
        "update wa_numbers n set throughput_per_sec = $2 from campaigns cp where cp.id = $1 and n.id = cp.number_id",
    )
    .bind(id)
    .bind(LIFTED_THROUGHPUT)
    .execute(pg)
    .await
    .context("lifting the number's throughput tier (is the 1..1000 check dropped?)")?;
    api.call(reqwest::Method::POST, &format!("/v1/campaigns/{id}/launch"), Some(json!({}))).await?;
    sqlx::query("update campaigns set pace_per_second = null, pace_per_hour = null where id = $1")
        .bind(id)
        .execute(pg)
        .await?;
    Ok(())
}

pub(crate) async fn accepted_count(http: &reqwest::Client, sim: &str) -> anyhow::Result<u64> {
    let count: Value = http.get(format!("{sim}/_sim/messages/count")).send().await?.json().await?;
    count["accepted"].as_u64().context("wa-sim's message count")
}

/// Polls wa-sim until `n` messages were accepted (or `timeout` passes);
/// returns when that was seen.
pub(crate) async fn wait_accepted(
    http: &reqwest::Client,
    sim: &str,
    n: u64,
    timeout: Duration,
) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + timeout;
    loop {
        let seen = accepted_count(http, sim).await?;
        if seen >= n {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            bail!("{seen} messages accepted after {timeout:?}, expected {n}");
        }
        tokio::time::sleep(Duration::from_millis(if n <= 1 { 20 } else { 100 })).await;
    }
}

async fn wait_fully_sent(pg: &PgPool, id: i64, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let done: bool = sqlx::query_scalar("select fully_sent_at is not null from campaigns where id = $1")
            .bind(id)
            .fetch_one(pg)
            .await?;
        if done {
            return Ok(());
        }
        if Instant::now() > deadline {
            let states: Vec<(String, i64)> =
                sqlx::query_as("select state, count(*) from recipients where campaign_id = $1 group by 1 order by 1")
                    .bind(id)
                    .fetch_all(pg)
                    .await?;
            bail!("campaign {id} was not fully sent in time: {states:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The part of wa-sim's log we read.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Accepted {
    pub(crate) to: String,
    pub(crate) biz_opaque_callback_data: Option<String>,
    pub(crate) accepted_at: u64,
}

pub async fn send_throughput(args: Args) -> anyhow::Result<Value> {
    let http = reqwest::Client::new();
    let api = Api { http: http.clone(), base: args.setup.api.clone(), key: args.setup.key.clone() };
    let pg = process::connections::connect_postgres_url(&args.database_url).await.context("connecting to Postgres")?;
    let contacts = u64::try_from(args.setup.contacts)?;
    let clock_tick = clock_ticks_per_second();
    let ours = OurDatabase::of(&args.database_url)?;

    let launched = Instant::now();
    let id = launch_lifted(&api, &args.setup, &pg).await?;
    // The sending phase: from the first accepted message to the last.
    wait_accepted(&http, &args.sim, 1, Duration::from_secs(600)).await?;
    let cpu_start = cpu_times(&args.cpu, &ours);
    let first_seen = Instant::now();
    let timeout = Duration::from_secs(600 + contacts / 100);
    let last_seen = wait_accepted(&http, &args.sim, contacts, timeout).await?;
    let cpu_end = cpu_times(&args.cpu, &ours);
    wait_fully_sent(&pg, id, Duration::from_secs(60)).await?;
    eprintln!(
        "launch to first send {:.1} s, sending phase {:.1} s (as polled)",
        (first_seen - launched).as_secs_f64(),
        (last_seen - first_seen).as_secs_f64()
    );

    let messages: Vec<Accepted> =
        http.get(format!("{}/_sim/messages", args.sim)).send().await?.json().await.context("wa-sim's log")?;
    let campaign_tag = format!("c{id}:");
    let mut pairs: HashMap<(&str, &str), u32> = HashMap::with_capacity(messages.len());
    for m in &messages {
        let campaign = m.biz_opaque_callback_data.as_deref().and_then(|c| c.split(':').next()).unwrap_or("");
        *pairs.entry((m.to.as_str(), campaign)).or_default() += 1;
    }
    let duplicates = pairs.values().filter(|&&n| n > 1).count();
    let of_campaign =
        messages.iter().filter(|m| m.biz_opaque_callback_data.as_deref().is_some_and(|c| c.starts_with(&campaign_tag)));
    let mut at: Vec<u64> = of_campaign.map(|m| m.accepted_at).collect();
    ensure!(at.len() as u64 == contacts, "{} messages of campaign {id} accepted, expected {contacts}", at.len());
    at.sort_unstable();
    let distinct_to: HashSet<&str> = messages.iter().map(|m| m.to.as_str()).collect();

    // Sustained: between the 5th and the 95th percentile accepted_at, so the
    // ramp-up (the first window) and the tail (the last stragglers) do not count.
    let rate = |from: usize, to: usize| (to - from) as f64 / ((at[to] - at[from]).max(1) as f64 / 1000.0);
    let n = at.len();
    let (p5, p95) = (n * 5 / 100, (n * 95 / 100).min(n - 1));
    let sustained = rate(p5, p95);
    let whole = rate(0, n - 1);
    let busiest = busiest_second(&at);

    let mut cpu_ms = 0.0;
    let mut by_process = serde_json::Map::new();
    for (label, start) in &cpu_start {
        let ticks = cpu_end.get(label).copied().unwrap_or(0).saturating_sub(*start);
        let ms = ticks as f64 * 1000.0 / clock_tick;
        cpu_ms += ms;
        by_process.insert(label.clone(), json!(round3(ms / n as f64)));
    }
    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    eprintln!(
        "cpu ms per send by process: {}; counted: {}",
        Value::Object(by_process.clone()),
        args.cpu.iter().map(|(l, p)| format!("{l} ({p})")).collect::<Vec<_>>().join(", ")
    );
    Ok(json!({
        "bench": "send-throughput",
        "metrics": {
            "sends_per_s": sustained.round(),
            "cpu_ms_per_send": round3(cpu_ms / n as f64),
            "duplicates": duplicates,
            "messages": n,
            "distinct_recipients": distinct_to.len(),
            "sends_per_s_whole_span": whole.round(),
            "seconds_whole_span": round2((at[n - 1] - at[0]) as f64 / 1000.0),
            "max_1s_window": busiest,
            "sends_per_s_measured_between": "the 5th and 95th percentile accepted_at in wa-sim's log",
            "cpu_ms_per_send_by_process": by_process,
            "cpu_counted": "user+sys (/proc/PID/stat) of every process listed in cpu_ms_per_send_by_process and its descendants, from the first accepted message to the last; postgres: the postmaster, its background processes and the backends of the bench database (not other databases' backends, not exited backends)",
        }
    }))
}

pub async fn redis_memory(args: MemoryArgs) -> anyhow::Result<Value> {
    let http = reqwest::Client::new();
    let api = Api { http: http.clone(), base: args.setup.api.clone(), key: args.setup.key.clone() };
    let pg = process::connections::connect_postgres_url(&args.database_url).await.context("connecting to Postgres")?;
    let contacts = u64::try_from(args.setup.contacts)?;
    let mut redis = process::connections::connect_redis_url(&args.redis_url).await.context("connecting to Redis")?;
    let baseline = used_memory(&mut redis).await?;

    let stop = tokio_util::sync::CancellationToken::new();
    let every = Duration::from_millis(args.sample_ms.max(10));
    let sampler = tokio::spawn({
        let (mut redis, stop) = (redis.clone(), stop.clone());
        async move {
            let started = Instant::now();
            let (mut peak, mut peak_at, mut samples) = (0u64, Duration::ZERO, 0u64);
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !stop.is_cancelled() {
                tick.tick().await;
                let used = used_memory(&mut redis).await?;
                samples += 1;
                if used > peak {
                    (peak, peak_at) = (used, started.elapsed());
                }
            }
            anyhow::Ok((peak, peak_at, samples))
        }
    });

    let launched = Instant::now();
    let id = launch_lifted(&api, &args.setup, &pg).await;
    let sent = async {
        let id = id?;
        wait_accepted(&http, &args.sim, 1, Duration::from_secs(900)).await?;
        let first = Instant::now();
        let last = wait_accepted(&http, &args.sim, contacts, Duration::from_secs(900 + contacts / 100)).await?;
        wait_fully_sent(&pg, id, Duration::from_secs(60)).await?;
        anyhow::Ok((first, last))
    }
    .await;
    stop.cancel();
    let (peak, peak_at, samples) = sampler.await.context("the memory sampler")??;
    let (first, last) = sent?;
    let after = used_memory(&mut redis).await?;
    let mb = |bytes: u64| (bytes as f64 / 1_048_576.0 * 10.0).round() / 10.0;
    let seconds = (last - first).as_secs_f64();
    Ok(json!({
        "bench": "redis-memory",
        "metrics": {
            "peak_used_memory_mb": mb(peak),
            "baseline_used_memory_mb": mb(baseline),
            "after_used_memory_mb": mb(after),
            "peak_used_memory_bytes": peak,
            "peak_at_s_after_launch": (peak_at.as_secs_f64() * 10.0).round() / 10.0,
            "first_send_s_after_launch": ((first - launched).as_secs_f64() * 10.0).round() / 10.0,
            "messages": contacts,
            "sending_seconds": (seconds * 10.0).round() / 10.0,
            "sends_per_s": (contacts as f64 / seconds.max(0.001)).round(),
            "samples": samples,
            "sample_ms": every.as_millis() as u64,
            "mb": "MiB (1,048,576 bytes) of Redis INFO used_memory, for the whole instance",
        }
    }))
}

pub(crate) async fn used_memory(conn: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<u64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await.context("INFO memory")?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .context("used_memory in INFO memory")
}

/// The most messages accepted within any 1-second window (`at` sorted, in ms).
pub(crate) fn busiest_second(at: &[u64]) -> usize {
    let (mut busiest, mut start) = (0, 0);
    for (end, &t) in at.iter().enumerate() {
        while at[start] + 1000 <= t {
            start += 1;
        }
        busiest = busiest.max(end - start + 1);
    }
    busiest
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub(crate) fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The bench database and its role: Postgres processes serving other
/// databases (tests running on the same server) are not counted.
pub(crate) struct OurDatabase {
    database: String,
    user: String,
}

impl OurDatabase {
    pub(crate) fn of(url: &str) -> anyhow::Result<Self> {
        let options: sqlx::postgres::PgConnectOptions = url.parse().context("the database URL")?;
        let database = options.get_database().context("a database name in DATABASE_URL")?.to_owned();
        Ok(Self { database, user: options.get_username().to_owned() })
    }

    /// `false` for a backend (`postgres: USER DB ...`) or an autovacuum
    /// worker (`postgres: autovacuum worker DB`) of another database.
    fn counts(&self, pid: u32) -> bool {
        let Ok(cmdline) = std::fs::read_to_string(format!("/proc/{pid}/cmdline")) else { return true };
        let Some(title) = cmdline.trim_end_matches('\0').strip_prefix("postgres: ") else { return true };
        let words: Vec<&str> = title.split_whitespace().collect();
        match words.as_slice() {
            [user, db, ..] if *user == self.user => *db == self.database,
            ["autovacuum", "worker", db, ..] => *db == self.database,
            _ => true,
        }
    }
}

/// CPU time (user + system, clock ticks) per label: the process and its
/// live descendants. Reaped children (`cutime`, `cstime`) are counted too,
/// except under the label `postgres`, whose exited backends may have
/// served any database.
pub(crate) fn cpu_times(processes: &[(String, u32)], ours: &OurDatabase) -> HashMap<String, u64> {
    let mut stats: HashMap<u32, (u32, u64, u64)> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            if let Some(stat) = proc_stat(pid) {
                stats.insert(pid, stat);
            }
        }
    }
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, &(ppid, _, _)) in &stats {
        children.entry(ppid).or_default().push(pid);
    }
    let mut out = HashMap::new();
    for (label, root) in processes {
        let postgres = label == "postgres";
        let (mut total, mut todo) = (0, vec![*root]);
        while let Some(pid) = todo.pop() {
            if postgres && !ours.counts(pid) {
                continue;
            }
            if let Some(&(_, own, reaped)) = stats.get(&pid) {
                total += own + if postgres { 0 } else { reaped };
            }
            todo.extend(children.get(&pid).into_iter().flatten());
        }
        *out.entry(label.clone()).or_insert(0) += total;
    }
    out
}

/// `(ppid, utime + stime, cutime + cstime)` from `/proc/PID/stat`.
fn proc_stat(pid: u32) -> Option<(u32, u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let num = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    // fields[0] is field 3 (state): ppid is field 4, utime..cstime fields 14..17.
    let ppid = u32::try_from(num(1)?).ok()?;
    Some((ppid, num(11)? + num(12)?, num(13)? + num(14)?))
}
