//! The reply queue: delivers an inbound message to its bot flow's endpoint
//! (ARCHITECTURE "Webhooks and replies").
//!
//! The POST carries the message as Meta sent it plus the campaign and contact
//! it was attributed to, signed with the flow's secret:
//! `X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` (the scheme
//! Meta uses for its own webhooks). Any 2xx is delivered; anything else, a
//! timeout or a refused connection is retried with exponential back-off,
//! and after the last attempt the message is dead-lettered: kept with the
//! last error in `inbound_messages`, and its job in the queue's dead letters.
//! `Idempotency-Key` is the message's wamid, so a bot can drop a delivery it
//! already handled (a retry after a lost answer).

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{TimeDelta, Utc};
use serde_json::json;
use store::{PgPool, crypto::Cipher, inbound};

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "x-signature-256";

/// Retries of one delivery.
#[derive(Debug, Clone, Copy)]
pub struct ReplyPolicy {
    pub base: Duration,
    pub max_delay: Duration,
    pub max_attempts: i32,
    /// The longest one POST may take.
    pub timeout: Duration,
}

impl Default for ReplyPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(2),
            max_delay: Duration::from_secs(300),
            max_attempts: 8,
            timeout: Duration::from_secs(10),
        }
    }
}

impl ReplyPolicy {
    /// The delay after failed attempt `attempt` (1-based): base × 2^(attempt − 1), capped.
    pub fn backoff(&self, attempt: i32) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(20);
        self.base.saturating_mul(2u32.saturating_pow(doublings)).min(self.max_delay)
    }
}

/// What one delivery attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// The bot answered 2xx.
    Routed,
    /// Delivered before, given up on, or nowhere to go.
    NothingToDo,
    /// Try again after this long.
    Retry { after: Duration },
    /// The last attempt failed; the message is dead-lettered.
    Dead { error: String },
}

#[derive(Debug, Clone)]
pub struct Replier {
    pub pg: PgPool,
    pub cipher: Cipher,
    pub http: reqwest::Client,
    pub policy: ReplyPolicy,
}

impl Replier {
    pub fn new(pg: PgPool, cipher: Cipher, policy: ReplyPolicy) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(policy.timeout)
            .user_agent(concat!("campaigns-worker/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the bot-flow HTTP client")?;
        Ok(Self { pg, cipher, http, policy })
    }

    /// One delivery attempt of the message `wamid`.
    #[tracing::instrument(skip(self))]
    pub async fn deliver(&self, wamid: &str) -> anyhow::Result<Delivered> {
        let Some(d) = inbound::pending_delivery(&self.pg, wamid).await? else {
            return Ok(Delivered::NothingToDo);
        };
        let secret = d.secret(&self.cipher).context("decrypting the bot flow's secret")?;
        let body = serde_json::to_vec(&json!({
            "type": "message",
            "message_id": d.wamid,
            "received_at": d.received_at,
            "route": d.route,
            "opted_out": d.opted_out,
            "from": format!("+{}", d.from_wa_id.trim_start_matches('+')),
            "contact": d.contact_id.map(|id| json!({"id": id, "name": d.contact_name, "phone": d.contact_phone})),
            "campaign": d.campaign_id.map(|id| json!({"id": id, "name": d.campaign_name})),
            "bot_flow_id": d.bot_flow_id,
            "message": d.message,
        }))?;
        let attempt = d.attempts + 1;
        let started = Instant::now();
        let answer = self
            .http
            .post(&d.endpoint_url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, whatsapp::signature::sign(secret.as_bytes(), &body))
            .header("idempotency-key", &d.wamid)
            .header("x-delivery-attempt", attempt.to_string())
            .body(body)
            .send()
            .await;
        metrics::histogram!("reply_request_duration_seconds").record(started.elapsed().as_secs_f64());
        let error = match answer {
            Ok(r) if r.status().is_success() => {
                inbound::mark_routed(&self.pg, &d.wamid).await?;
                let waited = (Utc::now() - d.received_at).to_std().unwrap_or_default();
                metrics::histogram!("reply_routing_latency_seconds").record(waited.as_secs_f64());
                metrics::counter!("replies_routed_total", "outcome" => "delivered").increment(1);
                return Ok(Delivered::Routed);
            }
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                let text: String = text.chars().take(200).collect();
                format!("the bot flow answered {status}: {text}")
            }
            Err(e) if e.is_timeout() => format!("the bot flow did not answer within {:?}", self.policy.timeout),
            Err(e) if e.is_connect() => "could not connect to the bot flow's endpoint".to_owned(),
            Err(e) => format!("calling the bot flow failed: {}", without_url(&e)),
        };
        if attempt >= self.policy.max_attempts {
            inbound::mark_failed(&self.pg, &d.wamid, &error, None).await?;
            metrics::counter!("replies_routed_total", "outcome" => "dead").increment(1);
            tracing::error!(wamid = %d.wamid, %error, attempt, "reply dead-lettered");
            return Ok(Delivered::Dead { error });
        }
        let after = self.policy.backoff(attempt);
        inbound::mark_failed(&self.pg, &d.wamid, &error, Some(Utc::now() + TimeDelta::from_std(after)?)).await?;
        metrics::counter!("replies_routed_total", "outcome" => "retried").increment(1);
        tracing::warn!(wamid = %d.wamid, %error, attempt, ?after, "reply delivery failed; retrying");
        Ok(Delivered::Retry { after })
    }
}

/// reqwest's error text without the URL, which may carry credentials.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<endpoint>");
    }
    text
}
