//! `campaigns-bench webhooks` and `campaigns-bench webhooks-backpressure`:
//! Meta-shaped status webhooks, signed with the number's app secret, POSTed
//! to `/webhooks/whatsapp` of a running API, and applied to a campaign's
//! ledger by a `campaigns-worker` this tool starts (and, for the outage,
//! stops and starts again) with the environment it was given.
//!
//! The ledger is written in SQL: one active campaign whose recipients are all
//! `accepted` with wamids `wamid.B{n}` (contact id `n`). The traffic takes
//! wamids in order into a window of [`WINDOW`] messages and emits, for a
//! random message of the window, its next status: `sent`, `delivered`, `read`
//! (85 % of messages are read, 10 % stop at `delivered`, 5 % at `sent`), so a
//! message's statuses are spread over several POSTs that concurrent
//! consumers may apply in any order. When every wamid is done, statuses are
//! delivered again (duplicates, which change nothing). Each POST holds 1–100
//! statuses. At the end every ledger row and the live counters must be what
//! the statuses sent say; any difference fails the run.

use std::{
    collections::HashMap,
    path::PathBuf,
    process::Stdio,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::{
    forecast::Api,
    throughput::{OurDatabase, clock_ticks_per_second, cpu_times, labelled_pid, round3, used_memory},
};

/// Messages whose statuses are in flight at once.
const WINDOW: usize = 10_000;
/// How often the backlog (`webhook_events` pending) is read.
const BACKLOG_POLL: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, clap::Args)]
pub struct Setup {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    api: String,
    /// An admin API key of the organization (to register the number).
    #[arg(long, env = "API_KEY", hide_env_values = true)]
    key: String,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// The `campaigns-worker` binary, started with this tool's environment
    /// plus `WORKER_QUEUES` and `WORKER_ADDR`.
    #[arg(long)]
    worker: PathBuf,
    /// Where the worker serves `/readyz`.
    #[arg(long, default_value = "127.0.0.1:18100")]
    worker_addr: String,
    /// The worker's log (appended to); discarded when not given.
    #[arg(long)]
    worker_log: Option<PathBuf>,
    /// Ledger rows (messages) of the campaign.
    #[arg(long, default_value_t = 200_000)]
    recipients: u32,
    /// Concurrent connections (POSTs in flight at most).
    #[arg(long, default_value_t = 48)]
    concurrency: usize,
    /// Statuses per POST: uniformly 1 to this.
    #[arg(long, default_value_t = 100)]
    max_batch: u32,
    #[arg(long, default_value = "1001")]
    phone_number_id: String,
    #[arg(long, default_value = "2001")]
    waba_id: String,
    /// The number's app secret, registered through `POST /v1/numbers`.
    #[arg(long, default_value = "bench-webhook-app-secret")]
    app_secret: String,
    /// A process whose CPU time (with its descendants') is counted, as
    /// `label=pid` (API, postmaster, redis-server); the worker is added.
    #[arg(long = "cpu", value_parser = labelled_pid)]
    cpu: Vec<(String, u32)>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    setup: Setup,
    /// Status events to send in all.
    #[arg(long, default_value_t = 600_000)]
    events: u64,
    /// Events per second to pace the POSTs at; 0 sends as fast as the
    /// connections allow.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
}

#[derive(Debug, clap::Args)]
pub struct BackpressureArgs {
    #[command(flatten)]
    setup: Setup,
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    redis_url: String,
    /// Events per second, paced, before, during and after the outage.
    #[arg(long, default_value_t = 3_000.0)]
    rate: f64,
    /// How long the status and reply consumers are stopped.
    #[arg(long, default_value_t = 300)]
    outage_secs: u64,
    /// Traffic with the consumers running before they are stopped.
    #[arg(long, default_value_t = 20)]
    warmup_secs: u64,
}

// ---------------------------------------------------------------------------
// The traffic
// ---------------------------------------------------------------------------

/// splitmix64: reproducible, and no dependency for it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is negligible here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// By level: 0 is no status yet.
const STATUS_NAMES: [&str; 4] = ["none", "sent", "delivered", "read"];

/// A message of the window: its next status and the last it will get.
struct Active {
    n: u32,
    next: u8,
    last: u8,
}

/// Generates the statuses and remembers, per message, the furthest one sent.
struct Traffic {
    rng: Rng,
    /// 1-based: `reached[n]` for `wamid.B{n}` (0 none, 1 sent, 2 delivered, 3 read).
    reached: Vec<u8>,
    next_new: u32,
    window: Vec<Active>,
    events: u64,
    budget: u64,
    duplicates: u64,
    posts: u64,
    max_batch: u32,
    base_ts: u64,
    /// Pacing: events per second (0: none), the first POST's time.
    rate: f64,
    started: Option<Instant>,
    waba_id: String,
    phone_number_id: String,
}

/// One POST, ready to sign and send.
struct Batch {
    body: Bytes,
    events: u32,
    due: Option<Instant>,
}

impl Traffic {
    fn new(setup: &Setup, budget: u64, rate: f64) -> Self {
        let recipients = setup.recipients;
        let base_ts = SystemTime::now().duration_since(UNIX_EPOCH).map_or(1_764_000_000, |d| d.as_secs()) - 3_600;
        Self {
            rng: Rng(setup.seed),
            reached: vec![0; recipients as usize + 1],
            next_new: 1,
            window: Vec::with_capacity(WINDOW),
            events: 0,
            budget,
            duplicates: 0,
            posts: 0,
            max_batch: setup.max_batch.clamp(1, 1_000),
            base_ts,
            rate,
            started: None,
            waba_id: setup.waba_id.clone(),
            phone_number_id: setup.phone_number_id.clone(),
        }
    }

    fn recipients(&self) -> u32 {
        (self.reached.len() - 1) as u32
    }

    /// The next status: `(message, status)`.
    fn next_status(&mut self) -> (u32, u8) {
        while self.window.len() < WINDOW && self.next_new <= self.recipients() {
            let roll = self.rng.below(100);
            let last = if roll < 85 {
                3
            } else if roll < 95 {
                2
            } else {
                1
            };
            self.window.push(Active { n: self.next_new, next: 1, last });
            self.next_new += 1;
        }
        if self.window.is_empty() {
            // Every message is done: Meta delivering statuses again.
            let n = 1 + self.rng.below(u64::from(self.recipients())) as u32;
            self.duplicates += 1;
            return (n, self.reached[n as usize].max(1));
        }
        let i = self.rng.below(self.window.len() as u64) as usize;
        let a = &mut self.window[i];
        let (n, status) = (a.n, a.next);
        a.next += 1;
        if a.next > a.last {
            self.window.swap_remove(i);
        }
        let reached = &mut self.reached[n as usize];
        *reached = (*reached).max(status);
        (n, status)
    }

    /// The next POST, or `None` when the budget is spent.
    fn next_batch(&mut self) -> Option<Batch> {
        if self.events >= self.budget {
            return None;
        }
        let size = (1 + self.rng.below(u64::from(self.max_batch))).min(self.budget - self.events) as u32;
        let mut statuses = String::with_capacity(size as usize * 300);
        for k in 0..size {
            let (n, status) = self.next_status();
            if k > 0 {
                statuses.push(',');
            }
            self.push_status(&mut statuses, n, status);
        }
        let body = format!(
            concat!(
                r#"{{"object":"whatsapp_business_account","entry":[{{"id":"{waba}","changes":[{{"value":"#,
                r#"{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001111","#,
                r#""phone_number_id":"{number}"}},"statuses":[{statuses}]}},"field":"messages"}}]}}]}}"#
            ),
            waba = self.waba_id,
            number = self.phone_number_id,
            statuses = statuses,
        );
        let due = (self.rate > 0.0).then(|| {
            let started = *self.started.get_or_insert_with(Instant::now);
            started + Duration::from_secs_f64(self.events as f64 / self.rate)
        });
        self.events += u64::from(size);
        self.posts += 1;
        Some(Batch { body: Bytes::from(body), events: size, due })
    }

    /// One status as Meta sends it (`sent` and `delivered` carry the
    /// conversation and pricing, `read` does not).
    fn push_status(&self, out: &mut String, n: u32, status: u8) {
        use std::fmt::Write;
        let ts = self.base_ts + u64::from(status) * 60 + u64::from(n % 60);
        let _ = write!(
            out,
            r#"{{"id":"wamid.B{n}","status":"{}","timestamp":"{ts}","recipient_id":"346{n:08}""#,
            STATUS_NAMES[status as usize]
        );
        if status < 3 {
            let _ = write!(
                out,
                r#","conversation":{{"id":"c0nv{n:016x}","origin":{{"type":"marketing"}}{}}},"pricing":{{"billable":true,"pricing_model":"PMP","category":"marketing","type":"regular"}}"#,
                if status == 1 { format!(r#","expiration_timestamp":"{}""#, ts + 86_400) } else { String::new() }
            );
        }
        out.push('}');
    }
}

// ---------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------

/// What the senders share.
struct Load {
    traffic: Mutex<Traffic>,
    /// Statuses per stored event (`webhook_events.id`), to count the backlog in statuses.
    sizes: Mutex<HashMap<i64, u32>>,
    acked_events: AtomicU64,
    acked_posts: AtomicU64,
    failed_attempts: AtomicU64,
}

/// One acknowledged POST.
#[derive(Debug, Clone, Copy)]
struct Post {
    sent_at: Instant,
    latency_ms: f64,
    /// How late it left against its paced time.
    lag_ms: f64,
    events: u32,
}

impl Load {
    fn new(traffic: Traffic) -> Arc<Self> {
        Arc::new(Self {
            traffic: Mutex::new(traffic),
            sizes: Mutex::new(HashMap::new()),
            acked_events: AtomicU64::new(0),
            acked_posts: AtomicU64::new(0),
            failed_attempts: AtomicU64::new(0),
        })
    }

    fn traffic(&self) -> std::sync::MutexGuard<'_, Traffic> {
        self.traffic.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Statuses still pending among these stored events.
    fn events_of(&self, ids: &[i64]) -> u64 {
        let sizes = self.sizes.lock().unwrap_or_else(PoisonError::into_inner);
        ids.iter().map(|id| u64::from(sizes.get(id).copied().unwrap_or(0))).sum()
    }
}

/// Runs `concurrency` connections until the budget is spent or `stop`;
/// every batch generated is sent (and retried) until acknowledged.
async fn send_all(load: &Arc<Load>, setup: &Setup, stop: &CancellationToken) -> anyhow::Result<Vec<Post>> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(setup.concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;
    let url = format!("{}/webhooks/whatsapp", setup.api);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..setup.concurrency.max(1) {
        let (load, http, url, secret, stop) =
            (load.clone(), http.clone(), url.clone(), setup.app_secret.clone(), stop.clone());
        tasks.spawn(async move {
            let mut posts = Vec::new();
            while !stop.is_cancelled() {
                let Some(batch) = load.traffic().next_batch() else { break };
                let mut lag_ms = 0.0;
                if let Some(due) = batch.due {
                    let now = Instant::now();
                    if due > now {
                        tokio::time::sleep_until(due.into()).await;
                    } else {
                        lag_ms = (now - due).as_secs_f64() * 1000.0;
                    }
                }
                posts.push(Post { lag_ms, ..post(&load, &http, &url, &secret, &batch).await? });
            }
            anyhow::Ok(posts)
        });
    }
    let mut posts = Vec::new();
    while let Some(done) = tasks.join_next().await {
        posts.extend(done.context("a sender")??);
    }
    posts.sort_by_key(|p| p.sent_at);
    Ok(posts)
}

/// POSTs one batch until it is stored (as Meta retries anything but a 200).
async fn post(load: &Load, http: &reqwest::Client, url: &str, secret: &str, batch: &Batch) -> anyhow::Result<Post> {
    let signature = whatsapp::signature::sign(secret.as_bytes(), &batch.body);
    for attempt in 1..=5 {
        let sent_at = Instant::now();
        let result = http
            .post(url)
            .header("content-type", "application/json")
            .header(whatsapp::SIGNATURE_HEADER, &signature)
            .body(batch.body.clone())
            .send()
            .await;
        let failure = match result {
            Ok(resp) if resp.status() == reqwest::StatusCode::OK => {
                let answer: Value = resp.json().await.context("reading a webhook answer")?;
                let latency_ms = sent_at.elapsed().as_secs_f64() * 1000.0;
                let id = answer["event_id"].as_i64().with_context(|| format!("no event_id in {answer}"))?;
                load.sizes.lock().unwrap_or_else(PoisonError::into_inner).insert(id, batch.events);
                load.acked_events.fetch_add(u64::from(batch.events), Ordering::Relaxed);
                load.acked_posts.fetch_add(1, Ordering::Relaxed);
                return Ok(Post { sent_at, latency_ms, lag_ms: 0.0, events: batch.events });
            }
            Ok(resp) => format!("{}: {}", resp.status(), resp.text().await.unwrap_or_default()),
            Err(e) => format!("{e:#}"),
        };
        load.failed_attempts.fetch_add(1, Ordering::Relaxed);
        eprintln!("webhook POST attempt {attempt} failed: {failure}");
        tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
    }
    bail!("a webhook POST failed 5 times")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn latencies<'a>(posts: impl Iterator<Item = &'a Post>) -> Vec<f64> {
    let mut ms: Vec<f64> = posts.map(|p| p.latency_ms).collect();
    ms.sort_by(f64::total_cmp);
    ms
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

// ---------------------------------------------------------------------------
// The backlog
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct Backlog {
    at: Instant,
    rows: usize,
    events: u64,
}

#[derive(Debug, Default)]
struct BacklogWatch {
    last: Option<Backlog>,
    peak: Option<Backlog>,
}

/// Reads the pending events every [`BACKLOG_POLL`] until `stop`.
fn watch_backlog(
    pg: PgPool,
    load: Arc<Load>,
    stop: CancellationToken,
) -> (Arc<Mutex<BacklogWatch>>, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let watch = Arc::new(Mutex::new(BacklogWatch::default()));
    let task = tokio::spawn({
        let watch = watch.clone();
        async move {
            let mut tick = tokio::time::interval(BACKLOG_POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !stop.is_cancelled() {
                tick.tick().await;
                let ids: Vec<i64> = sqlx::query_scalar(
                    "select id from webhook_events where processed_at is null and failed_at is null",
                )
                .fetch_all(&pg)
                .await
                .context("reading the backlog")?;
                let now = Backlog { at: Instant::now(), rows: ids.len(), events: load.events_of(&ids) };
                let mut w = watch.lock().unwrap_or_else(PoisonError::into_inner);
                if w.peak.is_none_or(|p| now.events > p.events) {
                    w.peak = Some(now);
                }
                w.last = Some(now);
            }
            Ok(())
        }
    });
    (watch, task)
}

/// Waits for a backlog read after `after` that satisfies `done`.
async fn wait_backlog(
    watch: &Mutex<BacklogWatch>,
    after: Instant,
    timeout: Duration,
    done: impl Fn(&Backlog) -> bool,
) -> anyhow::Result<Backlog> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = watch.lock().unwrap_or_else(PoisonError::into_inner).last;
        if let Some(b) = last.filter(|b| b.at > after && done(b)) {
            return Ok(b);
        }
        if Instant::now() > deadline {
            bail!("the backlog did not drain in {timeout:?}: {last:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Prints progress every 10 s until `stop`.
fn report_progress(load: Arc<Load>, watch: Arc<Mutex<BacklogWatch>>, stop: CancellationToken) {
    tokio::spawn(async move {
        let started = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        tick.tick().await;
        while !stop.is_cancelled() {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            let last = watch.lock().unwrap_or_else(PoisonError::into_inner).last;
            eprintln!(
                "after {:.0} s: {} events acknowledged in {} POSTs; backlog {} events in {} POSTs",
                started.elapsed().as_secs_f64(),
                load.acked_events.load(Ordering::Relaxed),
                load.acked_posts.load(Ordering::Relaxed),
                last.map_or(0, |b| b.events),
                last.map_or(0, |b| b.rows),
            );
        }
    });
}

// ---------------------------------------------------------------------------
// Setup, the worker, verification
// ---------------------------------------------------------------------------

/// Registers the number through the API and writes the campaign's ledger:
/// every recipient `accepted` with its wamid. Returns the campaign id.
async fn prepare(setup: &Setup, pg: &PgPool) -> anyhow::Result<i64> {
    let api = Api { http: reqwest::Client::new(), base: setup.api.clone(), key: setup.key.clone() };
    let number = api
        .call(
            reqwest::Method::POST,
            "/v1/numbers",
            Some(json!({
                "phone_number_id": setup.phone_number_id, "waba_id": setup.waba_id,
                "access_token": "bench-token", "app_secret": setup.app_secret,
            })),
        )
        .await?;
    let number_id = number["id"].as_i64().context("the number's id")?;
    let mut tx = pg.begin().await?;
    let campaign: i64 = sqlx::query_scalar(
        "insert into campaigns (org_id, kind, name, lifecycle, number_id, launched_at, planned_at)
         select org_id, 'real', 'webhooks bench', 'active', id, now(), now() from wa_numbers where id = $1
         returning id",
    )
    .bind(number_id)
    .fetch_one(&mut *tx)
    .await
    .context("creating the campaign")?;
    sqlx::query(
        "insert into recipients (campaign_id, contact_id, org_id, phone, state, attempt, wamid,
                                 queued_at, sending_at, accepted_at)
         select cp.id, n, cp.org_id, '+346' || lpad(n::text, 8, '0'), 'accepted', 1, 'wamid.B' || n,
                now(), now(), now()
         from campaigns cp, generate_series(1, $2::bigint) n where cp.id = $1",
    )
    .bind(campaign)
    .bind(i64::from(setup.recipients))
    .execute(&mut *tx)
    .await
    .context("writing the ledger")?;
    tx.commit().await?;
    sqlx::query("analyze recipients, campaign_counters, webhook_events").execute(pg).await?;
    sqlx::query("checkpoint").execute(pg).await?;
    Ok(campaign)
}

/// A `campaigns-worker` this tool started.
struct Worker {
    child: tokio::process::Child,
    pid: u32,
}

async fn start_worker(setup: &Setup, queues: &str) -> anyhow::Result<Worker> {
    let (stdout, stderr) = match &setup.worker_log {
        Some(path) => {
            let log = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
            (Stdio::from(log.try_clone()?), Stdio::from(log))
        }
        None => (Stdio::null(), Stdio::null()),
    };
    let child = tokio::process::Command::new(&setup.worker)
        .env("WORKER_QUEUES", queues)
        .env("WORKER_ADDR", &setup.worker_addr)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", setup.worker.display()))?;
    let pid = child.id().context("the worker's pid")?;
    let mut worker = Worker { child, pid };
    let ready = format!("http://{}/readyz", setup.worker_addr);
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if http.get(&ready).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(worker);
        }
        if let Some(status) = worker.child.try_wait()? {
            bail!("the worker exited with {status} before it was ready");
        }
        if Instant::now() > deadline {
            bail!("the worker was not ready at {ready} after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGTERM (a clean stop: the consumers finish their pass), then waits.
async fn stop_worker(mut worker: Worker) -> anyhow::Result<()> {
    let status = tokio::process::Command::new("kill").arg("-TERM").arg(worker.pid.to_string()).status().await?;
    ensure!(status.success(), "kill -TERM {} failed", worker.pid);
    match tokio::time::timeout(Duration::from_secs(30), worker.child.wait()).await {
        Ok(exit) => {
            exit?;
        }
        Err(_) => {
            worker.child.kill().await?;
            bail!("the worker did not stop within 30 s of SIGTERM");
        }
    }
    Ok(())
}

/// Compares the ledger and the live counters with what the statuses sent
/// say. Returns the rows that differ (each is a lost or wrong status) and
/// the expected counters.
async fn verify(pg: &PgPool, campaign: i64, reached: &[u8]) -> anyhow::Result<(u64, serde_json::Map<String, Value>)> {
    let rows: Vec<(i64, String, bool, bool, bool)> = sqlx::query_as(
        "select contact_id, state, sent_at is not null, delivered_at is not null, read_at is not null
         from recipients where campaign_id = $1",
    )
    .bind(campaign)
    .fetch_all(pg)
    .await?;
    ensure!(rows.len() == reached.len() - 1, "{} ledger rows, expected {}", rows.len(), reached.len() - 1);
    let mut wrong = 0u64;
    let mut shown = 0;
    for (n, state, sent, delivered, read) in &rows {
        let r = reached[*n as usize];
        let expected_state = ["accepted", "sent", "delivered", "read"][r as usize];
        if state != expected_state || *sent != (r >= 1) || *delivered != (r >= 2) || *read != (r >= 3) {
            wrong += 1;
            if shown < 5 {
                shown += 1;
                eprintln!(
                    "wamid.B{n}: ledger {state} (sent {sent}, delivered {delivered}, read {read}); statuses sent up to {}",
                    STATUS_NAMES[r as usize]
                );
            }
        }
    }
    let count = |level: u8| reached[1..].iter().filter(|&&r| r >= level).count() as i64;
    let (sent, delivered, read) = (count(1), count(2), count(3));
    let total = (reached.len() - 1) as i64;
    let expected: HashMap<&str, i64> = HashMap::from([
        ("state:accepted", total - sent),
        ("state:sent", sent - delivered),
        ("state:delivered", delivered - read),
        ("state:read", read),
        ("sent", sent),
        ("delivered", delivered),
        ("read", read),
    ]);
    let counters: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "select metric, sum(value)::bigint from campaign_counters where campaign_id = $1 group by metric",
    )
    .bind(campaign)
    .fetch_all(pg)
    .await?
    .into_iter()
    .collect();
    let mut mismatches = Vec::new();
    for (metric, value) in &counters {
        let want = expected.get(metric.as_str()).copied().unwrap_or(0);
        if *value != want {
            mismatches.push(format!("{metric} = {value}, expected {want}"));
        }
    }
    for (metric, want) in &expected {
        if *want != 0 && !counters.contains_key(*metric) {
            mismatches.push(format!("{metric} missing, expected {want}"));
        }
    }
    let dead: i64 =
        sqlx::query_scalar("select count(*) from webhook_events where failed_at is not null").fetch_one(pg).await?;
    ensure!(dead == 0, "{dead} webhook events were dead-lettered");
    ensure!(mismatches.is_empty(), "live counters differ from the statuses sent: {}", mismatches.join("; "));
    let expected = expected.into_iter().map(|(k, v)| (k.to_owned(), json!(v))).collect();
    Ok((wrong, expected))
}

fn status_concurrency() -> String {
    std::env::var("STATUS_CONCURRENCY").unwrap_or_else(|_| "2 (default)".into())
}

// ---------------------------------------------------------------------------
// The two benches
// ---------------------------------------------------------------------------

pub async fn run(args: Args) -> anyhow::Result<Value> {
    let setup = &args.setup;
    let pg = process::connections::connect_postgres_url(&setup.database_url).await.context("connecting to Postgres")?;
    let campaign = prepare(setup, &pg).await?;
    let worker = start_worker(setup, "status").await?;
    let load = Load::new(Traffic::new(setup, args.events, args.rate));
    let stop = CancellationToken::new();
    let (watch, poller) = watch_backlog(pg.clone(), load.clone(), stop.clone());
    report_progress(load.clone(), watch.clone(), stop.clone());
    let mut cpu = setup.cpu.clone();
    cpu.push(("worker".into(), worker.pid));
    let ours = OurDatabase::of(&setup.database_url)?;
    let clock_tick = clock_ticks_per_second();

    let cpu_start = cpu_times(&cpu, &ours);
    let machine_start = Machine::now(&ours);
    let started = Instant::now();
    let posts = send_all(&load, setup, &CancellationToken::new()).await?;
    let sent = Instant::now();
    let drained = wait_backlog(&watch, sent, Duration::from_secs(600), |b| b.rows == 0).await?;
    let cpu_end = cpu_times(&cpu, &ours);
    let machine_end = Machine::now(&ours);
    stop.cancel();
    poller.await.context("the backlog poller")??;
    stop_worker(worker).await?;

    let (events, posts_sent, duplicates, reached) = {
        let mut t = load.traffic();
        (t.events, t.posts, t.duplicates, std::mem::take(&mut t.reached))
    };
    let (wrong, expected) = verify(&pg, campaign, &reached).await?;
    ensure!(wrong == 0, "{wrong} ledger rows differ from the statuses sent");

    let first = posts.first().context("no POST was sent")?.sent_at;
    let last_ack =
        posts.iter().map(|p| p.sent_at + Duration::from_secs_f64(p.latency_ms / 1000.0)).max().unwrap_or(first);
    let ingest_s = (last_ack - first).as_secs_f64();
    let applied_s = (drained.at - started).as_secs_f64();
    let ms = latencies(posts.iter());
    let peak = watch.lock().unwrap_or_else(PoisonError::into_inner).peak;
    let (cpu_ms, by_process) = cpu_per_event(&cpu_start, &cpu_end, clock_tick, events);
    let ticks = |end: &HashMap<String, u64>, start: &HashMap<String, u64>, label: &str| {
        end.get(label).copied().unwrap_or(0).saturating_sub(start.get(label).copied().unwrap_or(0))
    };
    let counted_not_worker: u64 = setup.cpu.iter().map(|(label, _)| ticks(&cpu_end, &cpu_start, label)).sum::<u64>();
    let bench_ticks = (machine_end.bench - machine_start.bench).saturating_sub(ticks(&cpu_end, &cpu_start, "worker"));
    let other_ticks = (machine_end.busy - machine_start.busy)
        .saturating_sub(counted_not_worker + machine_end.bench - machine_start.bench);
    let cpus = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    eprintln!("counters as expected: {}", Value::Object(expected.clone()));
    Ok(json!({
        "bench": "webhooks",
        "metrics": {
            "events_per_s_ingested": (events as f64 / ingest_s).round(),
            "ack_p99_ms": round1(percentile(&ms, 99.0)),
            "events_per_s_applied": (events as f64 / applied_s).round(),
            "cpu_ms_per_event": round3(cpu_ms),
            "events": events,
            "posts": posts_sent,
            "duplicates": duplicates,
            "ack_p50_ms": round1(percentile(&ms, 50.0)),
            "ack_p999_ms": round1(percentile(&ms, 99.9)),
            "ack_max_ms": round1(ms.last().copied().unwrap_or(0.0)),
            "ingest_s": round1(ingest_s),
            "applied_s": round1(applied_s),
            "backlog_peak_events": peak.map_or(0, |b| b.events),
            "backlog_peak_posts": peak.map_or(0, |b| b.rows),
            "failed_post_attempts": load.failed_attempts.load(Ordering::Relaxed),
            "paced_events_per_s": if args.rate > 0.0 { json!(args.rate) } else { json!("unpaced") },
            "max_schedule_lag_ms": round1(posts.iter().map(|p| p.lag_ms).fold(0.0, f64::max)),
            "concurrency": setup.concurrency,
            "status_concurrency": status_concurrency(),
            "recipients": setup.recipients,
            "ledger_rows_wrong": wrong,
            "cpu_ms_per_event_by_process": by_process,
            "cpu_ms_per_event_load_generator": round3(bench_ticks as f64 * 1000.0 / clock_tick / events as f64),
            "cpu_s_other_processes": round1(other_ticks as f64 / clock_tick),
            "cpu_s_available": round1(applied_s * cpus),
            "cpu_counted": "user+sys (/proc/PID/stat) from the first POST until the backlog was empty: the API, the worker, redis-server, and the postmaster with its background processes and the bench database's backends (not the load generator)",
            "events_per_s_applied_is": "events / (first POST to the backlog read empty, polled every 250 ms)",
        }
    }))
}

/// Busy CPU time of the whole machine (user, nice, system, irq, softirq,
/// steal), in clock ticks, from `/proc/stat`.
fn machine_busy_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .map(|l| l.split_whitespace().filter_map(|f| f.parse().ok()).collect())
        .unwrap_or_default();
    [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| fields.get(i)).sum()
}

/// What the machine's CPUs did during a measurement besides the counted
/// processes: this tool (the load generator) and anything else (other
/// databases' backends, builds, other benches).
struct Machine {
    busy: u64,
    bench: u64,
}

impl Machine {
    fn now(ours: &OurDatabase) -> Self {
        // This process's tree includes the worker it started.
        let tree = cpu_times(&[("bench".into(), std::process::id())], ours);
        Self { busy: machine_busy_ticks(), bench: tree.values().sum() }
    }
}

fn cpu_per_event(
    start: &HashMap<String, u64>,
    end: &HashMap<String, u64>,
    clock_tick: f64,
    events: u64,
) -> (f64, serde_json::Map<String, Value>) {
    let mut total = 0.0;
    let mut by_process = serde_json::Map::new();
    for (label, before) in start {
        let ms = end.get(label).copied().unwrap_or(0).saturating_sub(*before) as f64 * 1000.0 / clock_tick;
        total += ms;
        by_process.insert(label.clone(), json!(round3(ms / events.max(1) as f64)));
    }
    (total / events.max(1) as f64, by_process)
}

pub async fn backpressure(args: BackpressureArgs) -> anyhow::Result<Value> {
    let setup = &args.setup;
    let queues = "status,reply";
    let pg = process::connections::connect_postgres_url(&setup.database_url).await.context("connecting to Postgres")?;
    let mut redis = process::connections::connect_redis_url(&args.redis_url).await.context("connecting to Redis")?;
    let campaign = prepare(setup, &pg).await?;
    let worker = start_worker(setup, queues).await?;
    let load = Load::new(Traffic::new(setup, u64::MAX, args.rate));
    let stop = CancellationToken::new();
    let (watch, poller) = watch_backlog(pg.clone(), load.clone(), stop.clone());
    report_progress(load.clone(), watch.clone(), stop.clone());
    let stop_sending = CancellationToken::new();
    let sending = tokio::spawn({
        let (load, setup, stop) = (load.clone(), setup.clone(), stop_sending.clone());
        async move { send_all(&load, &setup, &stop).await }
    });

    tokio::time::sleep(Duration::from_secs(args.warmup_secs)).await;
    let redis_before = used_memory(&mut redis).await?;
    let outage_start = Instant::now();
    stop_worker(worker).await?;
    eprintln!("consumers stopped for {} s; webhooks keep arriving at {}/s", args.outage_secs, args.rate);
    let outage_end = outage_start + Duration::from_secs(args.outage_secs);
    let mut redis_peak = redis_before;
    while Instant::now() < outage_end {
        redis_peak = redis_peak.max(used_memory(&mut redis).await?);
        tokio::time::sleep(Duration::from_secs(1).min(outage_end.saturating_duration_since(Instant::now()))).await;
    }
    let redis_after = used_memory(&mut redis).await?;
    let restarted = Instant::now();
    let worker = start_worker(setup, queues).await?;
    eprintln!("consumers restarted");
    // Caught up: less than a second of traffic pending.
    let timeout = Duration::from_secs(args.outage_secs * 3 + 60);
    let caught_up = wait_backlog(&watch, restarted, timeout, |b| b.events as f64 <= args.rate).await;
    stop_sending.cancel();
    let posts = sending.await.context("the senders")??;
    let caught_up = caught_up?;
    let sent = Instant::now();
    wait_backlog(&watch, sent, Duration::from_secs(600), |b| b.rows == 0).await?;
    stop.cancel();
    poller.await.context("the backlog poller")??;
    stop_worker(worker).await?;

    let (events, posts_sent, duplicates, reached) = {
        let mut t = load.traffic();
        (t.events, t.posts, t.duplicates, std::mem::take(&mut t.reached))
    };
    let (lost, _) = verify(&pg, campaign, &reached).await?;
    ensure!(lost == 0, "{lost} ledger rows differ from the statuses sent: statuses were lost");

    let during = latencies(posts.iter().filter(|p| p.sent_at >= outage_start && p.sent_at < restarted));
    let before = latencies(posts.iter().filter(|p| p.sent_at < outage_start));
    let after = latencies(posts.iter().filter(|p| p.sent_at >= restarted));
    let peak = watch.lock().unwrap_or_else(PoisonError::into_inner).peak;
    let mb = |bytes: u64| (bytes as f64 / 1_048_576.0 * 10.0).round() / 10.0;
    let outage_s = (restarted - outage_start).as_secs_f64();
    Ok(json!({
        "bench": "webhooks-backpressure",
        "metrics": {
            "outage_s": round1(outage_s),
            "events": events,
            "ack_p99_ms_during_outage": round1(percentile(&during, 99.0)),
            "backlog_peak": peak.map_or(0, |b| b.events),
            "catch_up_s": round1((caught_up.at - restarted).as_secs_f64()),
            "lost": lost,
            "redis_used_memory_mb_before": mb(redis_before),
            "redis_used_memory_mb_after": mb(redis_after),
            "redis_used_memory_mb_peak_during_outage": mb(redis_peak),
            "paced_events_per_s": args.rate,
            "events_sent_during_outage": posts.iter().filter(|p| p.sent_at >= outage_start && p.sent_at < restarted).map(|p| u64::from(p.events)).sum::<u64>(),
            "posts": posts_sent,
            "duplicates": duplicates,
            "ack_p50_ms_during_outage": round1(percentile(&during, 50.0)),
            "ack_max_ms_during_outage": round1(during.last().copied().unwrap_or(0.0)),
            "ack_p99_ms_before_outage": round1(percentile(&before, 99.0)),
            "ack_p99_ms_after_restart": round1(percentile(&after, 99.0)),
            "backlog_peak_posts": peak.map_or(0, |b| b.rows),
            "failed_post_attempts": load.failed_attempts.load(Ordering::Relaxed),
            "max_schedule_lag_ms": round1(posts.iter().map(|p| p.lag_ms).fold(0.0, f64::max)),
            "status_concurrency": status_concurrency(),
            "recipients": setup.recipients,
            "catch_up_s_is": "from the consumers' restart until under one second of traffic was pending, with webhooks still arriving at the paced rate",
            "mb": "MiB of Redis INFO used_memory for the whole instance",
        }
    }))
}
