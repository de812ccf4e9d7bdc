//! The API's configuration, from environment variables (or flags) with
//! local-development defaults. Secrets are [`process::Secret`]s: never printed.

use std::net::SocketAddr;

use process::{ConnectionArgs, Secret, telemetry::LogFormat};

use crate::state::{Limits, Settings};

#[derive(Debug, Clone, clap::Parser)]
#[command(name = "campaigns-api", about = "The campaign engine's HTTP API", version)]
pub struct ApiConfig {
    #[command(flatten)]
    pub connections: ConnectionArgs,
    /// Address to listen on.
    #[arg(long, env = "API_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Where `/metrics` (and `/healthz`, `/readyz`) are served for Prometheus:
    /// a listener of its own, loopback by default, since the metrics name
    /// every organization's campaigns.
    #[arg(long, env = "METRICS_ADDR", default_value = "127.0.0.1:9101")]
    pub metrics_addr: SocketAddr,
    /// Base64 of 32 random bytes; encrypts access tokens and secrets at rest.
    /// Generate one with `openssl rand -base64 32` and keep it.
    #[arg(long, env = "APP_ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Secret,
    /// `pretty` or `json`.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "pretty")]
    pub log_format: LogFormat,
    /// Apply pending database migrations at start (safe with several replicas).
    #[arg(long, env = "RUN_MIGRATIONS", default_value_t = true, action = clap::ArgAction::Set)]
    pub run_migrations: bool,
    /// Most bytes in a CSV contact import.
    #[arg(long, env = "CONTACTS_IMPORT_MAX_BYTES", default_value_t = Limits::default().csv_import_bytes)]
    pub csv_import_max_bytes: u64,
    /// Most CSV imports running at once; each holds a database connection.
    #[arg(long, env = "CONTACTS_IMPORT_CONCURRENCY", default_value_t = Limits::default().concurrent_imports)]
    pub csv_import_concurrency: usize,
    /// The Cloud API's base URL (a wa-sim URL in development).
    #[arg(long, env = "WHATSAPP_API_URL", default_value = "https://graph.facebook.com")]
    pub whatsapp_api_url: String,
    /// The Graph API version, pinned so payload shapes do not change under us.
    #[arg(long, env = "WHATSAPP_API_VERSION", default_value = "v23.0")]
    pub whatsapp_api_version: String,
    /// Contacts per second of "launch now" when a campaign sets no pace of its own.
    #[arg(long, env = "LAUNCH_PACE_PER_SECOND", default_value_t = Settings::default().launch_pace_per_second,
          value_parser = pace)]
    pub launch_pace_per_second: f64,
    /// The token Meta's webhook subscription handshake (`GET /webhooks/whatsapp`)
    /// must present, as set in the Meta app's webhook settings. Unset: every
    /// handshake is refused (signed POSTs are still accepted).
    #[arg(long, env = "WEBHOOK_VERIFY_TOKEN", hide_env_values = true)]
    pub webhook_verify_token: Option<Secret>,
    /// The workers' `QUEUE_PREFIX`: where the queue gauges on `/metrics` are read and
    /// dead letters (`/v1/dead-letters`) are found.
    #[arg(long, env = "QUEUE_PREFIX", default_value = "")]
    pub queue_prefix: String,
    /// Seconds between two reads of the queue and campaign gauges exported on `/metrics`.
    #[arg(long, env = "METRICS_INTERVAL", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..=60))]
    pub metrics_interval: u64,
    /// Accept bot flows on loopback, private and other non-public literal
    /// addresses; set it as the reply workers' `BOT_EGRESS_ALLOW_PRIVATE`.
    #[arg(long, env = "BOT_EGRESS_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub bot_egress_allow_private: bool,
    /// Seconds of Meta's moving messaging-limit window, as the workers' (the
    /// statistics and the forecast read the budget with it).
    #[arg(long, env = "MESSAGING_LIMIT_WINDOW_SECS", default_value_t = domain::messaging_limit::DEFAULT_WINDOW_SECS,
          value_parser = clap::value_parser!(u64).range(5..=604_800))]
    pub messaging_limit_window_secs: u64,
}

impl ApiConfig {
    /// The Cloud API client's settings (timeouts stay at their defaults).
    pub fn cloud(&self) -> whatsapp::ClientConfig {
        whatsapp::ClientConfig {
            base_url: self.whatsapp_api_url.clone(),
            api_version: self.whatsapp_api_version.clone(),
            ..whatsapp::ClientConfig::default()
        }
    }

    pub fn settings(&self) -> Settings {
        Settings {
            launch_pace_per_second: self.launch_pace_per_second,
            allow_private_bot_targets: self.bot_egress_allow_private,
            messaging_window: std::time::Duration::from_secs(self.messaging_limit_window_secs),
        }
    }

    pub fn limits(&self) -> Limits {
        Limits {
            csv_import_bytes: self.csv_import_max_bytes,
            concurrent_imports: self.csv_import_concurrency.max(1),
            ..Limits::default()
        }
    }
}

fn pace(value: &str) -> Result<f64, String> {
    let pace: f64 = value.parse().map_err(|_| format!("{value:?} is not a number"))?;
    domain::campaign::check_pace_per_second(pace).map_err(|e| e.to_string())
}
