//! The faults and their schedule. One round holds every fault once; the
//! full run repeats the round and kills a worker between every few faults.
//! The faults of a run are spread evenly over the campaign's expected
//! sending time and injected one after the other (a fault that is still
//! recovering delays the next rather than overlapping it), each logged with
//! its time since the launch.

use std::{
    collections::BTreeMap,
    io::Write,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::Context;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

use super::Stack;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    WorkerKill,
    RedisFlushall,
    RedisRestart,
    PgRestart,
    PgCrash,
    ApiKill,
    Sim5xx,
    SimHang,
    SimDrop,
}

impl Fault {
    pub const ALL: [Self; 9] = [
        Self::WorkerKill,
        Self::RedisFlushall,
        Self::RedisRestart,
        Self::PgRestart,
        Self::PgCrash,
        Self::ApiKill,
        Self::Sim5xx,
        Self::SimHang,
        Self::SimDrop,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::WorkerKill => "worker_kill",
            Self::RedisFlushall => "redis_flushall",
            Self::RedisRestart => "redis_restart",
            Self::PgRestart => "pg_restart",
            Self::PgCrash => "pg_crash",
            Self::ApiKill => "api_kill",
            Self::Sim5xx => "sim_5xx",
            Self::SimHang => "sim_hang",
            Self::SimDrop => "sim_drop",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::WorkerKill => "kill -9 a random worker, start a replacement",
            Self::RedisFlushall => "Redis FLUSHALL",
            Self::RedisRestart => "Redis stopped (SHUTDOWN NOSAVE) and started again",
            Self::PgRestart => "Postgres pg_ctl restart -m fast",
            Self::PgCrash => "kill -9 the postmaster, start again (crash recovery)",
            Self::ApiKill => "kill -9 the API, start it again (webhooks keep coming)",
            Self::Sim5xx => "wa-sim answers 30 % of sends 500",
            Self::SimHang => "wa-sim accepts 10 % of sends, then hangs past the client timeout",
            Self::SimDrop => "wa-sim drops 10 % of send connections unanswered",
        }
    }

    /// wa-sim's fault settings during a burst (`PUT /_sim/faults`).
    fn sim_faults(self) -> Option<Value> {
        match self {
            Self::Sim5xx => Some(json!({"server_error_rate": 0.3})),
            // Longer than the engine's 10 s Cloud API timeout.
            Self::SimHang => Some(json!({"accept_then_hang_rate": 0.1, "hang_ms": 35_000})),
            Self::SimDrop => Some(json!({"drop_connection_rate": 0.1})),
            _ => None,
        }
    }
}

/// One fault as injected.
#[derive(Debug, Clone)]
pub struct Injected {
    pub fault: Fault,
    /// Seconds since the launch.
    pub at: f64,
    pub took: f64,
    pub detail: String,
    pub ok: bool,
}

#[derive(Debug)]
pub struct Schedule {
    plan: Vec<(Duration, Fault)>,
    next: usize,
    pub injected: Vec<Injected>,
    burst: Duration,
    /// The outage of a stopped Redis or a killed API.
    down: Duration,
    /// Chooses the worker to kill: reproducible from the run's seed.
    rng: StdRng,
    log: PathBuf,
}

impl Schedule {
    pub fn new(expected: Duration, rounds: u32, burst: Duration, seed: u64, log: PathBuf) -> Self {
        use Fault::*;
        let round: &[Fault] = if rounds > 1 {
            &[
                WorkerKill,
                Sim5xx,
                RedisFlushall,
                WorkerKill,
                SimHang,
                PgRestart,
                WorkerKill,
                SimDrop,
                RedisRestart,
                WorkerKill,
                ApiKill,
                PgCrash,
            ]
        } else {
            &[WorkerKill, Sim5xx, RedisFlushall, SimHang, PgRestart, SimDrop, RedisRestart, ApiKill, PgCrash]
        };
        let faults: Vec<Fault> = (0..rounds.max(1)).flat_map(|_| round.iter().copied()).collect();
        let gap = expected.div_f64(faults.len() as f64 + 1.0);
        let plan = faults.into_iter().enumerate().map(|(i, f)| (gap.mul_f64(i as f64 + 1.0), f)).collect();
        let _ = std::fs::File::create(&log);
        Self {
            plan,
            next: 0,
            injected: Vec::new(),
            burst,
            down: Duration::from_secs(2),
            rng: StdRng::seed_from_u64(seed),
            log,
        }
    }

    pub fn done(&self) -> bool {
        self.next >= self.plan.len()
    }

    /// The next fault whose time has come.
    pub fn due(&self, since_launch: Duration) -> Option<Fault> {
        self.plan.get(self.next).filter(|(at, _)| *at <= since_launch).map(|&(_, f)| f)
    }

    /// Injects the due fault and logs it.
    pub async fn inject(&mut self, fault: Fault, stack: &mut Stack, launched: Instant) {
        self.next += 1;
        let at = launched.elapsed().as_secs_f64();
        let started = Instant::now();
        let result = self.run(fault, stack).await;
        let took = started.elapsed().as_secs_f64();
        let (ok, detail) = match result {
            Ok(detail) => (true, detail),
            Err(e) => (false, format!("FAILED: {e:#}")),
        };
        let line = format!("[+{at:6.1} s] {:<14} {detail} ({took:.1} s)", fault.name());
        eprintln!("chaos: {line}");
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).create(true).open(&self.log) {
            let _ = writeln!(f, "{line}");
        }
        self.injected.push(Injected { fault, at, took, detail, ok });
    }

    async fn run(&mut self, fault: Fault, stack: &mut Stack) -> anyhow::Result<String> {
        match fault {
            Fault::WorkerKill => {
                let index = self.rng.gen_range(0..stack.engine.workers.len().max(1));
                let (name, pid) = stack.engine.kill_worker(index).await?;
                let started = stack.engine.start_worker().await?;
                Ok(format!("killed {name} (pid {pid}), started {started}"))
            }
            Fault::RedisFlushall => stack.redis.flushall().await.map(|()| "FLUSHALL".to_owned()),
            Fault::RedisRestart => {
                stack.redis.stop().await?;
                tokio::time::sleep(self.down).await;
                stack.redis.start().await?;
                Ok(format!("down {:.1} s", self.down.as_secs_f64()))
            }
            Fault::PgRestart => stack.pg.restart_fast().await.map(|()| "restarted (fast)".to_owned()),
            Fault::PgCrash => {
                let pid = stack.pg.crash().await?;
                let t = Instant::now();
                let mut tries = 1;
                while let Err(e) = stack.pg.start().await {
                    if tries == 3 {
                        return Err(e);
                    }
                    eprintln!("chaos: starting Postgres after the crash failed ({e:#}); again");
                    tries += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Ok(format!(
                    "killed postmaster {pid}; recovered in {:.1} s (start tries: {tries})",
                    t.elapsed().as_secs_f64()
                ))
            }
            Fault::ApiKill => {
                let (name, pid) = stack.engine.kill_api().await?;
                tokio::time::sleep(self.down).await;
                let started = stack.engine.start_api().await?;
                Ok(format!("killed {name} (pid {pid}), down {:.1} s, started {started}", self.down.as_secs_f64()))
            }
            Fault::Sim5xx | Fault::SimHang | Fault::SimDrop => {
                let settings = fault.sim_faults().context("a wa-sim fault")?;
                stack.sim_faults(&settings).await?;
                tokio::time::sleep(self.burst).await;
                stack.sim_faults(&json!({})).await?;
                Ok(format!("{settings} for {:.1} s", self.burst.as_secs_f64()))
            }
        }
    }

    /// How many of each fault were injected (all kinds listed).
    pub fn counts(&self) -> BTreeMap<Fault, usize> {
        let mut counts: BTreeMap<Fault, usize> = Fault::ALL.iter().map(|&f| (f, 0)).collect();
        for i in &self.injected {
            *counts.entry(i.fault).or_default() += 1;
        }
        counts
    }
}
