//! Settings and constructors for the Postgres pool and the Redis connection,
//! with TLS: `sslmode` in `DATABASE_URL` and `DATABASE_CA_FILE`, `rediss://`
//! in `REDIS_URL` and `REDIS_CA_FILE` (docs/operations.md, "Managed Postgres
//! and Redis over TLS"). Every process builds its connections here.

use std::{fmt, path::PathBuf, str::FromStr, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use sqlx::{
    ConnectOptions, Connection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions, PgSslMode},
};

pub use crate::connection_errors::ConnectionError;
use crate::connection_errors::{CaSource, PostgresContext, Redactor, RedisContext, read_ca_file};

/// How long connecting (TCP, TLS and login) and a command may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A configuration value that must never be printed: `Debug` shows
/// `[redacted]` and there is no `Display`. Parsed from the environment by clap.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

/// Where Postgres and Redis are. URLs can hold passwords, so they are secrets.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionArgs {
    /// Postgres URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://campaigns:campaigns@127.0.0.1:55432/campaigns",
        hide_default_value = true,
        hide_env_values = true
    )]
    pub database_url: Secret,
    /// PEM file of the CA that signs Postgres's server certificate (a private
    /// or cloud provider's CA); needs `sslmode=verify-full` (or `verify-ca`)
    /// in `DATABASE_URL`. Unset: the public web roots, or `sslrootcert=` in
    /// the URL.
    #[arg(long, env = "DATABASE_CA_FILE")]
    pub database_ca_file: Option<PathBuf>,
    /// Most Postgres connections this process opens.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 20)]
    pub database_max_connections: u32,
    /// Redis URL.
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:56379",
        hide_default_value = true,
        hide_env_values = true
    )]
    pub redis_url: Secret,
    /// PEM file of the CA that signs Redis's server certificate, for a
    /// `rediss://` `REDIS_URL`. Unset: the public web roots.
    #[arg(long, env = "REDIS_CA_FILE")]
    pub redis_ca_file: Option<PathBuf>,
}

impl ConnectionArgs {
    /// These URLs, with the CA files the environment names
    /// (`DATABASE_CA_FILE`, `REDIS_CA_FILE`) and the default pool size.
    fn from_env_with(database_url: &str, redis_url: &str) -> Self {
        let path = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        Self {
            database_url: Secret::new(database_url),
            database_ca_file: path("DATABASE_CA_FILE"),
            database_max_connections: 20,
            redis_url: Secret::new(redis_url),
            redis_ca_file: path("REDIS_CA_FILE"),
        }
    }

    /// Postgres's connection options: `DATABASE_URL` (its `sslmode`,
    /// `sslrootcert`, …) with `DATABASE_CA_FILE`'s certificates as the trusted
    /// roots. As in libpq, `sslmode=require` with a CA verifies the chain
    /// (`verify-ca`); a CA file with a mode that never verifies is refused.
    pub fn pg_connect_options(&self) -> Result<PgConnectOptions, ConnectionError> {
        install_crypto_provider();
        let url = self.database_url.expose();
        let mut options: PgConnectOptions = url.parse().map_err(|e| {
            ConnectionError::misconfigured(
                Redactor::of_url(url).apply(&format!("DATABASE_URL is not a valid Postgres URL: {e}")),
            )
        })?;
        if let Some(path) = &self.database_ca_file {
            options = options.ssl_root_cert_from_pem(read_ca_file("DATABASE_CA_FILE", path)?);
        }
        let mode = options.get_ssl_mode();
        match mode {
            PgSslMode::Require if self.database_ca_file.is_some() || url_root_cert(url).is_some() => {
                options = options.ssl_mode(PgSslMode::VerifyCa);
            }
            PgSslMode::Disable | PgSslMode::Allow | PgSslMode::Prefer if self.database_ca_file.is_some() => {
                return Err(ConnectionError::misconfigured(format!(
                    "DATABASE_CA_FILE is set, but DATABASE_URL has sslmode={} (prefer is the default when it sets \
                     none), which never checks the server's certificate and may not use TLS at all: add \
                     sslmode=verify-full to DATABASE_URL",
                    ssl_mode_name(mode)
                )));
            }
            _ => {}
        }
        Ok(options)
    }

    fn postgres_context(&self, options: &PgConnectOptions) -> PostgresContext {
        let url = self.database_url.expose();
        let ca = match (&self.database_ca_file, url_root_cert(url)) {
            (Some(path), _) => CaSource::File(path.display().to_string()),
            (None, Some(path)) => CaSource::InUrl(path),
            (None, None) => CaSource::NotSet,
        };
        let host = match options.get_socket() {
            Some(socket) => socket.display().to_string(),
            None => options.get_host().to_owned(),
        };
        PostgresContext {
            described: format!(
                "postgres://{}@{host}:{}/{}",
                options.get_username(),
                options.get_port(),
                options.get_database().unwrap_or_default()
            ),
            host,
            user: options.get_username().to_owned(),
            ssl_mode: ssl_mode_name(options.get_ssl_mode()),
            ca,
            redactor: Redactor::of_url(url),
        }
    }

    /// A lazily connecting pool: connections are opened on first use and
    /// re-opened after Postgres restarts; `/readyz` reports an outage.
    pub fn pg_pool(&self) -> anyhow::Result<PgPool> {
        let options = PgPoolOptions::new().max_connections(self.database_max_connections).acquire_timeout(TIMEOUT);
        Ok(options.connect_lazy_with(self.pg_connect_options()?))
    }

    /// Opens one Postgres connection now (TCP, TLS, login) and closes it:
    /// what is wrong, if anything, in words that name the setting.
    pub async fn check_postgres(&self) -> Result<(), ConnectionError> {
        let options = self.pg_connect_options()?;
        let result = match tokio::time::timeout(TIMEOUT, options.connect()).await {
            Ok(result) => result,
            Err(_) => Err(sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer within 5 s"))),
        };
        match result {
            Ok(connection) => {
                let _ = connection.close().await;
                Ok(())
            }
            Err(e) => Err(self.postgres_context(&options).explain(&e)),
        }
    }

    /// [`Self::check_postgres`] at the start of a long-running process: a
    /// wrong setting is an error (the process stops and says why); a server
    /// that cannot be reached yet is logged, and the lazy pool connects when
    /// it can, as before.
    pub async fn check_postgres_at_start(&self) -> anyhow::Result<()> {
        match self.check_postgres().await {
            Err(e) if e.is_misconfiguration() => Err(e.into()),
            Err(e) => {
                tracing::warn!(error = %e, "Postgres cannot be reached yet; the pool connects when it can");
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    /// A Postgres error explained, naming `DATABASE_URL` (without its
    /// password) and `DATABASE_CA_FILE`.
    pub fn postgres_error(&self, err: &sqlx::Error) -> ConnectionError {
        match self.pg_connect_options() {
            Ok(options) => self.postgres_context(&options).explain(err),
            Err(e) => e,
        }
    }

    fn redis_context(&self) -> RedisContext {
        let ca = self.redis_ca_file.as_ref().map_or(CaSource::NotSet, |p| CaSource::File(p.display().to_string()));
        RedisContext::new(self.redis_url.expose(), ca)
    }

    /// The Redis client: `REDIS_URL` (`rediss://` for TLS; an ACL user as
    /// `rediss://user:password@host:port`) with `REDIS_CA_FILE`'s
    /// certificates as the only trusted roots. The one way every process
    /// (and the queues' `queue::connect_client`) builds it.
    pub fn redis_client(&self) -> Result<redis::Client, ConnectionError> {
        let url = self.redis_url.expose();
        let context = self.redis_context();
        install_crypto_provider();
        let client = match &self.redis_ca_file {
            None => redis::Client::open(url),
            Some(_) if !context.tls => {
                return Err(
                    context.misconfigured("REDIS_CA_FILE is set, but REDIS_URL is redis:// (no TLS): use rediss://")
                );
            }
            Some(path) => {
                let root_cert = read_ca_file("REDIS_CA_FILE", path)?;
                redis::Client::build_with_tls(
                    url,
                    redis::TlsCertificates { client_tls: None, root_cert: Some(root_cert) },
                )
            }
        };
        client.map_err(|e| context.explain(&e))
    }

    /// One Redis connection now and a `PING`: what is wrong, if anything, in
    /// words that name the setting.
    pub async fn check_redis(&self) -> Result<(), ConnectionError> {
        ping_once(&self.redis_client()?).await.map_err(|e| self.redis_error(&e))
    }

    /// A reconnecting Redis connection with explicit timeouts (redis-rs's
    /// 500 ms default response timeout is too short under load). A wrong
    /// setting (TLS, CA, user or password) fails at once, explained; an
    /// unreachable server is retried by the manager first.
    pub async fn redis(&self) -> anyhow::Result<redis::aio::ConnectionManager> {
        let client = self.redis_client()?;
        if let Err(e) = ping_once(&client).await {
            let explained = self.redis_error(&e);
            if explained.is_misconfiguration() {
                return Err(explained.into());
            }
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT));
        redis::aio::ConnectionManager::new_with_config(client, config).await.map_err(|e| self.redis_error(&e).into())
    }

    /// A Redis error explained, naming `REDIS_URL` (without its password)
    /// and `REDIS_CA_FILE`.
    pub fn redis_error(&self, err: &redis::RedisError) -> ConnectionError {
        self.redis_context().explain(err)
    }
}

async fn ping_once(client: &redis::Client) -> redis::RedisResult<()> {
    let config =
        redis::AsyncConnectionConfig::new().set_connection_timeout(Some(TIMEOUT)).set_response_timeout(Some(TIMEOUT));
    let mut connection = client.get_multiplexed_async_connection_with_config(&config).await?;
    redis::cmd("PING").query_async::<()>(&mut connection).await
}

/// Postgres for a tool that takes the URL as an argument of its own (the
/// benchmarks), as the engine's processes reach it (`DATABASE_CA_FILE` from
/// the environment): a pool, with one connection checked now.
pub async fn connect_postgres_url(url: &str) -> anyhow::Result<PgPool> {
    let connections = ConnectionArgs::from_env_with(url, "");
    connections.check_postgres().await?;
    connections.pg_pool()
}

/// Redis likewise (`REDIS_CA_FILE` from the environment): one multiplexed
/// connection.
pub async fn connect_redis_url(url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let connections = ConnectionArgs::from_env_with("", url);
    let client = connections.redis_client()?;
    Ok(client.get_multiplexed_async_connection().await.map_err(|e| connections.redis_error(&e))?)
}

/// Makes ring rustls's process-wide crypto provider, unless one is already:
/// redis's TLS and sqlx's `verify-ca` take the process's provider, and a
/// build with two compiled in (ring, and aws-lc-rs that a test dependency
/// brings) has none until one is chosen.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `sslrootcert=` (or a synonym sqlx accepts) in a Postgres URL.
fn url_root_cert(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    parsed
        .query_pairs()
        .find(|(k, _)| matches!(&**k, "sslrootcert" | "ssl-root-cert" | "ssl-ca"))
        .map(|(_, v)| v.into_owned())
}

fn ssl_mode_name(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}
