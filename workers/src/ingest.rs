//! The status queue: applies the raw webhook batches the API stored in
//! `webhook_events` (ARCHITECTURE "Webhooks and replies").
//!
//! Each consumer claims up to [`IngestSettings::batch`] events at once
//! (`for update skip locked`, under a lease), folds every delivery status in
//! them into one [`StatusBatch`] applied in two statements, records inbound
//! messages (attribution, first reply, opt-out keywords), applies template
//! status updates, and deletes the events, all in one transaction. Reply
//! jobs for new messages are pushed after the commit; one lost there is
//! pushed again by the scheduler's sweep.
//!
//! Every item changes only what the number that signed it owns: statuses
//! and callback data are applied through the campaign's number (and callback
//! data must carry our MAC), inbound messages are recorded for the number in
//! their metadata, and template updates change the templates of the signing
//! number's organization only. Items about anything else are counted in
//! `webhook_items_ignored_total` and logged once per batch, never applied.
//!
//! The backlog lives in Postgres, so a long worker outage cannot wedge a
//! Redis queue or grow Redis memory. A batch that fails is retried event by
//! event, so one bad event cannot hold the others back; an event that keeps
//! failing is dead-lettered (kept with its error) after
//! [`IngestSettings::max_attempts`].

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use queue::{
    QueueSettings, ReplyJob,
    apalis::prelude::{TaskBuilder, TaskSink},
    exporter::STATUS_QUEUE,
};
use redis::aio::ConnectionManager;
use store::{
    PgPool,
    inbound::{self, Inbound, Recorded},
    opt_outs::OptOut,
    statuses::{self, Callback, CallbackCheck, CallbackKey, Failure, StatusBatch, StatusKind},
    templates,
    webhook_events::{self, Event},
};
use tokio_util::sync::CancellationToken;
use whatsapp::webhook::{Change, DeliveryStatus, InboundMessage, WebhookPayload};

use crate::telemetry::{JobOutcome, count_job};

/// How the status consumers run.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// Events claimed (and applied in one transaction) at once.
    pub batch: i64,
    /// Consumers per process.
    pub concurrency: usize,
    /// How long a claim holds; a dead worker's events are taken again after
    /// it. Short: applying a batch takes well under a second, and applying
    /// one twice (a slow worker whose lease ran out) is harmless, since
    /// statuses only move rows forward and replies are deduplicated by wamid.
    pub lease: Duration,
    /// Claims of one event before it is dead-lettered.
    pub max_attempts: i32,
    /// How long an idle consumer waits before looking again.
    pub idle_poll: Duration,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            batch: 50,
            concurrency: 2,
            lease: Duration::from_secs(15),
            max_attempts: 5,
            idle_poll: Duration::from_millis(100),
        }
    }
}

/// A status consumer's shared state.
#[derive(Debug, Clone)]
pub struct Ingest {
    pub pg: PgPool,
    pub redis: ConnectionManager,
    /// Where reply jobs go.
    pub replies: QueueSettings,
    /// Checks the MAC of our callback data.
    pub callbacks: CallbackKey,
    pub settings: IngestSettings,
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    pub events: usize,
    pub statuses: usize,
    pub replies: usize,
    pub dead: usize,
}

/// Everything parsed out of a set of events, ready to apply.
#[derive(Debug, Default)]
struct Parsed {
    statuses: StatusBatch,
    messages: Vec<(String, String, InboundMessage, serde_json::Value)>,
    templates: Vec<TemplateUpdate>,
    /// `business_capability_update`s: (WABA, signing number, the tier it names).
    capabilities: Vec<(String, Option<String>, Option<&'static str>)>,
    /// Items refused before applying (forged callback data, template updates
    /// no number signed for), by kind.
    ignored: Ignored,
}

/// A `message_template_status_update`, with the number whose secret verified its WABA.
#[derive(Debug)]
struct TemplateUpdate {
    waba_id: String,
    signer: Option<String>,
    template_id: String,
    event: String,
    reason: Option<String>,
}

/// Items of a batch that were not applied because the signing number does
/// not own what they name.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Ignored {
    /// Callback data in our format whose MAC does not verify.
    callbacks: u64,
    /// Statuses about a message another number sent.
    statuses: u64,
    /// Template updates about a template the signer's organization does not have.
    templates: u64,
}

impl Ignored {
    fn total(self) -> u64 {
        self.callbacks + self.statuses + self.templates
    }

    /// One metric increment per kind and one log line for the whole batch.
    fn report(self, events: &[Event]) {
        if self.total() == 0 {
            return;
        }
        for (kind, n) in [("callback_data", self.callbacks), ("status", self.statuses), ("template", self.templates)] {
            if n > 0 {
                metrics::counter!("webhook_items_ignored_total", "kind" => kind).increment(n);
            }
        }
        let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
        tracing::warn!(webhook_events = ?ids, forged_callback_data = self.callbacks, foreign_statuses = self.statuses,
            foreign_templates = self.templates, "webhook items about what the signing number does not own were ignored");
    }
}

impl Ingest {
    /// Runs `concurrency` consumers until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let mut consumers = tokio::task::JoinSet::new();
        for _ in 0..self.settings.concurrency.max(1) {
            let (me, stop) = (self.clone(), stop.clone());
            consumers.spawn(async move {
                while !stop.is_cancelled() {
                    let idle = match me.pass().await {
                        Ok(pass) => pass.events == 0,
                        Err(e) => {
                            tracing::warn!(error.cause_chain = ?e, "applying webhooks failed");
                            true
                        }
                    };
                    if idle {
                        tokio::select! {
                            () = stop.cancelled() => break,
                            () = tokio::time::sleep(me.settings.idle_poll) => {}
                        }
                    }
                }
            });
        }
        while consumers.join_next().await.is_some() {}
    }

    /// Claims one batch and applies it.
    pub async fn pass(&self) -> anyhow::Result<Pass> {
        let events = webhook_events::claim(&self.pg, self.settings.batch, self.settings.lease).await?;
        if events.is_empty() {
            return Ok(Pass::default());
        }
        let mut pass = Pass { events: events.len(), ..Pass::default() };
        match self.apply(&events).await {
            Ok((statuses, recorded)) => {
                applied(&events);
                pass.statuses = statuses;
                pass.replies = recorded.len();
                self.push_replies(&recorded).await;
            }
            Err(e) if events.len() > 1 => {
                tracing::warn!(error.cause_chain = ?e, events = events.len(), "a webhook batch failed; applying its events one by one");
                for event in &events {
                    match self.apply(std::slice::from_ref(event)).await {
                        Ok((statuses, recorded)) => {
                            applied(std::slice::from_ref(event));
                            pass.statuses += statuses;
                            pass.replies += recorded.len();
                            self.push_replies(&recorded).await;
                        }
                        Err(e) => pass.dead += usize::from(self.fail(event, &e).await?),
                    }
                }
            }
            Err(e) => pass.dead += usize::from(self.fail(&events[0], &e).await?),
        }
        metrics::counter!("webhook_events_applied_total").increment((pass.events - pass.dead) as u64);
        metrics::counter!("webhook_statuses_applied_total").increment(pass.statuses as u64);
        Ok(pass)
    }

    /// Records a failed event: retried after a back-off, or dead-lettered
    /// after the last attempt (returns `true` then).
    async fn fail(&self, event: &Event, error: &anyhow::Error) -> anyhow::Result<bool> {
        let dead = event.attempts >= self.settings.max_attempts;
        let retry_in = Duration::from_secs(2u64.saturating_pow(event.attempts.clamp(1, 8) as u32));
        let text = format!("{error:#}");
        webhook_events::fail(&self.pg, event.id, &text, retry_in, dead).await?;
        count_job(STATUS_QUEUE, if dead { JobOutcome::Dead } else { JobOutcome::Retry });
        if dead {
            tracing::error!(webhook_event.id = event.id, error = %text, "webhook event dead-lettered");
            metrics::counter!("webhook_events_dead_lettered_total").increment(1);
        }
        Ok(dead)
    }

    /// Applies `events` in one transaction; returns how many statuses they
    /// held and the inbound messages recorded for the first time.
    async fn apply(&self, events: &[Event]) -> anyhow::Result<(usize, Vec<Recorded>)> {
        let mut parsed = Parsed::default();
        for event in events {
            parse_into(&mut parsed, event, &self.callbacks).with_context(|| format!("webhook event {}", event.id))?;
        }
        // Every lock the transaction takes is taken in one order: the ledger
        // rows (statuses and replies together, in key order), then inbound
        // messages (by wamid), then opt-outs (by phone), then campaigns. Two
        // batches then cannot deadlock each other; the counters never wait
        // (each transaction writes its own shard).
        parsed.messages.sort_by(|a, b| a.2.id.cmp(&b.2.id));
        let mut tx = self.pg.begin().await?;
        let mut attributed = Vec::with_capacity(parsed.messages.len());
        for (phone_number_id, from, m, raw) in &parsed.messages {
            let item = Inbound {
                wamid: &m.id,
                phone_number_id,
                from,
                context_wamid: m.context.as_ref().map(|c| c.id.as_str()),
                text: typed_text(m),
                received_at: unix_time(&m.timestamp),
                message: raw,
            };
            if let Some(a) = inbound::attribute(&mut tx, &item).await.context("attributing an inbound message")? {
                attributed.push((item, a));
            }
        }
        let replied: Vec<(i64, i64)> = attributed.iter().filter_map(|(_, a)| a.ledger).collect();
        let applied = statuses::apply(&mut tx, &parsed.statuses, &replied).await.context("applying statuses")?;
        tracing::debug!(?applied, statuses = parsed.statuses.len(), "statuses applied");
        parsed.ignored.statuses += applied.ignored;
        let mut opt_outs = applied.opt_outs;
        let (mut recorded, mut marks) = (Vec::new(), Vec::new());
        for (item, a) in &attributed {
            let Some(r) = inbound::insert(&mut tx, item, a).await.context("recording an inbound message")? else {
                continue;
            };
            if let Some((campaign, contact)) = a.ledger {
                marks.push((campaign, contact, item.received_at));
            }
            if a.opted_out {
                opt_outs.push(OptOut {
                    org_id: a.org_id,
                    phone: a.phone.clone(),
                    source: "user_reply",
                    reason: inbound::REPLY_OPT_OUT.to_owned(),
                });
            }
            recorded.push(r);
        }
        inbound::mark_replied(&mut tx, &marks).await.context("marking replies")?;
        store::opt_outs::record_many(&mut *tx, &opt_outs).await.context("recording opt-outs")?;
        parsed.templates.sort_by(|a, b| a.template_id.cmp(&b.template_id));
        for t in &parsed.templates {
            let Some(signer) = &t.signer else {
                parsed.ignored.templates += 1;
                continue;
            };
            let change = templates::apply_status_update(
                &mut tx,
                &t.waba_id,
                signer,
                &t.template_id,
                &t.event,
                t.reason.as_deref(),
            )
            .await?;
            if change.templates == 0 {
                parsed.ignored.templates += 1;
            }
            if !change.paused.is_empty() || !change.resumed.is_empty() {
                tracing::warn!(template = %t.template_id, event = %t.event, paused = ?change.paused,
                    resumed = ?change.resumed, "template status changed campaigns");
            }
        }
        // The portfolio's messaging limit changed: the webhook's tier now, and
        // Meta's own answer soon (the tier refresh reads it again).
        for (waba_id, signer, tier) in &parsed.capabilities {
            let Some(signer) = signer else { continue };
            let numbers = store::numbers::capability_changed(&mut *tx, signer, waba_id, *tier).await?;
            tracing::info!(%waba_id, ?tier, numbers, "the portfolio's messaging limit changed");
        }
        let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
        webhook_events::finish(&mut *tx, &ids).await?;
        tx.commit().await?;
        parsed.ignored.report(events);
        Ok((parsed.statuses.len(), recorded))
    }

    /// Pushes a reply job per message that has a bot flow to go to. A failed
    /// push is logged: the scheduler's sweep pushes the message again.
    async fn push_replies(&self, recorded: &[Recorded]) {
        let tasks: Vec<_> = recorded
            .iter()
            .filter(|r| r.bot_flow_id.is_some())
            .map(|r| {
                let job = ReplyJob { wamid: r.wamid.clone() };
                TaskBuilder::new(job.clone()).idempotency_key(job.dedupe_key()).build()
            })
            .collect();
        if tasks.is_empty() {
            return;
        }
        let mut storage = self.replies.storage::<ReplyJob>(self.redis.clone());
        if let Err(e) = storage.push_all(futures::stream::iter(tasks)).await {
            tracing::warn!(error = %e, "pushing reply jobs failed; the sweep will push them again");
        }
    }
}

/// Counts applied events (`jobs_total{queue="status", outcome="ok"}`) and
/// records how long each waited since the API stored it
/// (`webhook_ingest_lag_seconds`).
fn applied(events: &[Event]) {
    for event in events {
        metrics::histogram!("webhook_ingest_lag_seconds").record(lag(event).as_secs_f64());
        count_job(STATUS_QUEUE, JobOutcome::Ok);
    }
}

/// How long ago the API stored `event`.
fn lag(event: &Event) -> Duration {
    (Utc::now() - event.received_at).to_std().unwrap_or_default()
}

/// Meta's unix-seconds string as a time; now when it is not a number.
fn unix_time(timestamp: &str) -> DateTime<Utc> {
    timestamp.parse().ok().and_then(|s| DateTime::from_timestamp(s, 0)).unwrap_or_else(Utc::now)
}

/// What the user typed or tapped, for opt-out keywords.
fn typed_text(m: &InboundMessage) -> Option<&str> {
    use whatsapp::webhook::Interactive;
    if let Some(text) = &m.text {
        return Some(text.body.as_str());
    }
    if let Some(text) = m.button.as_ref().and_then(|b| b.text.as_deref()) {
        return Some(text);
    }
    match &m.interactive {
        Some(Interactive::ButtonReply { button_reply: o } | Interactive::ListReply { list_reply: o }) => {
            Some(o.title.as_str())
        }
        _ => None,
    }
}

/// The readable failure of a `failed` status: our stable code for Meta's
/// error and its reason, with Meta's details when they add something.
fn failure(status: &whatsapp::webhook::Status) -> Failure {
    let Some(error) = status.errors.first() else {
        return Failure {
            code: "meta_failed".into(),
            reason: "Meta reported the message failed without an error".into(),
            meta_code: None,
        };
    };
    let classified = error.classify();
    let details = error.error_data.as_ref().and_then(|d| d.details.as_deref()).or(error.message.as_deref());
    let reason = match details {
        Some(d) if !d.is_empty() && !classified.reason.eq_ignore_ascii_case(d) => {
            format!("{} ({d})", classified.reason)
        }
        _ => classified.reason.into_owned(),
    };
    Failure { code: classified.stable_code.into_owned(), reason, meta_code: i32::try_from(error.code).ok() }
}

fn parse_into(parsed: &mut Parsed, event: &Event, callbacks: &CallbackKey) -> anyhow::Result<()> {
    let payload = event.payload.as_slice();
    let body: WebhookPayload = serde_json::from_slice(payload).context("parsing the webhook body")?;
    // The raw JSON of inbound messages goes to the bot as Meta sent it.
    let mut raw: Option<serde_json::Value> = None;
    for (e, entry) in body.entry.iter().enumerate() {
        for (c, change) in entry.changes.iter().enumerate() {
            match change {
                Change::Messages(value) => {
                    // The API verified this number's app secret over the batch.
                    let number = value.metadata.phone_number_id.as_str();
                    for s in &value.statuses {
                        let kind = match s.status {
                            DeliveryStatus::Sent => StatusKind::Sent,
                            DeliveryStatus::Delivered => StatusKind::Delivered,
                            DeliveryStatus::Read => StatusKind::Read,
                            DeliveryStatus::Failed => StatusKind::Failed,
                            DeliveryStatus::Played | DeliveryStatus::Unknown => continue,
                        };
                        let callback =
                            match s.biz_opaque_callback_data.as_deref().map(|t| Callback::check(t, callbacks)) {
                                Some(CallbackCheck::Valid(callback)) => Some(callback),
                                Some(CallbackCheck::Forged) => {
                                    parsed.ignored.callbacks += 1;
                                    None
                                }
                                Some(CallbackCheck::Foreign) | None => None,
                            };
                        let failure = (kind == StatusKind::Failed).then(|| failure(s));
                        parsed.statuses.add(number, &s.id, kind, unix_time(&s.timestamp), callback, failure);
                    }
                    for error in &value.errors {
                        tracing::warn!(code = error.code, title = %error.title, phone_number_id = %number,
                            "Meta reported an error for a number");
                    }
                    if value.messages.is_empty() {
                        continue;
                    }
                    let raw = match &mut raw {
                        Some(raw) => raw,
                        None => raw.insert(serde_json::from_slice(payload)?),
                    };
                    for (i, m) in value.messages.iter().enumerate() {
                        let Some(from) = m.from.clone() else {
                            tracing::warn!(wamid = %m.id, "inbound message without a phone number; ignored");
                            continue;
                        };
                        let message = raw["entry"][e]["changes"][c]["value"]["messages"][i].clone();
                        parsed.messages.push((number.to_owned(), from, m.clone(), message));
                    }
                }
                Change::TemplateStatus(t) => parsed.templates.push(TemplateUpdate {
                    waba_id: entry.id.clone(),
                    signer: event.waba_signer(&entry.id).map(str::to_owned),
                    template_id: t.message_template_id.clone(),
                    event: t.event.clone(),
                    reason: t.reason.clone(),
                }),
                Change::Capability(c) => parsed.capabilities.push((
                    entry.id.clone(),
                    event.waba_signer(&entry.id).map(str::to_owned),
                    c.max_daily_conversations_per_business
                        .or(c.max_daily_conversation_per_phone)
                        .and_then(domain::messaging_limit::tier_of_daily_limit),
                )),
                Change::Other { field, .. } => tracing::debug!(%field, "webhook field not handled"),
            }
        }
    }
    Ok(())
}
