//! The send side of the recipient ledger (ARCHITECTURE "Sending exactly
//! once"): a send job claims its row (`queued → sending`, one winner), and
//! records exactly one outcome for that attempt. Every write after the claim
//! is guarded by the state and the attempt number, so a stale or duplicated
//! job can never overwrite a newer outcome.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// Everything a send job needs, read in the same statement that claims the row.
#[derive(Debug, Clone)]
pub struct Claim {
    pub campaign_id: i64,
    pub contact_id: i64,
    pub org_id: i64,
    /// This attempt's number (1 for the first): it goes into `biz_opaque_callback_data`.
    pub attempt: i32,
    pub phone: String,
    /// The values frozen at planning (`domain::campaign::FrozenValues`).
    pub params: Option<serde_json::Value>,
    pub number_id: i64,
    pub phone_number_id: String,
    pub template_name: String,
    pub template_language: String,
    pub parameter_format: String,
    pub header_format: Option<String>,
    /// Meta's id of the header media, when the template has a media header.
    pub header_media_meta_id: Option<String>,
    pub header_media_kind: Option<String>,
    pub bindings: serde_json::Value,
    pub delivery_policy: String,
    /// Checked now: an agent may have opened a case since planning.
    pub open_inbox_case: bool,
    pub opted_out: bool,
}

/// Claims a queued recipient of an active, unpaused campaign whose back-off
/// (if any) is over: exactly one caller wins; everyone else (a duplicated or
/// early job, a finished campaign) gets `None` and has nothing to do. A row
/// whose contact was deleted is excluded (`contact_deleted`) instead.
pub async fn claim(db: impl PgExecutor<'_>, campaign_id: i64, contact_id: i64) -> sqlx::Result<Option<Claim>> {
    Ok(claim_many(db, &[(campaign_id, contact_id)]).await?.pop())
}

/// [`claim`] for many `(campaign_id, contact_id)` pairs in one statement (the
/// send workers batch the claims of the sends running in a process): each
/// pair is claimed exactly as [`claim`] would; the claims won are returned,
/// in no particular order. A pair given twice is claimed once.
pub async fn claim_many(db: impl PgExecutor<'_>, pairs: &[(i64, i64)]) -> sqlx::Result<Vec<Claim>> {
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    // In key order, so concurrent batches lock their rows in the same order.
    let mut pairs = pairs.to_vec();
    pairs.sort_unstable();
    pairs.dedup();
    let (campaign_ids, contact_ids): (Vec<i64>, Vec<i64>) = pairs.into_iter().unzip();
    sqlx::query_as!(
        Claim,
        r#"with gone as (
               -- A contact deleted since its row was queued is never messaged (the
               -- deletion excludes the rows it finds; this catches one that came
               -- back to `queued` from a send in flight at that moment).
               update recipients r
               set state = 'excluded', reason_code = 'contact_deleted', reason = null, next_attempt_at = null,
                   updated_at = now()
               from unnest($1::bigint[], $2::bigint[]) as w(campaign_id, contact_id)
               where r.campaign_id = w.campaign_id and r.contact_id = w.contact_id and (r.state || '') = 'queued'
                 and not exists (select 1 from contacts c where c.id = r.contact_id)
           ),
           claimed as (
               update recipients r
               set state = 'sending', attempt = r.attempt + 1, sending_at = now(), next_attempt_at = null,
                   updated_at = now()
               from unnest($1::bigint[], $2::bigint[]) as w(campaign_id, contact_id), campaigns cp
               -- `state || ''`: not indexable on purpose. Statistics see few
               -- queued rows (the window is small next to the ledger), so the
               -- planner would scan a campaign's whole window through
               -- (campaign_id, state) for every pair instead of one
               -- primary-key lookup each (measured: ~1,000 rows read per claim).
               where r.campaign_id = w.campaign_id and r.contact_id = w.contact_id and (r.state || '') = 'queued'
                 and (r.next_attempt_at is null or r.next_attempt_at <= now())
                 and cp.id = r.campaign_id and cp.lifecycle = 'active' and cp.paused_at is null
                 and exists (select 1 from contacts c where c.id = r.contact_id)
               returning r.campaign_id, r.contact_id, r.org_id, r.attempt, r.phone, r.params
           )
           select c.campaign_id, c.contact_id, c.org_id, c.attempt, c.phone, c.params,
                  n.id as number_id, n.phone_number_id, t.name as template_name, t.language as template_language,
                  t.parameter_format, t.header_format,
                  m.meta_media_id as "header_media_meta_id?", m.kind as "header_media_kind?",
                  cp.bindings, cp.delivery_policy,
                  exists (select 1 from inbox_cases ic where ic.contact_id = c.contact_id and ic.closed_at is null)
                      as "open_inbox_case!",
                  exists (select 1 from opt_outs o where o.org_id = c.org_id and o.phone = c.phone) as "opted_out!"
           from claimed c
           join campaigns cp on cp.id = c.campaign_id
           join wa_numbers n on n.id = cp.number_id
           join templates t on t.id = cp.template_id
           left join media_assets m on m.id = cp.header_media_id"#,
        &campaign_ids,
        &contact_ids
    )
    .fetch_all(db)
    .await
}

/// One attempt's outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<'a> {
    /// Meta accepted the message.
    Accepted { wamid: &'a str, wa_id: Option<&'a str> },
    /// It will never be sent: a stable code, a readable reason, Meta's code if any.
    Failed { code: &'a str, reason: &'a str, meta_code: Option<i64> },
    /// Not sent, by rule, at send time (opted out, open inbox case).
    Excluded { code: &'a str },
    /// Not sent, retry at `at` (throttling, a transient fault before the request left).
    Retry { at: DateTime<Utc>, code: &'a str, reason: &'a str },
    /// It may or may not have gone out; a status webhook carrying our callback
    /// data resolves it, or the campaign's policy after the reconcile window.
    InDoubt { reason: &'a str },
}

/// Records the outcome of attempt `attempt`; `false` when the row is no
/// longer in that attempt (another job or a sweeper settled it).
pub async fn record(
    db: impl PgExecutor<'_>,
    campaign_id: i64,
    contact_id: i64,
    attempt: i32,
    outcome: &Outcome<'_>,
) -> sqlx::Result<bool> {
    let row = Recorded::new(campaign_id, contact_id, attempt, outcome);
    Ok(!record_many(db, std::slice::from_ref(&row)).await?.is_empty())
}

/// One attempt's outcome as [`record_many`] writes it: owned, so it can be
/// handed to a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub campaign_id: i64,
    pub contact_id: i64,
    pub attempt: i32,
    state: &'static str,
    wamid: Option<String>,
    wa_id: Option<String>,
    code: Option<String>,
    reason: Option<String>,
    meta_code: Option<i64>,
    retry_at: Option<DateTime<Utc>>,
}

impl Recorded {
    pub fn new(campaign_id: i64, contact_id: i64, attempt: i32, outcome: &Outcome<'_>) -> Self {
        let owned = |s: &str| Some(s.to_owned());
        let (state, wamid, wa_id, code, reason, meta_code, retry_at) = match *outcome {
            Outcome::Accepted { wamid, wa_id } => {
                ("accepted", owned(wamid), wa_id.and_then(owned), None, None, None, None)
            }
            Outcome::Failed { code, reason, meta_code } => {
                ("failed", None, None, owned(code), owned(reason), meta_code, None)
            }
            Outcome::Excluded { code } => ("excluded", None, None, owned(code), None, None, None),
            Outcome::Retry { at, code, reason } => ("queued", None, None, owned(code), owned(reason), None, Some(at)),
            Outcome::InDoubt { reason } => {
                ("in_doubt", None, None, owned("outcome_unknown"), owned(reason), None, None)
            }
        };
        Self { campaign_id, contact_id, attempt, state, wamid, wa_id, code, reason, meta_code, retry_at }
    }
}

/// [`record`] for many attempts in one statement (the send workers batch the
/// outcomes of the sends running in a process). Returns the
/// `(campaign_id, contact_id)` pairs that were recorded; the others are no
/// longer in that attempt. Give each pair at most once.
pub async fn record_many(db: impl PgExecutor<'_>, rows: &[Recorded]) -> sqlx::Result<Vec<(i64, i64)>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // In key order, so concurrent batches lock their rows in the same order.
    let mut sorted: Vec<&Recorded> = rows.iter().collect();
    sorted.sort_unstable_by_key(|r| (r.campaign_id, r.contact_id));
    let column = |f: fn(&Recorded) -> Option<String>| sorted.iter().map(|r| f(r)).collect::<Vec<_>>();
    let (wamids, wa_ids) = (column(|r| r.wamid.clone()), column(|r| r.wa_id.clone()));
    let (codes, reasons) = (column(|r| r.code.clone()), column(|r| r.reason.clone()));
    // From `in_doubt` too: a slow sender's real answer, arriving after the
    // sweeper gave up on it, is better than "outcome unknown". A retry for a
    // campaign that is no longer active (finished meanwhile) excludes the
    // contact instead of leaving it queued where nothing will look again.
    let done = sqlx::query!(
        r#"update recipients r set
               state = case when u.state = 'queued' and not exists
                                 (select 1 from campaigns where id = r.campaign_id and lifecycle = 'active')
                            then 'excluded' else u.state end,
               wamid = coalesce(u.wamid, r.wamid),
               wa_id = coalesce(u.wa_id, r.wa_id),
               reason_code = case when u.state = 'queued' and not exists
                                       (select 1 from campaigns where id = r.campaign_id and lifecycle = 'active')
                                  then 'campaign_finished' else u.code end,
               reason = u.reason,
               meta_error_code = u.meta_code::integer,
               next_attempt_at = u.retry_at,
               accepted_at = case when u.state = 'accepted' then now() else r.accepted_at end,
               failed_at = case when u.state = 'failed' then now() else r.failed_at end,
               updated_at = now()
           from unnest($1::bigint[], $2::bigint[], $3::integer[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::text[], $9::bigint[], $10::timestamptz[])
                as u(campaign_id, contact_id, attempt, state, wamid, wa_id, code, reason, meta_code, retry_at)
           where r.campaign_id = u.campaign_id and r.contact_id = u.contact_id
             and r.state in ('sending', 'in_doubt') and r.attempt = u.attempt
           returning r.campaign_id, r.contact_id"#,
        &sorted.iter().map(|r| r.campaign_id).collect::<Vec<_>>(),
        &sorted.iter().map(|r| r.contact_id).collect::<Vec<_>>(),
        &sorted.iter().map(|r| r.attempt).collect::<Vec<_>>(),
        &sorted.iter().map(|r| r.state.to_owned()).collect::<Vec<_>>(),
        &wamids as &[Option<String>],
        &wa_ids as &[Option<String>],
        &codes as &[Option<String>],
        &reasons as &[Option<String>],
        &sorted.iter().map(|r| r.meta_code).collect::<Vec<_>>() as &[Option<i64>],
        &sorted.iter().map(|r| r.retry_at).collect::<Vec<_>>() as &[Option<DateTime<Utc>>]
    )
    .fetch_all(db)
    .await?;
    Ok(done.into_iter().map(|r| (r.campaign_id, r.contact_id)).collect())
}

/// What paces a campaign's sends: its number's Meta throughput and the
/// campaign's own pace (contacts per hour when it was scheduled).
#[derive(Debug, Clone)]
pub struct SendLimits {
    pub org_id: i64,
    pub number_id: i64,
    pub phone_number_id: String,
    /// Encrypted: [`crate::numbers::decrypt_access_token`]. Read here so a
    /// send costs no separate query for it.
    pub access_token_enc: Vec<u8>,
    pub throughput_per_sec: i32,
    pub pace_per_second: Option<f64>,
    pub pace_per_hour: Option<i32>,
}

impl SendLimits {
    /// The campaign's pace in contacts per second: its schedule's, else its
    /// launch-now pace, else as fast as its number may send.
    pub fn pace_per_second(&self) -> f64 {
        match (self.pace_per_hour, self.pace_per_second) {
            (Some(per_hour), _) => f64::from(per_hour) / 3600.0,
            (None, Some(per_second)) => per_second,
            (None, None) => f64::from(self.throughput_per_sec),
        }
    }
}

/// The limits of an active, unpaused campaign, read before waiting on the limiter.
pub async fn send_limits(db: impl PgExecutor<'_>, campaign_id: i64) -> sqlx::Result<Option<SendLimits>> {
    sqlx::query_as!(
        SendLimits,
        r#"select cp.org_id, n.id as number_id, n.phone_number_id, n.access_token_enc, n.throughput_per_sec,
                  cp.pace_per_second, cp.pace_per_hour
           from campaigns cp join wa_numbers n on n.id = cp.number_id
           where cp.id = $1 and cp.lifecycle = 'active' and cp.paused_at is null"#,
        campaign_id
    )
    .fetch_optional(db)
    .await
}

/// Sweeper: a row left in `sending` longer than `older_than` means its sender
/// died between the claim and the record; the message may have gone out, so
/// it becomes `in_doubt` (never re-sent blindly). Returns how many.
pub async fn sweep_stuck_sending(db: impl PgExecutor<'_>, older_than: std::time::Duration) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        r#"update recipients set state = 'in_doubt', reason_code = 'outcome_unknown',
                  reason = 'the sender stopped between sending and recording the answer', updated_at = now()
           where state = 'sending' and sending_at < now() - make_interval(secs => $1)"#,
        older_than.as_secs_f64()
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// What the reconcile sweep decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    /// `at_most_once` campaigns: failed, "outcome unknown, not retried".
    pub failed: u64,
    /// `at_least_once` campaigns: back to the queue for another attempt.
    pub requeued: u64,
}

/// Sweeper: rows in doubt for longer than `window` without a webhook are
/// settled by their campaign's delivery policy.
/// `at_least_once` rows that already used `max_attempts` fail too: a
/// Cloud API that keeps hanging must not make us resend forever.
pub async fn reconcile_in_doubt(
    db: &crate::PgPool,
    window: std::time::Duration,
    max_attempts: i32,
) -> sqlx::Result<Reconciled> {
    let secs = window.as_secs_f64();
    let failed = sqlx::query!(
        r#"update recipients r set state = 'failed', failed_at = now(), reason_code = 'outcome_unknown',
                  reason = 'outcome unknown, not retried', updated_at = now()
           from campaigns cp
           where cp.id = r.campaign_id
             and (cp.delivery_policy = 'at_most_once' or r.attempt >= $2 or cp.lifecycle <> 'active')
             and r.state = 'in_doubt' and r.updated_at < now() - make_interval(secs => $1)"#,
        secs,
        max_attempts
    )
    .execute(db)
    .await?;
    let requeued = sqlx::query!(
        r#"update recipients r set state = 'queued', queued_at = now(), next_attempt_at = now(), updated_at = now()
           from campaigns cp
           where cp.id = r.campaign_id and cp.delivery_policy = 'at_least_once' and cp.lifecycle = 'active'
             and r.attempt < $2
             and r.state = 'in_doubt' and r.updated_at < now() - make_interval(secs => $1)"#,
        secs,
        max_attempts
    )
    .execute(db)
    .await?;
    Ok(Reconciled { failed: failed.rows_affected(), requeued: requeued.rows_affected() })
}

/// Sweeper: queued recipients of sending campaigns whose job may be lost
/// (Redis flushed, a push that failed after the rows were queued): queued
/// longer than `older_than` (or past their retry time by that much). Their
/// `queued_at` is bumped so the next sweep does not return them again at
/// once; the caller pushes a job for each (the claim makes a duplicate harmless).
pub async fn requeue_stale(
    db: impl PgExecutor<'_>,
    older_than: std::time::Duration,
    limit: i64,
) -> sqlx::Result<Vec<(i64, i64)>> {
    let rows = sqlx::query!(
        r#"with stale as materialized (
               select r.campaign_id, r.contact_id from recipients r
               join campaigns cp on cp.id = r.campaign_id
               where cp.lifecycle = 'active' and cp.paused_at is null and r.state = 'queued'
                 and coalesce(r.next_attempt_at, r.queued_at) < now() - make_interval(secs => $1)
               limit $2
               for update of r skip locked
           )
           update recipients r set queued_at = now(), next_attempt_at = null
           from stale s where r.campaign_id = s.campaign_id and r.contact_id = s.contact_id
           returning r.campaign_id, r.contact_id"#,
        older_than.as_secs_f64(),
        limit
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.campaign_id, r.contact_id)).collect())
}
