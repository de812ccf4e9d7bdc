//! Stand-ins for managed, TLS-only Postgres and Redis, for the TLS tests
//! (docs/operations.md, "Managed Postgres and Redis over TLS"):
//! certificates made now by `openssl` ([`Certs`]: a CA, a server certificate
//! for `localhost` and 127.0.0.1, one for another host), a Postgres cluster
//! of the test's own that accepts only TLS ([`TlsPostgres`]: `hostssl` with a
//! password, `hostnossl` rejected) and a redis-server on a TLS port only
//! ([`TlsRedis`]: an ACL user with a password, the default user off). Each
//! lives in a temporary directory of its own, on its own port, and is stopped
//! when dropped.

use std::{
    net::TcpListener,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The Postgres superuser's password: tests check that no message shows it.
pub const PG_PASSWORD: &str = "pg-secret-never-shown-7f3c";
/// The Redis ACL user.
pub const REDIS_USER: &str = "campaigns";
/// Its password: tests check that no message shows it.
pub const REDIS_PASSWORD: &str = "redis-secret-never-shown-41ad";
/// The host the "wrong host" certificate is for.
pub const WRONG_HOST: &str = "wrong-host.example";

/// How long a server may take to start.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// A directory under the system's temporary directory, removed on drop. Its
/// mode lets the `postgres` OS user traverse it when tests run as root.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(what: &str) -> Self {
        let path = std::env::temp_dir().join(format!("campaigns-{what}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).expect("a temporary directory");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(command: &mut Command) {
    let out = command.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Uid:")).map(|v| v.split_whitespace().next() == Some("0")))
        .unwrap_or(false)
}

/// A certificate and its key, PEM files.
#[derive(Debug, Clone)]
pub struct KeyPair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A test CA and the server certificates it signed, made with `openssl`
/// (EC P-256 keys: fast to make).
#[derive(Debug)]
pub struct Certs {
    dir: TempDir,
    /// The CA's certificate: what `DATABASE_CA_FILE` and `REDIS_CA_FILE` name.
    pub ca: PathBuf,
    /// For `localhost` and 127.0.0.1.
    pub server: KeyPair,
    /// For [`WRONG_HOST`] only.
    pub wrong_host: KeyPair,
}

impl Certs {
    pub fn new() -> Self {
        let dir = TempDir::new("tls-certs");
        let d = dir.path();
        let ca = d.join("ca.crt");
        let ca_key = d.join("ca.key");
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        run(Command::new("openssl")
            .args(["req", "-x509"])
            .args(ec)
            .arg("-keyout")
            .arg(&ca_key)
            .arg("-out")
            .arg(&ca)
            .args(["-days", "2", "-subj", "/CN=campaigns test CA"])
            .args([
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]));
        let issue = |name: &str, subject: &str, alt_names: &str| {
            let (key, csr, cert, ext) = (
                d.join(format!("{name}.key")),
                d.join(format!("{name}.csr")),
                d.join(format!("{name}.crt")),
                d.join(format!("{name}.ext")),
            );
            std::fs::write(
                &ext,
                format!(
                    "subjectAltName={alt_names}\nbasicConstraints=critical,CA:FALSE\n\
                     keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                ),
            )
            .expect("write the extensions");
            run(Command::new("openssl")
                .arg("req")
                .args(ec)
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&csr)
                .args(["-subj", &format!("/CN={subject}")]));
            run(Command::new("openssl")
                .args(["x509", "-req", "-in"])
                .arg(&csr)
                .arg("-CA")
                .arg(&ca)
                .arg("-CAkey")
                .arg(&ca_key)
                .args(["-CAcreateserial", "-days", "2", "-out"])
                .arg(&cert)
                .arg("-extfile")
                .arg(&ext));
            KeyPair { cert, key }
        };
        let server = issue("server", "localhost", "DNS:localhost,IP:127.0.0.1");
        let wrong_host = issue("wrong", WRONG_HOST, &format!("DNS:{WRONG_HOST}"));
        Self { dir, ca, server, wrong_host }
    }

    /// The directory holding them.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for Certs {
    fn default() -> Self {
        Self::new()
    }
}

/// Debian's newest Postgres binaries (or `PG_BINDIR`).
fn pg_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BINDIR") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("postgres").exists())
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).expect("Postgres binaries in /usr/lib/postgresql/*/bin (or PG_BINDIR)")
}

/// A Postgres cluster that takes only TLS connections (its pg_hba.conf:
/// `hostssl` with a password, `hostnossl` rejected), serving the
/// [`Certs::server`] certificate; the superuser `postgres` has
/// [`PG_PASSWORD`]. As root it runs as the `postgres` OS user.
#[derive(Debug)]
pub struct TlsPostgres {
    dir: TempDir,
    bin: PathBuf,
    data: PathBuf,
    pub port: u16,
    os_user: Option<&'static str>,
}

impl TlsPostgres {
    pub fn start(certs: &Certs) -> Self {
        let dir = TempDir::new("tls-pg");
        let (bin, data, log, port) = (pg_bin(), dir.path().join("data"), dir.path().join("pg.log"), free_port());
        let os_user = running_as_root().then_some("postgres");
        std::fs::create_dir(&data).expect("the data directory");
        std::fs::write(dir.path().join("pwfile"), PG_PASSWORD).expect("the password file");
        std::fs::File::create(&log).expect("the log");
        if let Some(user) = os_user {
            run(Command::new("chown").arg("-R").arg(format!("{user}:")).arg(dir.path()));
        }
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let pg = Self { dir, bin, data, port, os_user };
        run(pg
            .command("initdb")
            .arg("-D")
            .arg(&pg.data)
            .arg(format!("--pwfile={}", pg.dir.path().join("pwfile").display()))
            .args(["-U", "postgres", "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "-N"]));
        // The key files must belong to the server's user, readable by it only.
        for (from, to) in [
            (&certs.server.cert, "server.crt"),
            (&certs.server.key, "server.key"),
            (&certs.wrong_host.cert, "wrong.crt"),
            (&certs.wrong_host.key, "wrong.key"),
        ] {
            let target = pg.data.join(to);
            std::fs::copy(from, &target).expect("copy a certificate");
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            if let Some(user) = os_user {
                run(Command::new("chown").arg(format!("{user}:")).arg(&target));
            }
        }
        std::fs::write(
            pg.data.join("pg_hba.conf"),
            "hostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all all reject\n",
        )
        .expect("pg_hba.conf");
        let conf = pg.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("postgresql.conf");
        text.push_str(&format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = ''\n\
             ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n\
             fsync = off\nmax_connections = 30\nshared_buffers = 16MB\n"
        ));
        std::fs::write(&conf, text).expect("postgresql.conf");
        // The server must not hold pipes of ours open: its output goes to the log.
        let status = pg
            .command("pg_ctl")
            .arg("-D")
            .arg(&pg.data)
            .args(["-w", "-t", "30", "-l"])
            .arg(&log)
            .arg("start")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("pg_ctl start");
        assert!(status.success(), "Postgres did not start ({status}): {}", pg.log());
        pg
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = match self.os_user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        };
        command.current_dir("/");
        command
    }

    /// `postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres` with this `sslmode`.
    pub fn url(&self, sslmode: &str) -> String {
        self.url_for_host("127.0.0.1", sslmode)
    }

    pub fn url_for_host(&self, host: &str, sslmode: &str) -> String {
        format!("postgres://postgres:{PG_PASSWORD}@{host}:{}/postgres?sslmode={sslmode}", self.port)
    }

    /// Serves the [`Certs::wrong_host`] certificate from now on (a reload:
    /// new connections see it once the postmaster has read its configuration).
    pub fn serve_the_wrong_host_certificate(&self) {
        let auto = self.data.join("postgresql.auto.conf");
        let mut text = std::fs::read_to_string(&auto).unwrap_or_default();
        text.push_str("ssl_cert_file = 'wrong.crt'\nssl_key_file = 'wrong.key'\n");
        std::fs::write(&auto, text).expect("postgresql.auto.conf");
        run(self.command("pg_ctl").arg("-D").arg(&self.data).arg("reload"));
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pg.log")).unwrap_or_default()
    }
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A redis-server on a TLS port only (`port 0`), serving the
/// [`Certs::server`] certificate without asking clients for one; the default
/// user is off and [`REDIS_USER`] has [`REDIS_PASSWORD`].
#[derive(Debug)]
pub struct TlsRedis {
    dir: TempDir,
    child: Child,
    pub port: u16,
}

impl TlsRedis {
    pub fn start(certs: &Certs) -> Self {
        let dir = TempDir::new("tls-redis");
        let port = free_port();
        let conf = dir.path().join("redis.conf");
        std::fs::write(
            &conf,
            format!(
                "port 0\ntls-port {port}\nbind 127.0.0.1\ntls-cert-file {}\ntls-key-file {}\n\
                 tls-ca-cert-file {}\ntls-auth-clients no\nsave \"\"\nappendonly no\ndir {}\n\
                 logfile {}\nuser default off\nuser {REDIS_USER} on >{REDIS_PASSWORD} ~* &* +@all\n",
                certs.server.cert.display(),
                certs.server.key.display(),
                certs.ca.display(),
                dir.path().display(),
                dir.path().join("redis.log").display(),
            ),
        )
        .expect("redis.conf");
        let child = Command::new("redis-server")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (with TLS) on the PATH");
        let mut redis = Self { dir, child, port };
        let deadline = Instant::now() + START_DEADLINE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = redis.child.try_wait() {
                panic!("redis-server exited ({status}): {}", redis.log());
            }
            assert!(Instant::now() < deadline, "redis-server did not listen on {port}: {}", redis.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    /// `rediss://USER:PASSWORD@127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("rediss://{REDIS_USER}:{REDIS_PASSWORD}@127.0.0.1:{}", self.port)
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `url` until it answers 200; fails at once, with the log, if the
/// process exits first.
pub async fn wait_until_ready(child: &mut tokio::process::Child, url: &str, log: &Path) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + START_DEADLINE;
    let log = || std::fs::read_to_string(log).unwrap_or_default();
    loop {
        if http.get(url).send().await.is_ok_and(|answer| answer.status() == 200) {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the process exited ({status}) before {url} answered; its output:\n{}", log());
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer 200 within {START_DEADLINE:?}; the output:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `command`, which must refuse to start: it must exit (within 30 s)
/// with a failure. Returns what it wrote to stderr and to stdout.
pub async fn refused_at_start(command: &mut tokio::process::Command) -> (String, String) {
    command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let out = tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("it exits at once")
        .expect("the process runs");
    assert!(!out.status.success(), "it started: {out:?}");
    (String::from_utf8_lossy(&out.stderr).into_owned(), String::from_utf8_lossy(&out.stdout).into_owned())
}
