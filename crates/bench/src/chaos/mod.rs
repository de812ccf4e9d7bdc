//! `campaigns-bench chaos`: proves "no duplicate, nothing lost" on a local
//! stack while its parts fail. `scripts/chaos` builds the binaries and runs
//! this.
//!
//! The stack is the run's own (Postgres with production durability, Redis,
//! wa-sim, the API, the workers, a webhook tap and a bot), all on loopback
//! under `--dir`. An undisturbed campaign gives the baseline time; then a
//! campaign of the same size on other contacts is sent while workers, Redis,
//! Postgres, the API and the Cloud API fail on a schedule; after it
//! settles (or the deadline passes) the checks compare the ledger with
//! what wa-sim, the tap and the bot saw. The tables go to stdout, then one
//! JSON line; the process exits 1 when a must-be-zero check is not, 2 when
//! the harness itself failed.

mod bot;
mod checks;
mod faults;
mod procs;
mod report;
mod settle;
mod setup;
mod stack;
mod tap;

pub(crate) use checks::counter_mismatches;
pub(crate) use setup::org_key;
pub(crate) use tap::upstream_request;

use std::{
    path::PathBuf,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use anyhow::Context;
use serde_json::{Value, json};
use sqlx::{PgPool, postgres::PgPoolOptions};

use crate::forecast::Api;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the cluster, Redis's data, configs, pid files and logs live.
    #[arg(long, default_value = ".dev/chaos")]
    dir: PathBuf,
    /// The release binaries: campaigns-api, campaigns-worker, campaignsctl, wa-sim.
    #[arg(long, default_value = "target/release")]
    bin: PathBuf,
    /// Postgres 15+ binaries (initdb, pg_ctl).
    #[arg(long, default_value = "/usr/lib/postgresql/15/bin")]
    pg_bin: PathBuf,
    #[arg(long, env = "APP_ENCRYPTION_KEY", hide_env_values = true)]
    encryption_key: String,
    /// Recipients of each campaign.
    #[arg(long, default_value_t = 50_000)]
    recipients: u32,
    /// Each campaign's pace (contacts per second).
    #[arg(long, default_value_t = 1_000.0)]
    pace: f64,
    /// Worker processes, each on every queue.
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Rounds of faults; from 2 on, a worker is also killed between every few faults.
    #[arg(long, default_value_t = 2)]
    rounds: u32,
    /// How long each of wa-sim's failure bursts lasts, in seconds.
    #[arg(long, default_value_t = 3.0)]
    burst_secs: f64,
    /// The chaos campaign's deadline to settle, in seconds from its launch.
    #[arg(long, default_value_t = 1_800)]
    settle_secs: u64,
    /// Seeds wa-sim and the choice of worker to kill (default: the clock).
    #[arg(long)]
    seed: Option<u64>,
}

/// Everything the run started, and how to reach it.
#[derive(Debug)]
pub struct Stack {
    dir: PathBuf,
    pg: stack::Postgres,
    redis: stack::Redis,
    engine: procs::Engine,
    tap: Arc<tap::Tap>,
    bot: Arc<bot::Bot>,
    /// The run's database, connected lazily (it is created by `start`).
    db: PgPool,
    sim_url: String,
    sim_port: u16,
    tap_port: u16,
    bot_url: String,
    http: reqwest::Client,
    key: Option<String>,
    /// Services the harness had to start again outside a fault (a fault's
    /// own restart failed): the run goes on, and the report says so.
    recoveries: Vec<String>,
}

impl Stack {
    fn api(&self) -> anyhow::Result<Api> {
        let key = self.key.clone().context("no API key yet")?;
        Ok(Api { http: self.http.clone(), base: self.engine.api_url(), key })
    }

    async fn sim_faults(&self, faults: &Value) -> anyhow::Result<()> {
        let resp = self.http.put(format!("{}/_sim/faults", self.sim_url)).json(faults).send().await?;
        anyhow::ensure!(resp.status().is_success(), "PUT /_sim/faults answered {}", resp.status());
        Ok(())
    }

    /// Binds the tap and the bot and chooses ports; starts nothing else.
    async fn new(args: &Args) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
        let dir = std::fs::canonicalize(&args.dir)?;
        for entry in std::fs::read_dir(&dir)?.flatten() {
            // The previous run's logs and pid files; the cluster stays, and
            // so does chaos.log, which scripts/chaos is writing this run's into.
            let name = entry.file_name().to_string_lossy().into_owned();
            if (name.ends_with(".log") && name != "chaos.log") || name == "pids" || name == "result.json" {
                let _ = if name == "pids" {
                    std::fs::remove_dir_all(entry.path())
                } else {
                    std::fs::remove_file(entry.path())
                };
            }
        }
        let pg = stack::Postgres::new(args.pg_bin.clone(), &dir, stack::free_port()?);
        let redis = stack::Redis::new(&dir, stack::free_port()?);
        let database_url = pg.url("chaos");
        let (sim_port, tap_port, bot_port) = (stack::free_port()?, stack::free_port()?, stack::free_port()?);
        let sim_url = format!("http://127.0.0.1:{sim_port}");
        let env = [
            ("DATABASE_URL", database_url.clone()),
            ("REDIS_URL", redis.url()),
            ("APP_ENCRYPTION_KEY", args.encryption_key.clone()),
            ("WHATSAPP_API_URL", sim_url.clone()),
            ("WEBHOOK_VERIFY_TOKEN", "chaos-verify-token".to_owned()),
            ("BOT_EGRESS_ALLOW_PRIVATE", "true".to_owned()),
            ("LOG_FORMAT", "json".to_owned()),
            ("RUST_LOG", "info".to_owned()),
            // The last sends of a campaign have no later sends to be evidence
            // about them: the policy settles them, within the deadline.
            ("IN_DOUBT_RECONCILE_SECS", (args.settle_secs / 2).clamp(30, 600).to_string()),
        ];
        let env = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let engine = procs::Engine::new(std::fs::canonicalize(&args.bin)?, dir.clone(), env)?;
        let tap = tap::start(engine.api_url(), tap_port).await?;
        let bot = bot::start(setup::BOT_SECRET.to_owned(), bot_port).await?;
        let db = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(3))
            .connect_lazy(&database_url)
            .context("the database URL")?;
        Ok(Self {
            dir,
            pg,
            redis,
            engine,
            tap,
            bot,
            db,
            sim_url,
            sim_port,
            tap_port,
            bot_url: format!("http://127.0.0.1:{bot_port}/bot"),
            http: reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?,
            key: None,
            recoveries: Vec::new(),
        })
    }

    async fn start(&mut self, args: &Args, seed: u64) -> anyhow::Result<()> {
        eprintln!("chaos: Postgres on 127.0.0.1:{} (fsync, synchronous_commit, full_page_writes on)", self.pg.port);
        self.pg.prepare().await?;
        self.pg.start().await?;
        let admin = PgPool::connect(&self.pg.url("postgres")).await.context("connecting to Postgres as postgres")?;
        sqlx::query("drop database if exists chaos with (force)").execute(&admin).await?;
        sqlx::query("create database chaos").execute(&admin).await?;
        admin.close().await;
        eprintln!("chaos: Redis on 127.0.0.1:{}", self.redis.port);
        self.redis.start().await?;
        let config = self.dir.join("wa-sim.toml");
        let hook = format!("http://127.0.0.1:{}/webhooks/whatsapp", self.tap_port);
        std::fs::write(&config, setup::sim_config(self.sim_port, &hook, seed))?;
        self.engine.start_sim(&config, self.sim_port).await?;
        let api = self.engine.start_api().await?;
        eprintln!(
            "chaos: wa-sim on {}, {api} on {}, webhooks through the tap at {hook}",
            self.sim_url,
            self.engine.api_url()
        );
        self.key = Some(setup::org_key(&args.bin.join("campaignsctl"), &self.pg.url("chaos"), "Chaos").await?);
        for _ in 0..args.workers {
            let name = self.engine.start_worker().await?;
            eprintln!("chaos: {name} started");
        }
        Ok(())
    }

    /// Between faults every service must be up: Postgres or Redis left down
    /// by a failed fault is started again, and engine processes that died
    /// are replaced (`Engine::reap`).
    async fn heal(&mut self) -> anyhow::Result<()> {
        if self.pg.postmaster_pid().is_none() {
            eprintln!("chaos: Postgres is down outside a fault; starting it");
            self.recoveries.push("postgres started again".to_owned());
            if let Err(e) = self.pg.start().await {
                eprintln!("chaos: starting Postgres failed: {e:#}");
            }
        }
        if !self.redis.running() {
            eprintln!("chaos: Redis is down outside a fault; starting it");
            self.recoveries.push("redis started again".to_owned());
            if let Err(e) = self.redis.start().await {
                eprintln!("chaos: starting Redis failed: {e:#}");
            }
        }
        self.engine.reap().await
    }

    async fn teardown(&mut self) {
        self.engine.teardown().await;
        if let Err(e) = self.redis.stop().await {
            eprintln!("chaos: stopping Redis: {e:#}");
        }
        self.db.close().await;
        self.pg.stop().await;
    }
}

/// The result line and the exit status: 0 when every must-be-zero check
/// passed, 1 when one did not, 2 when the harness itself failed.
pub async fn run(args: Args) -> (Value, i32) {
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_secs() % 100_000)
    });
    let mut stack = match Stack::new(&args).await {
        Ok(stack) => stack,
        Err(e) => return harness_error(&e),
    };
    let result = drive(&args, &mut stack, seed).await;
    eprintln!("chaos: tearing down; the logs stay in {}", stack.dir.display());
    stack.teardown().await;
    match result {
        Ok((value, ok)) => {
            let _ = std::fs::write(stack.dir.join("result.json"), format!("{value:#}\n"));
            (value, if ok { 0 } else { 1 })
        }
        Err(e) => harness_error(&e),
    }
}

fn harness_error(e: &anyhow::Error) -> (Value, i32) {
    eprintln!("chaos: the harness failed: {e:#}");
    (json!({"bench": "chaos", "metrics": {"error": format!("{e:#}")}}), 2)
}

async fn drive(args: &Args, stack: &mut Stack, seed: u64) -> anyhow::Result<(Value, bool)> {
    stack.start(args, seed).await?;
    let api = stack.api()?;
    let ids = setup::prepare(&api, &stack.bot_url).await?;
    eprintln!("chaos: importing {n} contacts tagged calm and {n} tagged chaos", n = args.recipients);
    setup::import_contacts(&api, &["calm", "chaos"], args.recipients).await?;
    let rows = i64::from(args.recipients);
    let expected = Duration::from_secs_f64(f64::from(args.recipients) / args.pace);

    let calm = setup::campaign(&api, ids, "Undisturbed", "calm").await?;
    eprintln!("chaos: undisturbed campaign {calm}: {} recipients at {}/s", args.recipients, args.pace);
    let launched = Instant::now();
    setup::launch(&api, calm, args.pace).await?;
    let undisturbed = settle::wait(stack, calm, rows, launched, expected * 5 + Duration::from_secs(120), None).await?;
    eprintln!("chaos: undisturbed campaign settled: {} after {:.1} s", undisturbed.settled, undisturbed.seconds);
    setup::finish(&api, calm).await?;

    let chaos = setup::campaign(&api, ids, "Chaos", "chaos").await?;
    let burst = Duration::from_secs_f64(args.burst_secs);
    let mut schedule = faults::Schedule::new(expected, args.rounds, burst, seed, stack.dir.join("faults.log"));
    eprintln!("chaos: chaos campaign {chaos}: {} recipients at {}/s, faults while it runs", args.recipients, args.pace);
    let launched = Instant::now();
    setup::launch(&api, chaos, args.pace).await?;
    let deadline = Duration::from_secs(args.settle_secs);
    let settled = settle::wait(stack, chaos, rows, launched, deadline, Some(&mut schedule)).await?;
    eprintln!("chaos: chaos campaign settled: {} after {:.1} s; checking", settled.settled, settled.seconds);

    stack.heal().await?;
    let messages = checks::sim_messages(stack).await?;
    let calm_checks = checks::campaign(stack, calm, "calm", &messages).await?;
    let chaos_checks = checks::campaign(stack, chaos, "chaos", &messages).await?;
    let global = checks::global(stack, &[calm, chaos]).await?;
    let outcome = report::Outcome {
        recipients: args.recipients,
        pace: args.pace,
        workers: args.workers,
        seed,
        undisturbed,
        chaos: settled,
        calm: calm_checks,
        checks: chaos_checks,
        global,
        panics: checks::panics(stack),
        redis_used_memory_mb: stack.redis.used_memory().await.ok().map(|b| (b as f64 / 104_857.6).round() / 10.0),
        fault_counts: schedule.counts().into_iter().collect(),
        injected: schedule.injected,
        unexpected_exits: stack.engine.unexpected_exits.iter().chain(&stack.recoveries).cloned().collect(),
        bot_deliveries: stack.bot.deliveries.load(Ordering::Relaxed),
        bot_bad_signatures: stack.bot.bad_signatures.load(Ordering::Relaxed),
        tap_posts: (
            stack.tap.posts_ok.load(Ordering::Relaxed),
            stack.tap.posts_refused.load(Ordering::Relaxed),
            stack.tap.posts_unreachable.load(Ordering::Relaxed),
        ),
    };
    Ok(report::render(&outcome))
}
