//! The simulator's configuration: business numbers, templates, limits and
//! webhook behaviour. Read from TOML or JSON, or built in code by tests.
//!
//! Every section has defaults that mirror Meta's documented numbers, so a
//! config only needs the numbers and templates.

use std::{net::SocketAddr, path::Path, time::Duration};

use serde::{Deserialize, Serialize};

pub use crate::faults::FaultsConfig;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `127.0.0.1:0` picks a free port; [`crate::Simulator::addr`] tells which.
    pub listen: SocketAddr,
    pub numbers: Vec<NumberConfig>,
    /// Templates per WhatsApp Business Account.
    pub wabas: Vec<WabaConfig>,
    pub limits: LimitsConfig,
    pub webhook: WebhookConfig,
    /// Answer `held_for_quality_assessment` instead of `accepted`, as Meta
    /// does for templates being paced.
    pub hold_for_quality_assessment: bool,
    pub faults: FaultsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            numbers: Vec::new(),
            wabas: Vec::new(),
            limits: LimitsConfig::default(),
            webhook: WebhookConfig::default(),
            hold_for_quality_assessment: false,
            faults: FaultsConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("could not read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid TOML config")]
    Toml(#[from] toml::de::Error),
    #[error("invalid JSON config")]
    Json(#[from] serde_json::Error),
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads a `.json` file as JSON and anything else as TOML.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        let config: Self = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text)?
        } else {
            toml::from_str(&text)?
        };
        config.validate()?;
        Ok(config)
    }

    /// What serde cannot check: every `messaging_limit_tier` is a tier name.
    /// [`crate::Simulator::start`] checks it too.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for number in &self.numbers {
            if crate::portfolio::tier_limit(&number.messaging_limit_tier).is_none() {
                return Err(ConfigError::Invalid(format!(
                    "number {}: messaging_limit_tier {:?} is not one of {}",
                    number.phone_number_id,
                    number.messaging_limit_tier,
                    crate::portfolio::TIERS.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// One registered business phone number.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberConfig {
    pub phone_number_id: String,
    /// Digits without `+`, as Meta puts it in webhook metadata.
    pub display_phone_number: String,
    pub waba_id: String,
    pub access_token: String,
    /// Signs this number's webhooks.
    pub app_secret: String,
    /// Messages per second; Meta's default is 80. Reported as throughput
    /// level `STANDARD` up to 80, `HIGH` above.
    #[serde(default = "default_throughput")]
    pub throughput_per_second: f64,
    /// The display name Meta approved, reported as `verified_name`.
    #[serde(default = "default_verified_name")]
    pub verified_name: String,
    /// `GREEN`, `YELLOW`, `RED` or `UNKNOWN`, reported as `quality_rating`.
    #[serde(default = "default_quality_rating")]
    pub quality_rating: String,
    /// The starting messaging-limit tier of the number's business portfolio:
    /// `TIER_250`, `TIER_1K` (legacy, 1,000), `TIER_2K`, `TIER_10K`,
    /// `TIER_100K` or `TIER_UNLIMITED`. Enforced per portfolio, not per
    /// number: the portfolio's first configured number sets it, every number
    /// of the portfolio reports the portfolio's current tier as
    /// `whatsapp_business_manager_messaging_limit`, and it can change at run
    /// time (see [`crate::portfolio`] and `limits.messaging_window_ms`).
    /// `TIER_10K` by default: a portfolio past its first tiers, as a campaign
    /// sender's usually is.
    #[serde(default = "default_messaging_limit_tier")]
    pub messaging_limit_tier: String,
}

fn default_throughput() -> f64 {
    80.0
}

fn default_verified_name() -> String {
    "Simulated Business".to_owned()
}

fn default_quality_rating() -> String {
    "GREEN".to_owned()
}

fn default_messaging_limit_tier() -> String {
    "TIER_10K".to_owned()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WabaConfig {
    pub waba_id: String,
    /// The business portfolio that owns the WABA, reported as
    /// `owner_business_info.id`; the numbers of all its WABAs share one
    /// messaging limit. Absent (and for a number whose WABA is not listed
    /// here): `"9"` followed by the WABA id, a numeric-looking id of a
    /// portfolio of its own ([`crate::portfolio::default_business_id`]).
    #[serde(default)]
    pub business_id: Option<String>,
    /// The portfolio's name, reported as `owner_business_info.name` and the
    /// WABA's `name`; the first one given among a portfolio's WABAs counts.
    /// Absent: `"Simulated Business Portfolio"`.
    #[serde(default)]
    pub business_name: Option<String>,
    #[serde(default)]
    pub templates: Vec<TemplateConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    pub name: String,
    pub language: String,
    #[serde(default = "approved")]
    pub status: String,
    #[serde(default = "marketing")]
    pub category: String,
    #[serde(default)]
    pub parameter_format: ParameterFormat,
    /// `TEXT`, `IMAGE`, `VIDEO` or `DOCUMENT`; no header when absent.
    #[serde(default)]
    pub header_format: Option<HeaderFormat>,
    /// The header text for `TEXT` headers (may hold one placeholder).
    #[serde(default)]
    pub header_text: Option<String>,
    /// With `{{1}}` or `{{name}}` placeholders, per `parameter_format`.
    pub body: String,
    #[serde(default)]
    pub footer: Option<String>,
    /// Quick-reply button labels.
    #[serde(default)]
    pub quick_replies: Vec<String>,
}

fn approved() -> String {
    "APPROVED".to_owned()
}

fn marketing() -> String {
    "MARKETING".to_owned()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ParameterFormat {
    #[default]
    Positional,
    Named,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HeaderFormat {
    Text,
    Image,
    Video,
    Document,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Token-bucket burst as a share of each number's per-second rate
    /// (at least one message).
    pub throughput_burst_fraction: f64,
    /// The (business, consumer) pair limit; Meta allows one message per 6 s
    /// with a borrowing burst of 45.
    pub pair_enabled: bool,
    pub pair_interval_ms: u64,
    pub pair_burst: u32,
    /// The moving window of the portfolio messaging limit, in milliseconds:
    /// 24 hours (86,400,000) as at Meta by default; a smaller value
    /// compresses the day for tests and benchmarks.
    pub messaging_window_ms: u64,
    /// Enforce the portfolio messaging limit: refuse templates to new users
    /// past the portfolio's tier with 130430. `true` by default; `false`
    /// counts nothing (tiers are still reported).
    pub messaging_limit_enabled: bool,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            throughput_burst_fraction: 0.2,
            pair_enabled: true,
            pair_interval_ms: 6_000,
            pair_burst: 45,
            messaging_window_ms: 86_400_000,
            messaging_limit_enabled: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// No webhooks are sent when absent.
    pub url: Option<String>,
    /// Seeds every random choice, so runs are reproducible.
    pub seed: u64,
    pub sent_delay_ms: u64,
    pub delivered_delay_ms: u64,
    pub read_delay_ms: u64,
    /// Share of delivered messages that are also read.
    pub read_probability: f64,
    /// Share of read messages whose `delivered` is skipped, as Meta may do.
    pub skip_delivered_probability: f64,
    /// Share of statuses sent twice, as Meta's retries can do.
    pub duplicate_probability: f64,
    /// Shuffle the statuses inside each POST.
    pub reorder: bool,
    pub max_batch: usize,
    pub flush_interval_ms: u64,
    /// Attempts per POST, including the first.
    pub max_attempts: u32,
    pub retry_initial_backoff_ms: u64,
    pub request_timeout_ms: u64,
    /// Recipients whose messages are accepted and then fail asynchronously.
    pub scripted_failures: Vec<ScriptedFailure>,
    pub replies: RepliesConfig,
}

/// Simulated users answering a campaign message, after it was delivered.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RepliesConfig {
    /// Share of recipients that reply "STOP" (checked first).
    pub opt_out_probability: f64,
    /// Share of recipients that tap a quick-reply button.
    pub button_probability: f64,
    /// Share of recipients that reply with free text.
    pub text_probability: f64,
    pub delay_ms: u64,
    /// The button label tapped; the payload is the `quick_reply` payload that
    /// was sent, or this label when none was.
    pub button_text: String,
    pub text: String,
}

impl Default for RepliesConfig {
    fn default() -> Self {
        Self {
            opt_out_probability: 0.0,
            button_probability: 0.0,
            text_probability: 0.0,
            delay_ms: 2_000,
            button_text: "Yes".to_owned(),
            text: "Does it come in another color?".to_owned(),
        }
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            url: None,
            seed: 1,
            sent_delay_ms: 50,
            delivered_delay_ms: 200,
            read_delay_ms: 1_000,
            read_probability: 0.6,
            skip_delivered_probability: 0.0,
            duplicate_probability: 0.0,
            reorder: false,
            max_batch: 100,
            flush_interval_ms: 50,
            max_attempts: 5,
            retry_initial_backoff_ms: 100,
            request_timeout_ms: 5_000,
            scripted_failures: Vec::new(),
            replies: RepliesConfig::default(),
        }
    }
}

impl WebhookConfig {
    pub(crate) fn flush_interval(&self) -> Duration {
        Duration::from_millis(self.flush_interval_ms.max(1))
    }
}

/// Recipients (exact numbers or a digit prefix, both without `+`) whose
/// messages fail with `code`: 131026, 131049, 131050 or 131047.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedFailure {
    #[serde(default)]
    pub numbers: Vec<String>,
    #[serde(default)]
    pub prefix: Option<String>,
    pub code: i64,
}

impl ScriptedFailure {
    pub(crate) fn matches(&self, wa_id: &str) -> bool {
        self.numbers.iter().any(|n| n.trim_start_matches('+') == wa_id)
            || self.prefix.as_deref().is_some_and(|p| wa_id.starts_with(p.trim_start_matches('+')))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("wa-sim.example.toml");
        let config = Config::load(&path).expect("example parses");
        assert_eq!(config.numbers[0].throughput_per_second, 80.0);
        assert_eq!(config.numbers[0].verified_name, "Sim Shop");
        assert_eq!(config.numbers[1].messaging_limit_tier, "TIER_10K", "defaults apply when absent");
        assert_eq!(config.numbers[1].quality_rating, "GREEN");
        assert_eq!(config.wabas[0].templates[1].parameter_format, ParameterFormat::Named);
        assert!(config.webhook.scripted_failures[1].matches("34600000057"));
        assert!(config.webhook.scripted_failures[0].matches("34600000001"));
        assert_eq!(config.wabas[0].business_id.as_deref(), Some("880000000000001"));
        assert_eq!((config.limits.messaging_window_ms, config.limits.messaging_limit_enabled), (86_400_000, true));
    }

    #[test]
    fn old_configs_keep_working_and_unknown_tiers_are_refused() {
        let mut config: Config = toml::from_str(
            "[[numbers]]\nphone_number_id = \"1\"\ndisplay_phone_number = \"1555\"\nwaba_id = \"2\"\n\
             access_token = \"t\"\napp_secret = \"s\"\n[[wabas]]\nwaba_id = \"2\"\n[limits]\npair_burst = 45\n",
        )
        .expect("a config without the new fields parses");
        assert_eq!(config.wabas[0].business_id, None);
        assert_eq!(config.limits.messaging_window_ms, 86_400_000);
        assert!(config.validate().is_ok());
        config.numbers[0].messaging_limit_tier = "TIER_1M".to_owned();
        let error = config.validate().expect_err("unknown tier").to_string();
        assert!(error.contains("TIER_1M") && error.contains("TIER_UNLIMITED"), "{error}");
    }
}
