//! The send job (ARCHITECTURE "Sending exactly once"): wait for the rate
//! limiter, claim the recipient's ledger row (one winner), check the contact
//! again, render the frozen values, send with our callback data, and record
//! exactly one outcome for the attempt. Meta has no idempotency key, so every
//! answer that leaves the outcome unknown becomes `in_doubt`, never a retry.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{TimeDelta, Utc};
use domain::campaign::{Binding, Component, FrozenValues, Param, render};
use ratelimit::{CampaignLimit, LimitError, Limiter, NumberLimit, Rate};
use store::{
    OrgId, PgPool, campaigns,
    crypto::Cipher,
    numbers,
    recipients::{Claim, JobKey, Outcome, Peek},
    statuses::{Callback, CallbackKey},
};
use tokio::sync::Semaphore;
use whatsapp::{
    CloudClient, ErrorClass, NotSent, SendError, SendTemplateRequest,
    send::{HeaderParameter, Language, MediaSource, Template, TextParameter},
};

use crate::ledger::Ledger;

/// Our own retry policy (apalis-redis's built-in 25 linear retries are not
/// used): exponential back-off from `base`, capped at `max_delay`, and a
/// failure after `max_attempts` attempts.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max_delay: Duration,
    pub max_attempts: i32,
    /// The longest a send waits for the limiter before going back to the queue.
    pub max_limiter_wait: Duration,
    /// How long a 130429 pauses the number for every process.
    pub throttle_pause: Duration,
    /// How long Meta's messaging-limit refusal holds the portfolio's sends
    /// (an hour of the 24-hour window by default).
    pub limit_hold: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(2),
            max_delay: Duration::from_secs(600),
            max_attempts: 8,
            max_limiter_wait: Duration::from_secs(30),
            throttle_pause: Duration::from_secs(2),
            limit_hold: Self::limit_hold_for(Duration::from_secs(86_400)),
        }
    }
}

impl RetryPolicy {
    /// The hold after a messaging-limit refusal for a messaging window:
    /// an hour of a day, the same share of a compressed one.
    pub fn limit_hold_for(window: Duration) -> Duration {
        window / 24
    }

    /// The delay before attempt `attempt + 1`: base × 2^(attempt − 1), capped.
    pub fn backoff(&self, attempt: i32) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(20);
        self.base.saturating_mul(2u32.saturating_pow(doublings)).min(self.max_delay)
    }
}

/// Meta's answer for a send past the portfolio's messaging limit. Meta
/// documents none; this is the code wa-sim answers with
/// (docs/delivery-limits.md).
pub const MESSAGING_LIMIT_REFUSED: i64 = 130_430;

/// A token older than this when the request is about to leave is taken
/// again: the limiter's guarantee (at most rate + burst in any second) is
/// about when tokens are taken, so a stall between the token and the
/// request (a slow claim, a Postgres restart) must not release the sends it
/// held back all at once.
/// So a send may leave up to this long after its token, which bunches at
/// most `pace × FRESH_TOKEN` sends (2 at 20/s); each token taken again is
/// one more spent from the campaign's pace, and a busy process takes tens of
/// milliseconds from token to request, so this is not shorter.
pub const FRESH_TOKEN: Duration = Duration::from_millis(100);

/// Why a send job failed, by where it stopped: what the retry policy may do
/// depends on it.
#[derive(Debug, thiserror::Error)]
pub enum SendFailure {
    /// Before the claim (the limiter or Postgres failed): nothing changed.
    /// Retry the job after a growing back-off; a cause that keeps failing
    /// pauses the campaign.
    #[error("failed before claiming the recipient: {0:#}")]
    BeforeClaim(anyhow::Error),
    /// After the claim, before anything left: the row is back in the queue,
    /// due after `retry_after`.
    #[error("failed before sending: {error:#}")]
    AfterClaim { error: anyhow::Error, retry_after: Duration },
    /// The request may have left, or its outcome could not be recorded: the
    /// row stays `sending` for the sweeper (in doubt). Never retried by the job.
    #[error("failed after sending: {0:#}")]
    Ambiguous(anyhow::Error),
}

/// What one send job did; the queue layer re-schedules `Retry` and
/// dead-letters `Failed` after the last attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum SendResult {
    /// Nothing to do: sent already, claimed by another job, or the campaign
    /// is not active.
    NothingToDo,
    Accepted {
        wamid: String,
    },
    Failed {
        code: String,
        attempts_exhausted: bool,
    },
    Excluded {
        code: &'static str,
    },
    /// The campaign was paused (a Halt-class answer); the recipient waits queued.
    Paused {
        code: String,
    },
    /// Back in the queue: run the job again after this long.
    Retry {
        after: Duration,
    },
    /// The limiter would not give a token within the wait a job may hold
    /// a worker for: run the job again after this long (the row waits queued
    /// for it, and is marked as waiting, so it is not taken for lost work).
    Waiting {
        after: Duration,
    },
    InDoubt,
}

#[derive(Debug, Clone)]
pub struct Sender {
    pub pg: PgPool,
    pub cipher: Cipher,
    pub cloud: CloudClient,
    pub limiter: Limiter,
    pub policy: RetryPolicy,
}

impl Sender {
    /// Renews the campaign's header media with Meta when its id is missing or
    /// expires within `horizon` (a campaign scheduled weeks ahead starts
    /// after its upload expired): the stored bytes are uploaded again with
    /// the number's token. The launch job calls it before planning. A failed
    /// upload is logged and the old id kept: it may still be valid.
    pub async fn renew_header_media(&self, campaign_id: i64, horizon: Duration) -> anyhow::Result<bool> {
        let Some((org, media_id)) = store::media::stale_campaign_header(&self.pg, campaign_id, horizon).await? else {
            return Ok(false);
        };
        let Some(stored) = store::media::content(&self.pg, org, media_id).await? else { return Ok(false) };
        let Some(number) = numbers::get(&self.pg, org, stored.number_id).await? else { return Ok(false) };
        let Some(credentials) = numbers::credentials(&self.pg, &self.cipher, org, stored.number_id).await? else {
            return Ok(false);
        };
        let filename = stored.filename.unwrap_or_else(|| format!("media-{media_id}"));
        match self
            .cloud
            .upload_media(
                &number.phone_number_id,
                &credentials.access_token,
                stored.content,
                &stored.mime_type,
                &filename,
            )
            .await
        {
            Ok(upload) => {
                store::media::record_upload(&self.pg, org, media_id, &upload.id).await?;
                tracing::info!(campaign.id = campaign_id, media.id = media_id, "header media renewed with Meta");
                Ok(true)
            }
            Err(e) => {
                // The token is cut from anything Meta echoed back, in case it ever does.
                let error = e.to_string().replace(credentials.access_token.as_str(), "[redacted]");
                tracing::warn!(campaign.id = campaign_id, media.id = media_id, %error,
                    "renewing the header media failed; keeping its current id");
                Ok(false)
            }
        }
    }

    /// Sends one recipient's message, at most once per claim, with one
    /// statement per ledger read and write (no dispatch check: for sends
    /// started by hand and tests).
    pub async fn send(&self, campaign_id: i64, contact_id: i64) -> Result<SendResult, SendFailure> {
        let ledger = Ledger::direct(self.pg.clone(), "direct");
        self.send_with(&ledger, JobKey::new(campaign_id, contact_id, None), None).await
    }

    /// [`Sender::send`] for the job `job`, through `ledger` (the pipeline's
    /// send workers batch their ledger reads and writes, [`Ledger::batched`]),
    /// holding one of `slots` (the process's send slots) from its turn in the
    /// limiter's line until its outcome is recorded: the sends further back
    /// in a line (a paced campaign's queued seconds) wait without one, so
    /// they never crowd out another campaign's sends.
    ///
    /// The order matters: the job first checks that its row is queued for
    /// it and due (a stale or early job takes no rate-limiter token), then
    /// takes a token, then claims the row, then sends; a token taken longer
    /// than [`FRESH_TOKEN`] before the request (a stall in between) is taken
    /// again, so a stall never releases a burst of sends.
    #[tracing::instrument(skip(self, ledger, slots), fields(campaign.id = job.campaign_id, contact.id = job.contact_id))]
    pub async fn send_with(
        &self,
        ledger: &Ledger,
        job: JobKey,
        slots: Option<&Arc<Semaphore>>,
    ) -> Result<SendResult, SendFailure> {
        let before = SendFailure::BeforeClaim;
        let Some(limits) = ledger.limits(job.campaign_id).await.map_err(|e| before(e.into()))? else {
            return Ok(SendResult::NothingToDo);
        };
        match ledger.peek(job).await.map_err(before)? {
            Peek::Gone => return Ok(SendResult::NothingToDo),
            Peek::NotDue(at) => {
                // A job run before its back-off is over (apalis schedules in
                // whole seconds) comes back when it is.
                let after = (at - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(50);
                return Ok(SendResult::Retry { after });
            }
            Peek::Ready => {}
        }
        if limits.paced_to_zero() {
            // Reply-aware pacing waits for the support team: a queued send
            // checks again shortly, without taking a token from the limiter.
            return Ok(SendResult::Waiting { after: Duration::from_secs(1) });
        }
        // A token this worker cannot decrypt (APP_ENCRYPTION_KEY rotated, or a
        // worker with the wrong key) fails every send of the campaign: stop it.
        let Ok(token) = numbers::decrypt_access_token(&self.cipher, OrgId(limits.org_id), &limits.access_token_enc)
        else {
            return self
                .halt(
                    job.campaign_id,
                    "number_token_undecryptable",
                    "the number's access token cannot be decrypted with this worker's APP_ENCRYPTION_KEY; register \
                     the number's token again, or give the workers the key it was stored with",
                )
                .await;
        };
        let rates = Rate::number_tier(f64::from(limits.throughput_per_sec))
            .and_then(|number| Ok((number, Rate::campaign_pace(limits.pace_per_second())?)));
        let Ok((number_rate, campaign_rate)) = rates else {
            return self
                .halt(
                    job.campaign_id,
                    "invalid_pace",
                    "the campaign's pace or the number's throughput is not a valid rate",
                )
                .await;
        };
        let number = NumberLimit::new(limits.phone_number_id.clone(), number_rate);
        let campaign = CampaignLimit::new(job.campaign_id, campaign_rate);
        let slot = async {
            match slots {
                Some(slots) => slots.clone().acquire_owned().await.map(Some),
                None => Ok(None),
            }
        };
        let (acquired, slot) = match self.acquire_holding(&number, &campaign, slot).await? {
            Ok(at) => at,
            Err(after) => return Ok(SendResult::Waiting { after }),
        };
        let _slot = slot.map_err(|_| before(anyhow::anyhow!("the send slots are closed")))?;
        let Some(claim) = ledger.claim(job).await.map_err(before)? else {
            return Ok(SendResult::NothingToDo);
        };
        match self.prepare(ledger, &claim).await {
            Ok(Prepared::Send(request)) => {
                if acquired.elapsed() > FRESH_TOKEN {
                    let again = self.limiter.acquire_again(&number, &campaign, self.policy.max_limiter_wait).await;
                    let wait = match again {
                        Ok(_) => None,
                        Err(LimitError::WaitTooLong { last, .. }) => Some(last.map_or(self.policy.base, |w| w.delay)),
                        Err(_) => Some(self.policy.base),
                    };
                    if let Some(after) = wait {
                        // No fresh token: nothing has left, the row goes back as it was.
                        let at = Utc::now() + TimeDelta::from_std(after).unwrap_or_default();
                        self.record(ledger, &claim, &Outcome::Released { at }).await.map_err(SendFailure::Ambiguous)?;
                        return Ok(SendResult::Retry { after });
                    }
                }
                self.transmit(ledger, &claim, &token, &request).await.map_err(SendFailure::Ambiguous)
            }
            Ok(Prepared::Done(result)) => Ok(result),
            Err(e) => self.prepare_failed(ledger, &claim, e).await,
        }
    }

    /// One token from the number and the campaign, awaiting `on_turn` (a send
    /// slot) once the job is first in its process's line for the pair
    /// ([`Limiter::acquire_on_turn`]): when it was taken and what `on_turn`
    /// gave, or how long to wait before the job should try again.
    async fn acquire_holding<T>(
        &self,
        number: &NumberLimit,
        campaign: &CampaignLimit,
        on_turn: impl Future<Output = T>,
    ) -> Result<Result<(Instant, T), Duration>, SendFailure> {
        match self.limiter.acquire_on_turn(number, campaign, self.policy.max_limiter_wait, on_turn).await {
            Ok((waited, held)) => {
                limiter_waited(&number.phone_number_id, "acquired", waited);
                Ok(Ok((Instant::now(), held)))
            }
            Err(LimitError::WaitTooLong { waited, last }) => {
                limiter_waited(&number.phone_number_id, "gave_up", waited);
                // Its turn in line did not come in time: back to the queue, and soon in line again.
                Ok(Err(last.map_or(Duration::from_secs(1), |w| w.delay)))
            }
            Err(e) => Err(SendFailure::BeforeClaim(e.into())),
        }
    }

    /// Stops a campaign that cannot send at all (a systemic cause, not one
    /// recipient's): paused with a readable reason, for an operator to fix
    /// and resume. Its rows wait in the queue.
    async fn halt(&self, campaign_id: i64, code: &str, reason: &str) -> Result<SendResult, SendFailure> {
        if campaigns::pause(&self.pg, campaign_id, code, reason)
            .await
            .map_err(|e| SendFailure::BeforeClaim(e.into()))?
        {
            tracing::error!(campaign.id = campaign_id, %code, %reason, "campaign paused: it cannot send");
        }
        Ok(SendResult::Paused { code: code.to_owned() })
    }

    /// Preparing the message failed (nothing has left): the row goes back to
    /// the queue after its back-off, and fails with `prepare_failed` once its
    /// attempts are used up.
    async fn prepare_failed(
        &self,
        ledger: &Ledger,
        claim: &Claim,
        e: anyhow::Error,
    ) -> Result<SendResult, SendFailure> {
        let reason = format!("the message could not be prepared: {e:#}");
        if claim.attempts_used() >= self.policy.max_attempts {
            let outcome = Outcome::Failed { code: "prepare_failed", reason: &reason, meta_code: None };
            self.record(ledger, claim, &outcome).await.map_err(SendFailure::Ambiguous)?;
            return Ok(SendResult::Failed { code: "prepare_failed".into(), attempts_exhausted: true });
        }
        let retry_after = self.policy.backoff(claim.attempts_used());
        let at = Utc::now() + TimeDelta::from_std(retry_after).unwrap_or_default();
        let outcome = Outcome::Retry { at, code: "prepare_failed", reason: &reason };
        self.record(ledger, claim, &outcome).await.map_err(SendFailure::Ambiguous)?;
        Err(SendFailure::AfterClaim { error: e, retry_after })
    }

    /// Everything between the claim and the request; no message has left.
    async fn prepare(&self, ledger: &Ledger, claim: &Claim) -> anyhow::Result<Prepared> {
        let excluded = if claim.opted_out {
            Some("opted_out")
        } else if claim.open_inbox_case {
            Some("open_inbox_case")
        } else {
            None
        };
        if let Some(code) = excluded {
            self.record(ledger, claim, &Outcome::Excluded { code }).await?;
            return Ok(Prepared::Done(SendResult::Excluded { code }));
        }
        let bindings: Vec<Binding> = serde_json::from_value(claim.bindings.clone())?;
        let values: FrozenValues = claim.params.clone().map(serde_json::from_value).transpose()?.unwrap_or_default();
        let params = match render(&bindings, &values) {
            Ok(params) => params,
            Err(exclusion) => {
                let code = exclusion.code();
                self.record(ledger, claim, &Outcome::Excluded { code }).await?;
                return Ok(Prepared::Done(SendResult::Excluded { code }));
            }
        };
        Ok(Prepared::Send(request(claim, &params, &CallbackKey::new(&self.cipher))))
    }

    /// Sends and records the answer. From here on an error leaves the row in
    /// `sending`: the message may have left, so the sweeper makes it
    /// `in_doubt` rather than anything retrying it.
    async fn transmit(
        &self,
        ledger: &Ledger,
        claim: &Claim,
        token: &str,
        request: &SendTemplateRequest,
    ) -> anyhow::Result<SendResult> {
        match self.cloud.send_template(&claim.phone_number_id, token, request).await {
            Ok(response) => {
                let Some(wamid) = response.message_id() else {
                    // A 200 without a message id: Meta may have sent it.
                    count_send(&claim.phone_number_id, "in_doubt", "no_message_id");
                    self.record(ledger, claim, &Outcome::InDoubt { reason: "accepted without a message id" }).await?;
                    return Ok(SendResult::InDoubt);
                };
                count_send(&claim.phone_number_id, "accepted", "none");
                let wa_id = response.contacts.first().and_then(|c| c.wa_id.as_deref());
                self.record(ledger, claim, &Outcome::Accepted { wamid, wa_id }).await?;
                Ok(SendResult::Accepted { wamid: wamid.to_owned() })
            }
            Err(SendError::OutcomeUnknown { cause }) => {
                tracing::warn!(error.cause_chain = ?cause, "send outcome unknown");
                count_send(&claim.phone_number_id, "in_doubt", "outcome_unknown");
                self.record(
                    ledger,
                    claim,
                    &Outcome::InDoubt { reason: "outcome unknown: the request may have been sent" },
                )
                .await?;
                Ok(SendResult::InDoubt)
            }
            Err(SendError::NotSent { cause }) => self.not_sent(ledger, claim, &cause).await,
        }
    }

    /// Meta definitely did not send: retry, fail, or brake, by error class.
    async fn not_sent(&self, ledger: &Ledger, claim: &Claim, cause: &NotSent) -> anyhow::Result<SendResult> {
        let (class, code, reason, meta_code) = match cause {
            NotSent::Graph { error, classified, .. } => {
                (classified.class, classified.stable_code.to_string(), classified.reason.to_string(), Some(error.code))
            }
            NotSent::Connect(_) => {
                (ErrorClass::RetryNow, "cloud_unreachable".into(), "could not reach the Cloud API".into(), None)
            }
            NotSent::Http { status, .. } => {
                (ErrorClass::Permanent, "cloud_refused".into(), format!("the Cloud API answered HTTP {status}"), None)
            }
            NotSent::InvalidRequest(_) => {
                (ErrorClass::Permanent, "invalid_request".into(), "the request could not be built".into(), None)
            }
        };
        if meta_code == Some(130_429)
            && let Err(e) = self.limiter.pause_number(&claim.phone_number_id, self.policy.throttle_pause).await
        {
            // The outcome must still be recorded; the next 130429 pauses again.
            tracing::warn!(error.cause_chain = ?e, "could not pause the number after 130429");
        }
        if meta_code == Some(MESSAGING_LIMIT_REFUSED) {
            return self.over_messaging_limit(ledger, claim, &code).await;
        }
        let outcome = match class {
            ErrorClass::Halt => "paused",
            ErrorClass::RetryNow | ErrorClass::RetryLater if claim.attempts_used() < self.policy.max_attempts => {
                "retry"
            }
            _ => "failed",
        };
        count_send(&claim.phone_number_id, outcome, &code);
        if class == ErrorClass::Halt {
            // The sender itself cannot send (token, account, template state):
            // failing every contact one by one would be wrong. Pause the
            // campaign with the reason; the row waits in the queue for a resume.
            let why = format!("WhatsApp refused to send from this campaign: {reason} ({code})");
            if campaigns::pause(&self.pg, claim.campaign_id, &code, &why).await? {
                tracing::warn!(campaign.id = claim.campaign_id, %code, "campaign paused");
            }
            let at = Utc::now();
            self.record(ledger, claim, &Outcome::Retry { at, code: &code, reason: &reason }).await?;
            return Ok(SendResult::Paused { code });
        }
        let retryable = matches!(class, ErrorClass::RetryNow | ErrorClass::RetryLater);
        if retryable && claim.attempts_used() < self.policy.max_attempts {
            let after = self.policy.backoff(claim.attempts_used());
            let at = Utc::now() + TimeDelta::from_std(after)?;
            self.record(ledger, claim, &Outcome::Retry { at, code: &code, reason: &reason }).await?;
            return Ok(SendResult::Retry { after });
        }
        if class == ErrorClass::OptOut
            && let Err(e) =
                store::opt_outs::record(&self.pg, OrgId(claim.org_id), &claim.phone, "meta_131050", &reason).await
        {
            tracing::warn!(error.cause_chain = ?e, "could not record the opt-out Meta reported");
        }
        self.record(ledger, claim, &Outcome::Failed { code: &code, reason: &reason, meta_code }).await?;
        Ok(SendResult::Failed { code, attempts_exhausted: retryable })
    }

    /// Meta refused the send for the portfolio's messaging limit although
    /// the budget had room (another sender shares the portfolio, or the tier
    /// went down): back-pressure, never a failure. Nothing was sent, so the
    /// attempt is given back and the row waits out the hold; the portfolio's
    /// fan-out stops until then, and the number's tier is read again.
    async fn over_messaging_limit(&self, ledger: &Ledger, claim: &Claim, code: &str) -> anyhow::Result<SendResult> {
        count_send(&claim.phone_number_id, "retry", code);
        let until = Utc::now() + TimeDelta::from_std(self.policy.limit_hold)?;
        if let Some(portfolio) = numbers::tier_stale(&self.pg, &claim.phone_number_id).await? {
            let why = "Meta refused a send for the portfolio's messaging limit";
            store::messaging_limit::hold(&self.pg, claim.org_id, &portfolio, until, why).await?;
            tracing::warn!(campaign.id = claim.campaign_id, %portfolio, %until,
                "Meta refused a send for the messaging limit; the portfolio's sends wait");
        }
        self.record(ledger, claim, &Outcome::Released { at: until }).await?;
        Ok(SendResult::Retry { after: self.policy.limit_hold })
    }

    async fn record(&self, ledger: &Ledger, claim: &Claim, outcome: &Outcome<'_>) -> anyhow::Result<()> {
        if !ledger.record(claim.campaign_id, claim.contact_id, claim.attempt, outcome).await? {
            // A sweeper moved the row on (e.g. to in_doubt) while we sent.
            tracing::warn!(attempt = claim.attempt, ?outcome, "the recipient moved on before the outcome was recorded");
        }
        Ok(())
    }
}

/// Counts one answer of the Cloud API (`sends_total`) by number, outcome
/// and our stable code for Meta's error (`none` when accepted): bounded
/// labels, never Meta's free text.
fn count_send(phone_number_id: &str, outcome: &'static str, code: &str) {
    metrics::counter!("sends_total", "phone_number_id" => phone_number_id.to_owned(), "outcome" => outcome,
        "code" => code.to_owned())
    .increment(1);
}

/// Records how long a send waited for the limiter (`limiter_wait_seconds`),
/// by number and whether it got its turn (`acquired`) or went back to the
/// queue (`gave_up`).
fn limiter_waited(phone_number_id: &str, outcome: &'static str, waited: Duration) {
    metrics::histogram!("limiter_wait_seconds", "phone_number_id" => phone_number_id.to_owned(), "outcome" => outcome)
        .record(waited.as_secs_f64());
}

/// What the steps before the request decided.
enum Prepared {
    Send(SendTemplateRequest),
    Done(SendResult),
}

/// The Cloud API request for a claimed recipient.
fn request(claim: &Claim, params: &[Param], callbacks: &CallbackKey) -> SendTemplateRequest {
    let named = claim.parameter_format == "NAMED";
    let text =
        |p: &Param| if named { TextParameter::named(&p.param, &p.text) } else { TextParameter::positional(&p.text) };
    let mut components = Vec::new();
    let mut header: Vec<HeaderParameter> = params
        .iter()
        .filter(|p| p.component == Component::Header)
        .map(|p| HeaderParameter::Text { parameter_name: named.then(|| p.param.clone()), text: p.text.clone() })
        .collect();
    if let Some(id) = &claim.header_media_meta_id {
        let media = MediaSource::Id(id.clone());
        header.push(match claim.header_media_kind.as_deref() {
            Some("video") => HeaderParameter::Video { video: media },
            _ => HeaderParameter::Image { image: media },
        });
    }
    if !header.is_empty() {
        components.push(whatsapp::send::Component::Header { parameters: header });
    }
    let body: Vec<TextParameter> = params.iter().filter(|p| p.component == Component::Body).map(text).collect();
    if !body.is_empty() {
        components.push(whatsapp::send::Component::Body { parameters: body });
    }
    SendTemplateRequest {
        to: claim.phone.clone(),
        template: Template {
            name: claim.template_name.clone(),
            language: Language { code: claim.template_language.clone() },
            components,
        },
        // Comes back on every status webhook of the message: how a `sending`
        // or `in_doubt` row is resolved (store::statuses). Its MAC makes it
        // unforgeable.
        biz_opaque_callback_data: Some(
            Callback { campaign_id: claim.campaign_id, contact_id: claim.contact_id, attempt: claim.attempt }
                .encode(callbacks),
        ),
    }
}
