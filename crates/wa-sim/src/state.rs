//! The simulator's shared state: numbers, templates, limiters and the logs
//! that tests inspect.

use std::{
    collections::HashMap,
    sync::{
        Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    catalog::{Catalog, Listed},
    config::{Config, NumberConfig, TemplateConfig},
    error::MetaError,
    faults::Faults,
    limits::{PairLimiter, TokenBucket},
    media::MediaStore,
    portfolio::{self, PortfolioView, Portfolios, TierChangeError},
    request::{ButtonParam, SendRequest, TextParam, wa_id},
    template,
    webhook::Scheduler,
};

/// One message the simulator accepted (answered 200 for).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedMessage {
    pub wamid: String,
    pub phone_number_id: String,
    /// `to` exactly as sent.
    pub to: String,
    pub wa_id: String,
    pub template: String,
    pub language: String,
    pub body_parameters: Vec<TextParam>,
    /// Header parameters as sent (text or media objects).
    pub header_parameters: Vec<Value>,
    pub button_parameters: Vec<ButtonParam>,
    pub biz_opaque_callback_data: Option<String>,
    /// Unix milliseconds.
    pub accepted_at: u64,
}

/// One webhook POST attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Unix milliseconds.
    pub at: u64,
    /// 1 for the first try of a batch, then 2, 3…
    pub attempt: u32,
    /// The batch this attempt belongs to; retries share it.
    pub batch: u64,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub statuses: usize,
    pub messages: usize,
}

pub(crate) struct Number {
    pub config: NumberConfig,
    bucket: Mutex<TokenBucket>,
}

pub(crate) struct State {
    pub config: Config,
    pub numbers: HashMap<String, Number>,
    /// Templates per WABA; `config.wabas` is only their starting point.
    templates: RwLock<Catalog>,
    pairs: PairLimiter,
    accepted: Mutex<Vec<AcceptedMessage>>,
    next_seq: AtomicU64,
    pub scheduler: Option<Scheduler>,
    pub faults: Faults,
    pub media: MediaStore,
    pub portfolios: Portfolios,
}

pub(crate) fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
}

impl State {
    pub fn new(config: Config, scheduler: Option<Scheduler>) -> Self {
        let now = Instant::now();
        let numbers = config
            .numbers
            .iter()
            .map(|n| {
                let rate = n.throughput_per_second;
                let burst = (rate * config.limits.throughput_burst_fraction).max(1.0);
                let bucket = Mutex::new(TokenBucket::new(rate, burst, now));
                (n.phone_number_id.clone(), Number { config: n.clone(), bucket })
            })
            .collect();
        let templates = RwLock::new(Catalog::new(&config.wabas));
        let faults = Faults::new(config.faults.clone(), config.webhook.seed);
        let pairs = PairLimiter::new(Duration::from_millis(config.limits.pair_interval_ms), config.limits.pair_burst);
        let portfolios = Portfolios::new(&config);
        Self {
            portfolios,
            config,
            numbers,
            templates,
            pairs,
            accepted: Mutex::new(Vec::new()),
            next_seq: AtomicU64::new(1),
            scheduler,
            faults,
            media: MediaStore::default(),
        }
    }

    /// The number a send is for, if the bearer token is that number's. An
    /// unknown id is only reported to holders of some valid token, so an
    /// unauthenticated caller learns nothing about which ids exist.
    pub fn authorize(&self, phone_number_id: &str, token: Option<&str>) -> Result<&Number, MetaError> {
        let token = token.ok_or_else(MetaError::invalid_token)?;
        match self.numbers.get(phone_number_id) {
            Some(number) if number.config.access_token == token => Ok(number),
            Some(_) => Err(MetaError::invalid_token()),
            None if self.numbers.values().any(|n| n.config.access_token == token) => {
                Err(MetaError::unsupported_post(phone_number_id))
            }
            None => Err(MetaError::invalid_token()),
        }
    }

    /// Read-only endpoints accept the token of any configured number.
    pub fn knows_token(&self, token: Option<&str>) -> bool {
        token.is_some_and(|t| self.numbers.values().any(|n| n.config.access_token == t))
    }

    /// Tokens belong to numbers here; a number's token reads its WABA, as a
    /// system-user token assigned to that WABA does at Meta.
    pub fn token_reads_waba(&self, token: Option<&str>, waba_id: &str) -> bool {
        token.is_some_and(|t| self.numbers.values().any(|n| n.config.waba_id == waba_id && n.config.access_token == t))
    }

    /// Validates, rate-limits and records one send; returns the record.
    pub fn send(&self, number: &Number, body: &[u8]) -> Result<AcceptedMessage, MetaError> {
        let request = SendRequest::parse(body)?;
        if request.messaging_product.as_deref() != Some("whatsapp") {
            return Err(MetaError::invalid_parameter(
                "The parameter messaging_product is required and must be whatsapp",
            ));
        }
        if request.kind.as_deref().unwrap_or("text") != "template" {
            return Err(MetaError::invalid_parameter("The simulator only accepts messages of type template"));
        }
        let to = request.to.ok_or_else(|| MetaError::invalid_parameter("The parameter to is required."))?;
        let wa_id = wa_id(&to)?;
        let t = request.template.ok_or_else(|| MetaError::invalid_parameter("The parameter template is required."))?;
        let config = self
            .templates
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&number.config.waba_id, &t.name, &t.language.code)
            .ok_or_else(|| MetaError::template_missing(&t.name, &t.language.code))?;
        let filled = template::fill(&config, &t)?;

        let now = Instant::now();
        if !number.bucket.lock().unwrap_or_else(|p| p.into_inner()).try_take(now) {
            return Err(MetaError::rate_limited());
        }
        let pair_ok =
            !self.config.limits.pair_enabled || self.pairs.try_take(&number.config.phone_number_id, &wa_id, now);
        if !pair_ok {
            return Err(MetaError::pair_rate_limited());
        }
        // Last: a send refused for an earlier reason does not count a user.
        self.portfolios
            .admit(&number.config.waba_id, &wa_id, now)
            .map_err(|over| MetaError::messaging_limit_reached(&over.tier, over.limit))?;
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let message = AcceptedMessage {
            wamid: wamid(&wa_id, seq),
            phone_number_id: number.config.phone_number_id.clone(),
            to,
            wa_id,
            template: t.name,
            language: t.language.code,
            body_parameters: filled.body,
            header_parameters: filled.header,
            button_parameters: filled.buttons,
            biz_opaque_callback_data: request.biz_opaque_callback_data,
            accepted_at: unix_ms(),
        };
        self.accepted.lock().unwrap_or_else(|p| p.into_inner()).push(message.clone());
        if let Some(scheduler) = &self.scheduler {
            scheduler.schedule(&message, &config.category, &number.config.display_phone_number);
        }
        Ok(message)
    }

    /// Changes a portfolio's messaging-limit tier and, when webhooks are on,
    /// sends each of its WABAs Meta's `business_capability_update`, signed
    /// with the app secret of the WABA's first number (a WABA without
    /// numbers gets none).
    pub fn set_messaging_limit(&self, business_id: &str, tier: &str) -> Result<PortfolioView, TierChangeError> {
        let view = self.portfolios.set_tier(business_id, tier, Instant::now())?;
        if let Some(scheduler) = &self.scheduler {
            let value = serde_json::json!({
                "max_daily_conversations_per_business": portfolio::webhook_limit(view.limit),
                "max_phone_numbers_per_business": 2,
            });
            for waba_id in self.portfolios.wabas_of(business_id) {
                if let Some(number) = self.config.numbers.iter().find(|n| &n.waba_id == waba_id) {
                    scheduler.waba_change(waba_id, "business_capability_update", value.clone(), &number.app_secret);
                }
            }
        }
        Ok(view)
    }

    pub fn templates_of(&self, waba_id: &str) -> Vec<Listed> {
        self.templates.read().unwrap_or_else(|p| p.into_inner()).listing(waba_id)
    }

    /// Replaces the templates of a WABA; sends and listings see the new set at once.
    pub fn set_templates(&self, waba_id: &str, templates: Vec<TemplateConfig>) {
        self.templates.write().unwrap_or_else(|p| p.into_inner()).set(waba_id, templates);
    }

    pub fn accepted(&self) -> Vec<AcceptedMessage> {
        self.accepted.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn accepted_count(&self) -> usize {
        self.accepted.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.scheduler.as_ref().map(Scheduler::deliveries).unwrap_or_default()
    }

    /// Forgets every message, delivery and limiter state (portfolio counts
    /// and refusals too, but not their tiers); the buckets refill.
    pub fn reset(&self) {
        self.accepted.lock().unwrap_or_else(|p| p.into_inner()).clear();
        if let Some(scheduler) = &self.scheduler {
            scheduler.clear_deliveries();
        }
        self.pairs.reset();
        self.portfolios.reset();
        let now = Instant::now();
        for number in self.numbers.values() {
            let rate = number.config.throughput_per_second;
            let burst = (rate * self.config.limits.throughput_burst_fraction).max(1.0);
            *number.bucket.lock().unwrap_or_else(|p| p.into_inner()) = TokenBucket::new(rate, burst, now);
        }
    }
}

/// `wamid.` + base64, like Meta's ids: unique via the sequence number, and
/// carrying the recipient so it reads like one.
fn wamid(wa_id: &str, seq: u64) -> String {
    let mut raw = Vec::with_capacity(32);
    raw.extend_from_slice(b"HBgL");
    raw.extend_from_slice(wa_id.as_bytes());
    raw.extend_from_slice(&seq.to_be_bytes());
    raw.extend_from_slice(&rand::random::<u32>().to_be_bytes());
    format!("wamid.{}", STANDARD.encode(raw))
}
