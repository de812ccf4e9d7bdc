//! The engine's processes as the run starts them: wa-sim, the API and the
//! workers, each start with its own ports and its own log under the run's
//! directory (`api.2.log` is the API's second start), so a killed process's
//! last words stay readable. Kills are `kill -9`: no chance to clean up, as
//! with a crash or the OOM killer.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

use super::stack::{forget_pid, free_port, tail, write_pid};

#[derive(Debug)]
pub struct Proc {
    pub name: String,
    child: Child,
    pub pid: u32,
    pub log: PathBuf,
}

#[derive(Debug)]
pub struct Engine {
    bin: PathBuf,
    dir: PathBuf,
    /// What every engine process gets (connections, keys, the Cloud API URL).
    env: Vec<(String, String)>,
    pub api_port: u16,
    api_metrics_port: u16,
    pub api: Option<Proc>,
    pub workers: Vec<Proc>,
    pub sim: Option<Proc>,
    /// Starts so far per kind, for the names (`worker.4` is the fourth worker started).
    starts: std::collections::HashMap<String, u32>,
    /// Processes that exited without being killed, with their status.
    pub unexpected_exits: Vec<String>,
    http: reqwest::Client,
}

impl Engine {
    pub fn new(bin: PathBuf, dir: PathBuf, env: Vec<(String, String)>) -> anyhow::Result<Self> {
        Ok(Self {
            bin,
            dir,
            env,
            api_port: free_port()?,
            api_metrics_port: free_port()?,
            api: None,
            workers: Vec::new(),
            sim: None,
            starts: std::collections::HashMap::new(),
            unexpected_exits: Vec::new(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?,
        })
    }

    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    fn spawn(&mut self, program: &str, kind: &str, args: &[String], env: &[(&str, String)]) -> anyhow::Result<Proc> {
        let n = self.starts.entry(kind.to_owned()).or_default();
        *n += 1;
        let name = format!("{kind}.{n}");
        let log = self.dir.join(format!("{name}.log"));
        // Appending, so a line written into the log by anyone else is never overwritten.
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(self.bin.join(program))
            .args(args)
            // The run's own servers take no TLS: a CA of the caller's environment is not theirs.
            .env_remove("DATABASE_CA_FILE")
            .env_remove("REDIS_CA_FILE")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.join(program).display()))?;
        let pid = child.id().context("the new process's pid")?;
        write_pid(&self.dir, &name, pid);
        Ok(Proc { name, child, pid, log })
    }

    /// Polls `url` until it answers 2xx; fails if the process exits first.
    async fn wait_ready(http: &reqwest::Client, proc: &mut Proc, url: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if http.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if let Some(status) = proc.child.try_wait()? {
                bail!(
                    "{} exited with {status} before it was ready; the end of {}:\n{}",
                    proc.name,
                    proc.log.display(),
                    tail(&proc.log, 15)
                );
            }
            if Instant::now() > deadline {
                bail!("{} was not ready at {url} after {timeout:?} (log: {})", proc.name, proc.log.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn start_sim(&mut self, config: &Path, port: u16) -> anyhow::Result<String> {
        let args = ["--config".to_owned(), config.to_string_lossy().into_owned()];
        let mut proc = self.spawn("wa-sim", "wa-sim", &args, &[("RUST_LOG", "warn".to_owned())])?;
        let url = format!("http://127.0.0.1:{port}");
        Self::wait_ready(&self.http, &mut proc, &format!("{url}/_sim/messages/count"), Duration::from_secs(30)).await?;
        self.sim = Some(proc);
        Ok(url)
    }

    pub async fn start_api(&mut self) -> anyhow::Result<String> {
        let env = [
            ("API_ADDR", format!("127.0.0.1:{}", self.api_port)),
            ("METRICS_ADDR", format!("127.0.0.1:{}", self.api_metrics_port)),
        ];
        let mut proc = self.spawn("campaigns-api", "api", &[], &env)?;
        // The first start runs the migrations, and after a Postgres crash it
        // may wait for recovery: generous.
        Self::wait_ready(&self.http, &mut proc, &format!("{}/readyz", self.api_url()), Duration::from_secs(120))
            .await?;
        let name = proc.name.clone();
        self.api = Some(proc);
        Ok(name)
    }

    /// Starts one more worker on every queue; returns its name.
    pub async fn start_worker(&mut self) -> anyhow::Result<String> {
        let port = free_port()?;
        let mut proc =
            self.spawn("campaigns-worker", "worker", &[], &[("WORKER_ADDR", format!("127.0.0.1:{port}"))])?;
        let ready = Self::wait_ready(
            &self.http,
            &mut proc,
            &format!("http://127.0.0.1:{port}/readyz"),
            Duration::from_secs(60),
        )
        .await;
        let name = proc.name.clone();
        // Kept even when not ready in time: it may still be waiting on a
        // dependency, and `reap` notices if it died.
        self.workers.push(proc);
        ready.map(|()| name)
    }

    pub async fn kill_api(&mut self) -> anyhow::Result<(String, u32)> {
        let proc = self.api.take().context("the API is not running")?;
        self.kill(proc).await
    }

    pub async fn kill_worker(&mut self, index: usize) -> anyhow::Result<(String, u32)> {
        if index >= self.workers.len() {
            bail!("there is no worker #{index}");
        }
        let proc = self.workers.remove(index);
        self.kill(proc).await
    }

    async fn kill(&self, mut proc: Proc) -> anyhow::Result<(String, u32)> {
        proc.child.start_kill().with_context(|| format!("kill -9 {}", proc.name))?;
        proc.child.wait().await?;
        forget_pid(&self.dir, &proc.name);
        Ok((proc.name, proc.pid))
    }

    /// Notices processes that exited on their own (an engine process that
    /// dies under a fault is a finding) and starts a replacement, so the
    /// run can still settle. wa-sim cannot be replaced: its log is the truth.
    pub async fn reap(&mut self) -> anyhow::Result<()> {
        let mut dead = Vec::new();
        let mut i = 0;
        while i < self.workers.len() {
            if let Some(status) = self.workers[i].child.try_wait()? {
                dead.push((self.workers.remove(i), status));
            } else {
                i += 1;
            }
        }
        let api_died = match self.api.as_mut().map(|p| p.child.try_wait()).transpose()? {
            Some(Some(status)) => {
                dead.push((self.api.take().context("the API")?, status));
                true
            }
            _ => false,
        };
        if let Some(sim) = self.sim.as_mut()
            && let Some(status) = sim.child.try_wait()?
        {
            bail!("wa-sim exited with {status}; see {}", sim.log.display());
        }
        for (proc, status) in &dead {
            let line = format!("{} (pid {}) exited by itself with {status}", proc.name, proc.pid);
            eprintln!("chaos: {line}; the end of {}:\n{}", proc.log.display(), tail(&proc.log, 5));
            forget_pid(&self.dir, &proc.name);
            self.unexpected_exits.push(line);
        }
        if api_died {
            self.start_api().await?;
        }
        for _ in dead.iter().filter(|(p, _)| p.name.starts_with("worker.")) {
            if let Err(e) = self.start_worker().await {
                eprintln!("chaos: a replacement worker is not ready: {e:#}");
            }
        }
        Ok(())
    }

    /// SIGTERM to everything (a clean stop keeps the logs whole), then
    /// SIGKILL to what is left after 10 s.
    pub async fn teardown(&mut self) {
        let mut procs: Vec<Proc> = self.workers.drain(..).collect();
        procs.extend(self.api.take());
        procs.extend(self.sim.take());
        for proc in &procs {
            let _ = super::stack::signal(proc.pid, "TERM").await;
        }
        for mut proc in procs {
            if tokio::time::timeout(Duration::from_secs(10), proc.child.wait()).await.is_err() {
                let _ = proc.child.start_kill();
                let _ = proc.child.wait().await;
            }
            forget_pid(&self.dir, &proc.name);
        }
    }
}
