//! The worker's configuration, from environment variables (or flags).

use std::net::SocketAddr;

use process::{ConnectionArgs, Secret, telemetry::LogFormat};

#[derive(Debug, Clone, clap::Parser)]
#[command(name = "campaigns-worker", about = "The campaign engine's background worker", version)]
pub struct WorkerConfig {
    #[command(flatten)]
    pub connections: ConnectionArgs,
    /// Address of the health/metrics server.
    #[arg(long, env = "WORKER_ADDR", default_value = "127.0.0.1:9100")]
    pub addr: SocketAddr,
    /// `pretty` or `json`.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "pretty")]
    pub log_format: LogFormat,
    /// Which queues this process consumes, comma-separated.
    #[arg(
        long,
        env = "WORKER_QUEUES",
        value_delimiter = ',',
        default_value = "launch,send,status,reply,report,scheduler"
    )]
    pub queues: Vec<String>,
    /// The key the API encrypts access tokens with (base64 of 32 bytes); the
    /// send queue needs it to use a number's token.
    #[arg(long, env = "APP_ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<Secret>,
    /// The Cloud API's base URL (a wa-sim URL in development).
    #[arg(long, env = "WHATSAPP_API_URL", default_value = "https://graph.facebook.com")]
    pub whatsapp_api_url: String,
    /// The Graph API version.
    #[arg(long, env = "WHATSAPP_API_VERSION", default_value = "v23.0")]
    pub whatsapp_api_version: String,
    /// The most sends this process runs at once: it also bounds the send
    /// tasks the process takes from the queue, and so what its death orphans.
    #[arg(long, env = "SEND_CONCURRENCY", default_value_t = workers::pipeline::DEFAULT_SEND_CONCURRENCY,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    pub send_concurrency: usize,
    /// The most recipients one campaign may have queued or being sent at once,
    /// whatever its pace (1 to 5000: the apalis-redis queue wedges from ~8,000 due tasks).
    #[arg(long, env = "SEND_WINDOW_MAX", default_value_t = workers::pipeline::DEFAULT_WINDOW_MAX,
          value_parser = clap::value_parser!(i64).range(1..=workers::pipeline::WINDOW_MAX_LIMIT))]
    pub send_window_max: i64,
    /// Days a dead letter is kept (launch, send, report and status queues;
    /// a dead reply is the contact's message and is kept).
    #[arg(long, env = "DEAD_LETTER_RETENTION_DAYS", default_value_t = 14,
          value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub dead_letter_retention_days: u64,
    /// Seconds of the messaging-limit window the engine budgets in: Meta's
    /// moving 24 hours plus a 5-minute margin; shorter only to compress the
    /// day in tests and benchmarks against wa-sim. Give the API the same value.
    #[arg(long, env = "MESSAGING_LIMIT_WINDOW_SECS", default_value_t = domain::messaging_limit::DEFAULT_WINDOW_SECS,
          value_parser = clap::value_parser!(u64).range(5..=604_800))]
    pub messaging_limit_window_secs: u64,
    /// Seconds between two reads of each number's messaging tier from Meta
    /// (a `business_capability_update` webhook makes it read at once).
    #[arg(long, env = "TIER_REFRESH_SECS", default_value_t = 3_600,
          value_parser = clap::value_parser!(u64).range(5..=604_800))]
    pub tier_refresh_secs: u64,
    /// Seconds of replies reply-aware pacing measures a campaign's reply rate over.
    #[arg(long, env = "REPLY_PACING_WINDOW_SECS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(5..=86_400))]
    pub reply_pacing_window_secs: u64,
    /// Seconds after which a send still in doubt (no status, no evidence) is
    /// settled by its campaign's delivery policy. The evidence needs later
    /// sends of the same number, so the last sends of a campaign usually wait
    /// for this.
    #[arg(long, env = "IN_DOUBT_RECONCILE_SECS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(30..=86_400))]
    pub in_doubt_reconcile_secs: u64,
    /// Status consumers in this process; each claims and applies batches of stored webhooks.
    #[arg(long, env = "STATUS_CONCURRENCY", default_value_t = 2)]
    pub status_concurrency: usize,
    /// Prepended to every queue and limiter key: lets several deployments share one Redis.
    #[arg(long, env = "QUEUE_PREFIX", default_value = "")]
    pub queue_prefix: String,
    /// Seconds between two reads of the queue and campaign gauges exported on `/metrics`.
    #[arg(long, env = "METRICS_INTERVAL", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..=60))]
    pub metrics_interval: u64,
    /// Let bot flows be called on loopback, private, link-local and other
    /// non-public addresses (self-hosted bots on a private network). Off: only
    /// public unicast addresses are called. Redirects are never followed either way.
    #[arg(long, env = "BOT_EGRESS_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub bot_egress_allow_private: bool,
}

impl WorkerConfig {
    pub fn runs(&self, queue: &str) -> bool {
        self.queues.iter().any(|q| q == queue)
    }
}

/// This machine's (or container's) host name.
pub fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_owned()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned())
}

/// A name unique to this process start: `{host}-{boot id}`. Queue backends
/// use it to own in-flight work; reusing a name across starts would break
/// their crash recovery.
pub fn process_name(host: &str) -> String {
    let boot = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}", &boot[..12])
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_process_start_gets_a_new_name() {
        let (a, b) = (super::process_name("box-1"), super::process_name("box-1"));
        assert_ne!(a, b);
        let (host_a, boot) = a.rsplit_once('-').unwrap();
        assert_eq!(host_a, "box-1");
        assert_eq!(b.rsplit_once('-').unwrap().0, "box-1", "the host part is stable");
        assert_eq!(boot.len(), 12);
    }
}
