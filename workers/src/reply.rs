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
//!
//! A target the egress policy refuses ([`crate::egress`]) is dead-lettered at
//! once: retrying cannot help until the flow or the policy changes. A
//! redirect is a failure, never followed, and a failed answer's body is never
//! read: the last error is shown to the tenant, and the target may be a
//! service the tenant must not be able to read.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use chrono::{TimeDelta, Utc};
use serde_json::json;
use store::{PgPool, crypto::Cipher, inbound};

use crate::egress::{Egress, Lookup, Refusal, SystemLookup};

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "x-signature-256";

/// How deliveries are made and retried.
#[derive(Debug, Clone, Copy)]
pub struct ReplyPolicy {
    pub base: Duration,
    pub max_delay: Duration,
    pub max_attempts: i32,
    /// The longest one POST may take.
    pub timeout: Duration,
    /// Bot flows may be on loopback, private and other non-public addresses
    /// (`BOT_EGRESS_ALLOW_PRIVATE`; off by default).
    pub allow_private: bool,
}

impl Default for ReplyPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(2),
            max_delay: Duration::from_secs(300),
            max_attempts: 8,
            timeout: Duration::from_secs(10),
            allow_private: false,
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
    /// The last attempt failed, or the egress policy refuses the target; the message is dead-lettered.
    Dead { error: String },
}

#[derive(Debug, Clone)]
pub struct Replier {
    pub pg: PgPool,
    pub cipher: Cipher,
    pub http: reqwest::Client,
    pub policy: ReplyPolicy,
    /// The policy `http` connects by; literal addresses are checked with it.
    egress: Egress,
}

impl Replier {
    /// Names are looked up with the system resolver.
    pub fn new(pg: PgPool, cipher: Cipher, policy: ReplyPolicy) -> anyhow::Result<Self> {
        Self::with_lookup(pg, cipher, policy, Arc::new(SystemLookup))
    }

    /// Names are looked up with `lookup` (tests).
    pub fn with_lookup(
        pg: PgPool,
        cipher: Cipher,
        policy: ReplyPolicy,
        lookup: Arc<dyn Lookup>,
    ) -> anyhow::Result<Self> {
        let egress = Egress::with_lookup(policy.allow_private, lookup);
        let http = egress
            .client(policy.timeout, concat!("campaigns-worker/", env!("CARGO_PKG_VERSION")))
            .context("building the bot-flow HTTP client")?;
        Ok(Self { pg, cipher, http, policy, egress })
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
        let Ok(url) = reqwest::Url::parse(&d.endpoint_url) else {
            return self.failed(&d.wamid, attempt, "the bot flow's endpoint is not a valid URL".to_owned()).await;
        };
        if let Err(refusal) = self.egress.check(&url) {
            return self.refuse(&d.wamid, &refusal).await;
        }
        let started = Instant::now();
        let answer = self
            .http
            .post(url)
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
            // The body is dropped unread (see the module's doc).
            Ok(r) if r.status().is_redirection() => {
                format!("the bot flow answered {} (redirects are not followed)", status_text(r.status()))
            }
            Ok(r) => format!("the bot flow answered {}", status_text(r.status())),
            Err(e) => match Refusal::of(&e) {
                Some(refusal) => return self.refuse(&d.wamid, &refusal).await,
                None => transport_error(&e, self.policy.timeout),
            },
        };
        self.failed(&d.wamid, attempt, error).await
    }

    /// Records failed attempt `attempt`: retried later, or dead-lettered after the last one.
    async fn failed(&self, wamid: &str, attempt: i32, error: String) -> anyhow::Result<Delivered> {
        if attempt >= self.policy.max_attempts {
            inbound::mark_failed(&self.pg, wamid, &error, None).await?;
            metrics::counter!("replies_routed_total", "outcome" => "dead").increment(1);
            tracing::error!(%wamid, %error, attempt, "reply dead-lettered");
            return Ok(Delivered::Dead { error });
        }
        let after = self.policy.backoff(attempt);
        inbound::mark_failed(&self.pg, wamid, &error, Some(Utc::now() + TimeDelta::from_std(after)?)).await?;
        metrics::counter!("replies_routed_total", "outcome" => "retried").increment(1);
        tracing::warn!(%wamid, %error, attempt, ?after, "reply delivery failed; retrying");
        Ok(Delivered::Retry { after })
    }

    /// Dead-letters a reply whose target the egress policy refuses.
    async fn refuse(&self, wamid: &str, refusal: &Refusal) -> anyhow::Result<Delivered> {
        let error = refusal.to_string();
        inbound::mark_failed(&self.pg, wamid, &error, None).await?;
        metrics::counter!("replies_routed_total", "outcome" => "refused").increment(1);
        tracing::warn!(%wamid, %error, "reply dead-lettered: refused target");
        Ok(Delivered::Dead { error })
    }
}

/// "500 Internal Server Error", or the bare code when it has no name.
fn status_text(status: reqwest::StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// A failed request's short reason, without its URL.
fn transport_error(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("the bot flow did not answer within {timeout:?}")
    } else if e.is_connect() {
        "could not connect to the bot flow's endpoint".to_owned()
    } else {
        format!("calling the bot flow failed: {}", without_url(e))
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
