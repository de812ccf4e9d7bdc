//! Settings and constructors for the Postgres pool and the Redis connection.

use std::{fmt, str::FromStr, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use sqlx::{PgPool, postgres::PgPoolOptions};

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
}

impl ConnectionArgs {
    /// A lazily connecting pool: connections are opened on first use and
    /// re-opened after Postgres restarts; `/readyz` reports an outage.
    pub fn pg_pool(&self) -> anyhow::Result<PgPool> {
        let options =
            PgPoolOptions::new().max_connections(self.database_max_connections).acquire_timeout(Duration::from_secs(5));
        Ok(options.connect_lazy(self.database_url.expose())?)
    }

    /// A reconnecting Redis connection with explicit timeouts (redis-rs's
    /// 500 ms default response timeout is too short under load).
    pub async fn redis(&self) -> anyhow::Result<redis::aio::ConnectionManager> {
        let client = redis::Client::open(self.redis_url.expose())?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)));
        Ok(redis::aio::ConnectionManager::new_with_config(client, config).await?)
    }
}
