//! The chaos run's own Postgres and Redis, on loopback ports of their own
//! with their data under the run's directory, apart from the dev services
//! of `scripts/services` so nothing else is disturbed.
//!
//! Postgres keeps production durability (`fsync`, `synchronous_commit`,
//! `full_page_writes` on; the dev cluster has them off): only then does a
//! crash prove that nothing acknowledged is lost. Both can be stopped,
//! crashed and started again by the fault injector.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// A port nothing listens on right now (the OS picks it).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Uid:")).map(|v| v.split_whitespace().next() == Some("0")))
        .unwrap_or(false)
}

/// Where `scripts/chaos` looks for what is still running if this process
/// dies before its own teardown (its trap stops those pids).
pub fn write_pid(dir: &Path, name: &str, pid: u32) {
    let pids = dir.join("pids");
    let _ = std::fs::create_dir_all(&pids);
    let _ = std::fs::write(pids.join(format!("{name}.pid")), pid.to_string());
}

pub fn forget_pid(dir: &Path, name: &str) {
    let _ = std::fs::remove_file(dir.join("pids").join(format!("{name}.pid")));
}

/// Signals a process that is not our child (the postmaster, its backends).
/// Through kill(1): the workspace forbids the unsafe code a libc call needs.
pub async fn signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .context("running kill")?;
    if !status.success() {
        bail!("kill -{signal} {pid} failed ({status})");
    }
    Ok(())
}

/// A live process, not a zombie waiting for its parent.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

/// The last `n` lines of a log, for error messages.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    pub port: u16,
    /// Postgres refuses to run as root; as root its commands run as this user.
    os_user: Option<&'static str>,
}

impl Postgres {
    pub fn new(bin: PathBuf, dir: &Path, port: u16) -> Self {
        Self {
            bin,
            data: dir.join("pg"),
            log: dir.join("pg.log"),
            port,
            os_user: running_as_root().then_some("postgres"),
        }
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut cmd = match self.os_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        };
        // pg_ctl's server must not hold our pipes open: its output goes to the log.
        cmd.current_dir("/").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        cmd
    }

    async fn pg_ctl(&self, args: &[&str]) -> anyhow::Result<()> {
        let status = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(args)
            .status()
            .await
            .with_context(|| format!("running {}", self.bin.join("pg_ctl").display()))?;
        if !status.success() {
            bail!(
                "pg_ctl {} failed ({status}); the end of {}:\n{}",
                args.join(" "),
                self.log.display(),
                tail(&self.log, 20)
            );
        }
        Ok(())
    }

    /// Initialises the cluster once (kept between runs; the database is
    /// made again each run) and writes its configuration.
    pub async fn prepare(&self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.data)?;
        std::fs::File::create(&self.log).context("creating the Postgres log")?;
        if let Some(user) = self.os_user {
            let status =
                Command::new("chown").arg("-R").arg(format!("{user}:")).arg(&self.data).arg(&self.log).status().await?;
            if !status.success() {
                bail!("chown of {} to {user} failed (does the user exist?)", self.data.display());
            }
        }
        std::fs::set_permissions(&self.data, std::fs::Permissions::from_mode(0o700))?;
        if self.postmaster_pid().is_some() {
            // Left by a run that was killed before its teardown.
            self.pg_ctl(&["stop", "-m", "immediate", "-w"]).await?;
        }
        if !self.data.join("PG_VERSION").exists() {
            let status = self
                .command("initdb")
                .arg("-D")
                .arg(&self.data)
                .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"])
                .status()
                .await
                .context("running initdb")?;
            if !status.success() {
                bail!("initdb {} failed ({status})", self.data.display());
            }
        }
        let conf = format!(
            "# Written by campaigns-bench chaos on every run.\n\
             listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = ''\nmax_connections = 300\n\
             shared_buffers = 256MB\nmax_wal_size = 2GB\n\
             fsync = on\nsynchronous_commit = on\nfull_page_writes = on\n",
            self.port
        );
        std::fs::write(self.data.join("chaos.conf"), conf)?;
        let main = self.data.join("postgresql.conf");
        let text = std::fs::read_to_string(&main).context("reading postgresql.conf")?;
        if !text.contains("include_if_exists = 'chaos.conf'") {
            std::fs::write(&main, format!("{text}\ninclude_if_exists = 'chaos.conf'\n"))?;
        }
        Ok(())
    }

    /// Starts the server (crash recovery first when it was killed).
    pub async fn start(&self) -> anyhow::Result<()> {
        self.wait_for_orphans().await?;
        let log = self.log.to_string_lossy().into_owned();
        self.pg_ctl(&["start", "-w", "-t", "300", "-l", &log]).await
    }

    pub async fn restart_fast(&self) -> anyhow::Result<()> {
        let log = self.log.to_string_lossy().into_owned();
        self.pg_ctl(&["restart", "-m", "fast", "-w", "-t", "300", "-l", &log]).await
    }

    /// `kill -9` of the postmaster; returns its pid once it is gone.
    pub async fn crash(&self) -> anyhow::Result<u32> {
        let pid = self.postmaster_pid().context("no postmaster is running")?;
        signal(pid, "KILL").await?;
        // Postgres takes a zombie for a live postmaster (kill(pid, 0)
        // succeeds) and refuses to start until init has reaped it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{pid}")).exists() {
            if Instant::now() > deadline {
                if alive(pid) {
                    bail!("the postmaster {pid} is still alive 10 s after kill -9");
                }
                // Never reaped: the lock file names only a corpse.
                std::fs::remove_file(self.data.join("postmaster.pid")).context("removing a stale postmaster.pid")?;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(pid)
    }

    pub async fn stop(&self) {
        if self.postmaster_pid().is_none() {
            return;
        }
        if let Err(e) = self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"]).await {
            eprintln!("stopping Postgres: {e:#}; stopping it immediately");
            let _ = self.pg_ctl(&["stop", "-m", "immediate", "-w", "-t", "60"]).await;
        }
    }

    /// The running postmaster serving this data directory (not a stale
    /// pid file naming a reused pid).
    pub fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        let pid: u32 = text.lines().next()?.trim().parse().ok()?;
        (alive(pid) && self.serves_data(pid)).then_some(pid)
    }

    fn serves_data(&self, pid: u32) -> bool {
        let data = std::fs::canonicalize(&self.data).unwrap_or_else(|_| self.data.clone());
        std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == data)
    }

    /// Backends of a killed postmaster keep its shared memory until they
    /// notice and exit; a new postmaster refuses to start before that.
    async fn wait_for_orphans(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let orphans: Vec<u32> = std::fs::read_dir("/proc")?
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .filter(|&pid| self.serves_data(pid))
                .collect();
            if orphans.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                eprintln!("killing Postgres processes left by the crash: {orphans:?}");
                for pid in orphans {
                    let _ = signal(pid, "KILL").await;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Redis without persistence (as the dev one): a restart loses everything,
/// which the engine must survive (Postgres is the truth).
#[derive(Debug)]
pub struct Redis {
    dir: PathBuf,
    run_dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl Redis {
    pub fn new(run_dir: &Path, port: u16) -> Self {
        Self { dir: run_dir.join("redis"), run_dir: run_dir.to_owned(), port, child: None }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub async fn start(&mut self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let conf = self.dir.join("redis.conf");
        std::fs::write(
            &conf,
            format!(
                "bind 127.0.0.1\nport {}\nprotected-mode yes\ndaemonize no\nlogfile {}\ndir {}\nsave \"\"\nappendonly no\n",
                self.port,
                self.run_dir.join("redis.log").display(),
                self.dir.display()
            ),
        )?;
        let mut child = Command::new("redis-server")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting redis-server")?;
        write_pid(&self.run_dir, "redis", child.id().unwrap_or_default());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut conn) = self.connect().await
                && redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok()
            {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "redis-server exited with {status}; the end of its log:\n{}",
                    tail(&self.run_dir.join("redis.log"), 10)
                );
            }
            if Instant::now() > deadline {
                bail!("Redis did not answer PING within 30 s on port {}", self.port);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.child = Some(child);
        Ok(())
    }

    /// `SHUTDOWN NOSAVE`, then waits for the process to exit.
    /// False once the process exited (or was never started).
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        if let Ok(mut conn) = self.connect().await {
            // The server closes the connection instead of answering.
            let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query_async::<()>(&mut conn).await;
        }
        if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
            child.start_kill()?;
            child.wait().await?;
        }
        forget_pid(&self.run_dir, "redis");
        Ok(())
    }

    pub async fn connect(&self) -> anyhow::Result<redis::aio::MultiplexedConnection> {
        let client = redis::Client::open(self.url())?;
        tokio::time::timeout(Duration::from_secs(2), client.get_multiplexed_async_connection())
            .await
            .context("connecting to Redis timed out")?
            .context("connecting to Redis")
    }

    pub async fn flushall(&self) -> anyhow::Result<()> {
        let mut conn = self.connect().await?;
        redis::cmd("FLUSHALL").query_async::<()>(&mut conn).await.context("FLUSHALL")
    }

    pub async fn used_memory(&self) -> anyhow::Result<u64> {
        crate::throughput::used_memory(&mut self.connect().await?).await
    }
}
