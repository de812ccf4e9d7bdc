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
    /// The attempts made before the row's dead letter was replayed: the
    /// retry budget counts from here.
    pub attempts_before_replay: i32,
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

/// One send job's key: the ledger row and, for a job the pipeline pushed,
/// the `dispatch` number it was pushed with. A job whose number is not the
/// row's current one is stale (another push of the row replaced it) and does
/// nothing. `None` skips that check (a send started by hand or a test).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobKey {
    pub campaign_id: i64,
    pub contact_id: i64,
    pub dispatch: Option<i32>,
}

impl JobKey {
    pub fn new(campaign_id: i64, contact_id: i64, dispatch: Option<i32>) -> Self {
        Self { campaign_id, contact_id, dispatch }
    }
}

/// What a job would find if it claimed now, read before it waits for the
/// rate limiter (so a job that cannot claim never takes a token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peek {
    /// Queued for this job, due now.
    Ready,
    /// Queued for this job, but its back-off runs until then.
    NotDue(DateTime<Utc>),
    /// Nothing for this job: sent, settled, or queued for another job.
    Gone,
}

/// [`Peek`] for many jobs in one statement, in the order given.
pub async fn peek_many(db: impl PgExecutor<'_>, jobs: &[JobKey]) -> sqlx::Result<Vec<Peek>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query!(
        r#"select w.i as "i!", r.next_attempt_at
           from unnest($1::bigint[], $2::bigint[], $3::integer[]) with ordinality
                as w(campaign_id, contact_id, dispatch, i)
           join recipients r on r.campaign_id = w.campaign_id and r.contact_id = w.contact_id
           where (r.state || '') = 'queued' and (w.dispatch is null or r.dispatch = w.dispatch)"#,
        &jobs.iter().map(|j| j.campaign_id).collect::<Vec<_>>(),
        &jobs.iter().map(|j| j.contact_id).collect::<Vec<_>>(),
        &jobs.iter().map(|j| j.dispatch).collect::<Vec<_>>() as &[Option<i32>],
    )
    .fetch_all(db)
    .await?;
    let mut out = vec![Peek::Gone; jobs.len()];
    let now = Utc::now();
    for row in rows {
        let Some(slot) = usize::try_from(row.i - 1).ok().and_then(|i| out.get_mut(i)) else { continue };
        *slot = match row.next_attempt_at {
            Some(at) if at > now => Peek::NotDue(at),
            _ => Peek::Ready,
        };
    }
    Ok(out)
}

impl Claim {
    /// Attempts made since the row's retry budget last started (at its
    /// planning, or a replay of its dead letter).
    pub fn attempts_used(&self) -> i32 {
        self.attempt - self.attempts_before_replay
    }
}

/// Claims a queued recipient of an active, unpaused campaign whose back-off
/// (if any) is over, for the job `job`: exactly one caller wins; everyone
/// else (a duplicated, stale or early job, a finished campaign) gets `None`
/// and has nothing to do. A row whose contact was deleted is excluded
/// (`contact_deleted`) instead. `by` names the claiming process, so a dead
/// process's sends are recognised at once.
pub async fn claim(db: impl PgExecutor<'_>, job: JobKey, by: &str) -> sqlx::Result<Option<Claim>> {
    Ok(claim_many(db, &[job], by).await?.pop())
}

/// [`claim`] for many jobs in one statement (the send workers batch the
/// claims of the sends running in a process): each is claimed exactly as
/// [`claim`] would; the claims won are returned, in no particular order. A
/// row given twice is claimed once.
pub async fn claim_many(db: impl PgExecutor<'_>, jobs: &[JobKey], by: &str) -> sqlx::Result<Vec<Claim>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    // In key order, so concurrent batches lock their rows in the same order;
    // one job per row.
    let mut jobs = jobs.to_vec();
    jobs.sort_unstable();
    jobs.dedup_by_key(|j| (j.campaign_id, j.contact_id));
    let campaign_ids: Vec<i64> = jobs.iter().map(|j| j.campaign_id).collect();
    let contact_ids: Vec<i64> = jobs.iter().map(|j| j.contact_id).collect();
    let dispatches: Vec<Option<i32>> = jobs.iter().map(|j| j.dispatch).collect();
    sqlx::query_as!(
        Claim,
        r#"with gone as (
               -- A contact deleted since its row was queued is never messaged (the
               -- deletion excludes the rows it finds; this catches one that came
               -- back to `queued` from a send in flight at that moment).
               update recipients r
               set state = 'excluded', reason_code = 'contact_deleted', reason = null, next_attempt_at = null,
                   updated_at = now()
               from unnest($1::bigint[], $2::bigint[], $3::integer[]) as w(campaign_id, contact_id, dispatch)
               where r.campaign_id = w.campaign_id and r.contact_id = w.contact_id and (r.state || '') = 'queued'
                 and (w.dispatch is null or r.dispatch = w.dispatch)
                 and not exists (select 1 from contacts c where c.id = r.contact_id)
           ),
           claimed as (
               update recipients r
               set state = 'sending', attempt = r.attempt + 1, sending_at = now(), next_attempt_at = null,
                   sending_by = $4, updated_at = now()
               from unnest($1::bigint[], $2::bigint[], $3::integer[]) as w(campaign_id, contact_id, dispatch),
                    campaigns cp
               -- `state || ''`: not indexable on purpose. Statistics see few
               -- queued rows (the window is small next to the ledger), so the
               -- planner would scan a campaign's whole window through
               -- (campaign_id, state) for every pair instead of one
               -- primary-key lookup each (measured: ~1,000 rows read per claim).
               where r.campaign_id = w.campaign_id and r.contact_id = w.contact_id and (r.state || '') = 'queued'
                 and (w.dispatch is null or r.dispatch = w.dispatch)
                 and (r.next_attempt_at is null or r.next_attempt_at <= now())
                 and cp.id = r.campaign_id and cp.lifecycle = 'active' and cp.paused_at is null
                 and exists (select 1 from contacts c where c.id = r.contact_id)
               returning r.campaign_id, r.contact_id, r.org_id, r.attempt, r.attempts_before_replay, r.phone, r.params
           )
           select c.campaign_id, c.contact_id, c.org_id, c.attempt, c.attempts_before_replay, c.phone, c.params,
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
        &contact_ids,
        &dispatches as &[Option<i32>],
        by
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
    /// Nothing was sent: the row goes back to the queue, due at `at`, and
    /// the attempt does not count (its number is used again: no message ever
    /// carried it).
    Released { at: DateTime<Utc> },
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
    /// [`Outcome::Released`]: the attempt is given back.
    release: bool,
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
            Outcome::Released { at } => ("queued", None, None, None, None, None, Some(at)),
        };
        let release = matches!(outcome, Outcome::Released { .. });
        Self { campaign_id, contact_id, attempt, state, wamid, wa_id, code, reason, meta_code, retry_at, release }
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
               attempt = case when u.release then r.attempt - 1 else r.attempt end,
               accepted_at = case when u.state = 'accepted' then now() else r.accepted_at end,
               failed_at = case when u.state = 'failed' then now() else r.failed_at end,
               updated_at = now()
           from unnest($1::bigint[], $2::bigint[], $3::integer[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::text[], $9::bigint[], $10::timestamptz[], $11::boolean[])
                as u(campaign_id, contact_id, attempt, state, wamid, wa_id, code, reason, meta_code, retry_at, release)
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
        &sorted.iter().map(|r| r.retry_at).collect::<Vec<_>>() as &[Option<DateTime<Utc>>],
        &sorted.iter().map(|r| r.release).collect::<Vec<_>>()
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
    /// The pace reply-aware pacing set (never above the configured one);
    /// `None`: the configured pace. Zero: sending waits for the support team.
    pub paced_per_second: Option<f64>,
    /// The number's business portfolio and its messaging-limit tier.
    pub portfolio_id: String,
    pub messaging_tier: Option<String>,
    /// `campaigns.delivery_rules` (support capacity, quiet hours).
    pub delivery_rules: serde_json::Value,
    /// The planned recipients' distinct time zones, for quiet hours.
    pub recipient_zones: Option<Vec<String>>,
}

/// A campaign's configured pace in contacts per second: its schedule's
/// (contacts per hour), else its launch-now pace, else its number's throughput.
pub fn configured_pace(pace_per_hour: Option<i32>, pace_per_second: Option<f64>, throughput_per_sec: i32) -> f64 {
    match (pace_per_hour, pace_per_second) {
        (Some(per_hour), _) => f64::from(per_hour) / 3600.0,
        (None, Some(per_second)) => per_second,
        (None, None) => f64::from(throughput_per_sec),
    }
}

/// The slowest pace the limiter is given: a campaign paced to zero is not
/// fanned out at all, and the sends already queued go at this pace.
const SLOWEST_PACE: f64 = 1.0 / 600.0;

impl SendLimits {
    /// The configured pace in contacts per second: its schedule's, else its
    /// launch-now pace, else as fast as its number may send.
    pub fn configured_pace(&self) -> f64 {
        configured_pace(self.pace_per_hour, self.pace_per_second, self.throughput_per_sec)
    }

    /// The pace to send at now: the configured one, or reply-aware pacing's
    /// when it is lower.
    pub fn pace_per_second(&self) -> f64 {
        let configured = self.configured_pace();
        self.paced_per_second.map_or(configured, |p| p.min(configured)).max(SLOWEST_PACE)
    }

    /// Reply-aware pacing stopped sending until the support team catches up.
    pub fn paced_to_zero(&self) -> bool {
        self.paced_per_second.is_some_and(|p| p <= 0.0)
    }
}

/// The limits of an active, unpaused campaign, read before waiting on the limiter.
pub async fn send_limits(db: impl PgExecutor<'_>, campaign_id: i64) -> sqlx::Result<Option<SendLimits>> {
    sqlx::query_as!(
        SendLimits,
        r#"select cp.org_id, n.id as number_id, n.phone_number_id, n.access_token_enc, n.throughput_per_sec,
                  cp.pace_per_second, cp.pace_per_hour, cp.paced_per_second,
                  n.portfolio_id, n.messaging_tier,
                  cp.delivery_rules, cp.recipient_zones
           from campaigns cp join wa_numbers n on n.id = cp.number_id
           where cp.id = $1 and cp.lifecycle = 'active' and cp.paused_at is null"#,
        campaign_id
    )
    .fetch_optional(db)
    .await
}

/// Sweeper: a row left in `sending` longer than `older_than`, or claimed by a
/// worker process that stopped or has not been seen for `dead_after`, means
/// its sender died between the claim and the record; the message may have
/// gone out, so it becomes `in_doubt` (never re-sent blindly). Returns how many.
pub async fn sweep_stuck_sending(
    db: impl PgExecutor<'_>,
    older_than: std::time::Duration,
    dead_after: std::time::Duration,
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        r#"update recipients r set state = 'in_doubt', reason_code = 'outcome_unknown',
                  reason = 'the sender stopped between sending and recording the answer', updated_at = now()
           where r.state = 'sending'
             and (r.sending_at < now() - make_interval(secs => $1)
                  or r.sending_by in (select name from worker_processes
                                      where stopped_at is not null
                                         or last_seen_at < now() - make_interval(secs => $2)))"#,
        older_than.as_secs_f64(),
        dead_after.as_secs_f64()
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// What the reconcile sweep decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Proven never accepted by Meta (see [`Evidence`]): back in the queue,
    /// once, whatever the campaign's policy. The caller pushes their jobs.
    pub resent: Vec<JobKey>,
    /// `at_most_once` campaigns: failed, "outcome unknown, not retried".
    pub failed: u64,
    /// `at_least_once` campaigns: back in the queue for another attempt. The
    /// caller pushes their jobs.
    pub requeued: Vec<JobKey>,
}

/// When an in-doubt attempt is proven never to have reached Meta.
///
/// Meta reports a message's `sent` status within seconds of accepting it.
/// So when statuses of messages the same number sent at least `margin` after
/// the attempt have been applied, every webhook received up to the attempt
/// time + `margin` has been applied, and still no status carries the
/// attempt's callback data, Meta never accepted it: sending it again cannot
/// duplicate it. `settle_after` (at least the send request's timeout) keeps
/// a request that may still be in flight out of it.
///
/// A status Meta could not deliver (the webhook endpoint or Postgres was
/// down: a second missing from `webhook_ingest_seconds`, which every API
/// process stamps while it can store webhooks) is retried by Meta later.
/// After such an outage within `margin` of the attempt (when its status
/// would have come), the evidence also needs statuses of sends made `margin`
/// after the outage ended, and time to have passed since, for Meta's retries
/// to come in: `outage_grace`, or as long as that outage had lasted if that
/// is longer (a sender whose back-off doubles tries again within about the
/// outage's length after it ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evidence {
    pub margin: std::time::Duration,
    pub settle_after: std::time::Duration,
    pub outage_grace: std::time::Duration,
}

/// Sweeper: settles rows in doubt, oldest first, at most `limit` of each kind.
/// First by [`Evidence`] (sent again, once for each attempt so proven, while
/// the retry budget `max_attempts` lasts); then, for rows in doubt longer
/// than `window` and only once every webhook received up to their attempt
/// time + `window` has been applied (the proof may still be in the queue), by
/// their campaign's delivery policy. `at_least_once` rows whose retry budget
/// (`max_attempts`) is spent fail too: a Cloud API that keeps hanging must
/// not make us resend forever.
pub async fn reconcile_in_doubt(
    db: &crate::PgPool,
    window: std::time::Duration,
    max_attempts: i32,
    evidence: Evidence,
    limit: i64,
) -> sqlx::Result<Reconciled> {
    let secs = window.as_secs_f64();
    // The oldest webhook still waiting to be applied (by id: the pending index).
    let backlog: Option<DateTime<Utc>> = sqlx::query_scalar!(
        r#"select received_at from webhook_events
           where processed_at is null and failed_at is null order by id limit 1"#
    )
    .fetch_optional(db)
    .await?;
    let backlog = backlog.unwrap_or(DateTime::<Utc>::MAX_UTC);
    // The seconds of the window in which no API process could store webhooks
    // (the last two may not be stamped yet).
    let outages: Vec<DateTime<Utc>> = sqlx::query_scalar!(
        r#"select g.s as "s!" from generate_series(date_trunc('second', now() - make_interval(secs => $1)),
                                                   date_trunc('second', now()) - interval '2 seconds',
                                                   interval '1 second') as g(s)
           where not exists (select 1 from webhook_ingest_seconds i where i.second = g.s)"#,
        secs
    )
    .fetch_all(db)
    .await?;
    // Each outage second with the grace it calls for: the configured one, or
    // the length of its outage so far if that is longer.
    let mut runs: Vec<f64> = Vec::with_capacity(outages.len());
    for (i, second) in outages.iter().enumerate() {
        let follows = i > 0 && (*second - outages[i - 1]).num_seconds() == 1;
        runs.push(if follows { runs[i - 1] + 1.0 } else { 1.0 });
    }
    let graces: Vec<f64> = runs.iter().map(|run| run.max(evidence.outage_grace.as_secs_f64())).collect();
    let resent = sqlx::query!(
        r#"with proven as materialized (
               select r.campaign_id, r.contact_id
               from recipients r
               join campaigns cp on cp.id = r.campaign_id
               left join lateral (select g as last_outage, grace from unnest($6::timestamptz[], $5::float8[]) as u(g, grace)
                                  where g between date_trunc('second', r.sending_at)
                                              and r.sending_at + make_interval(secs => $1)
                                  order by g desc limit 1) o on true
               where r.state = 'in_doubt' and r.wamid is null and r.attempt - r.attempts_before_replay < $7
                 and cp.lifecycle = 'active' and r.sending_at is not null
                 and r.sending_at < now() - make_interval(secs => $2)
                 and r.sending_at + make_interval(secs => $1) < $3
                 and greatest(r.sending_at, o.last_outage) + make_interval(secs => $1)
                     < (select max(w.statuses_until) from number_status_watermarks w where w.number_id = cp.number_id)
                 and (o.last_outage is null or o.last_outage < now() - make_interval(secs => o.grace))
               order by r.sending_at
               limit $4
               for update of r skip locked
           )
           update recipients r
           set state = 'queued', queued_at = now(), next_attempt_at = now(), dispatch = r.dispatch + 1,
               evidence_resent = true, reason_code = null, reason = null, updated_at = now()
           from proven p
           where r.campaign_id = p.campaign_id and r.contact_id = p.contact_id
           returning r.campaign_id, r.contact_id, r.dispatch"#,
        evidence.margin.as_secs_f64(),
        evidence.settle_after.as_secs_f64(),
        backlog,
        limit,
        &graces,
        &outages,
        max_attempts
    )
    .fetch_all(db)
    .await?;
    let failed = sqlx::query!(
        r#"update recipients r set state = 'failed', failed_at = now(), reason_code = 'outcome_unknown',
                  reason = 'outcome unknown, not retried', updated_at = now()
           from campaigns cp
           where cp.id = r.campaign_id
             and (cp.delivery_policy = 'at_most_once' or r.attempt - r.attempts_before_replay >= $2
                  or cp.lifecycle <> 'active')
             and r.state = 'in_doubt' and r.updated_at < now() - make_interval(secs => $1)
             and coalesce(r.sending_at, r.updated_at) + make_interval(secs => $1) < $3"#,
        secs,
        max_attempts,
        backlog
    )
    .execute(db)
    .await?;
    let requeued = sqlx::query!(
        r#"update recipients r set state = 'queued', queued_at = now(), next_attempt_at = now(),
                  dispatch = r.dispatch + 1, updated_at = now()
           from campaigns cp
           where cp.id = r.campaign_id and cp.delivery_policy = 'at_least_once' and cp.lifecycle = 'active'
             and r.attempt - r.attempts_before_replay < $2
             and r.state = 'in_doubt' and r.updated_at < now() - make_interval(secs => $1)
             and coalesce(r.sending_at, r.updated_at) + make_interval(secs => $1) < $3
           returning r.campaign_id, r.contact_id, r.dispatch"#,
        secs,
        max_attempts,
        backlog
    )
    .fetch_all(db)
    .await?;
    let key = |c, r, d| JobKey::new(c, r, Some(d));
    Ok(Reconciled {
        resent: resent.into_iter().map(|r| key(r.campaign_id, r.contact_id, r.dispatch)).collect(),
        failed: failed.rows_affected(),
        requeued: requeued.into_iter().map(|r| key(r.campaign_id, r.contact_id, r.dispatch)).collect(),
    })
}

/// Puts a failed recipient back in the queue for a replayed dead letter: the
/// retry budget starts again (attempt numbers go on), and the returned key is
/// its only live job. Refused when the message may have gone out (its
/// outcome is unknown) or the campaign no longer sends.
pub async fn replay_failed(db: impl PgExecutor<'_>, campaign_id: i64, contact_id: i64) -> sqlx::Result<Replay> {
    let row = sqlx::query!(
        r#"with target as (
               select r.state, r.reason_code, cp.lifecycle from recipients r join campaigns cp on cp.id = r.campaign_id
               where r.campaign_id = $1 and r.contact_id = $2
           ),
           replayed as (
               update recipients r set state = 'queued', queued_at = now(), next_attempt_at = now(),
                      dispatch = r.dispatch + 1, attempts_before_replay = r.attempt, reason_code = null,
                      reason = null, meta_error_code = null, failed_at = null, updated_at = now()
               from campaigns cp
               where r.campaign_id = $1 and r.contact_id = $2 and cp.id = r.campaign_id
                 and r.state = 'failed' and r.reason_code is distinct from 'outcome_unknown'
                 and cp.lifecycle = 'active'
               returning r.dispatch
           )
           select (select dispatch from replayed) as dispatch, t.state, t.reason_code, t.lifecycle
           from target t"#,
        campaign_id,
        contact_id
    )
    .fetch_optional(db)
    .await?;
    Ok(match row {
        None => Replay::NoRow,
        Some(r) => match r.dispatch {
            Some(d) => Replay::Queued(JobKey::new(campaign_id, contact_id, Some(d))),
            None if r.reason_code.as_deref() == Some("outcome_unknown") => Replay::MayHaveGoneOut,
            None if r.lifecycle != "active" => Replay::CampaignNotActive,
            None => Replay::NotFailed { state: r.state },
        },
    })
}

/// What [`replay_failed`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    Queued(JobKey),
    /// The message may have gone out (outcome unknown): sending it again could duplicate it.
    MayHaveGoneOut,
    CampaignNotActive,
    /// The row is not failed (sent since, or settled another way).
    NotFailed {
        state: String,
    },
    NoRow,
}

/// A job that waited for the rate limiter and is pushed again marks its row,
/// so the lost-work sweep ([`requeue_stale`]) does not take it for lost.
pub async fn touch_queued(db: impl PgExecutor<'_>, job: JobKey) -> sqlx::Result<()> {
    sqlx::query!(
        r#"update recipients set queued_at = now()
           where campaign_id = $1 and contact_id = $2 and state = 'queued' and ($3::integer is null or dispatch = $3)"#,
        job.campaign_id,
        job.contact_id,
        job.dispatch
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The cutoff of a lost-work sweep on the database's clock: rows queued
/// (or due) before it are stale. Taken once per sweep, so that the rows a
/// sweep requeues (`queued_at = now()`) are never stale again within it.
pub async fn stale_cutoff(db: impl PgExecutor<'_>, older_than: std::time::Duration) -> sqlx::Result<DateTime<Utc>> {
    sqlx::query_scalar!(r#"select now() - make_interval(secs => $1) as "cutoff!""#, older_than.as_secs_f64())
        .fetch_one(db)
        .await
}

/// Sweeper: queued recipients of sending campaigns whose job may be lost
/// (Redis flushed, a push that failed after the rows were queued): queued
/// (or due) before `cutoff` ([`stale_cutoff`]), at most `limit`. Each
/// takes the next dispatch number, so the job the caller pushes for it is the
/// only live one (an older job, if it was not lost after all, finds itself
/// stale and does nothing), and its `queued_at` is bumped so the next sweep
/// does not return it again at once.
pub async fn requeue_stale(db: impl PgExecutor<'_>, cutoff: DateTime<Utc>, limit: i64) -> sqlx::Result<Vec<JobKey>> {
    let rows = sqlx::query!(
        r#"with stale as materialized (
               select r.campaign_id, r.contact_id from recipients r
               join campaigns cp on cp.id = r.campaign_id
               where cp.lifecycle = 'active' and cp.paused_at is null and r.state = 'queued'
                 and coalesce(r.next_attempt_at, r.queued_at) < $1
               limit $2
               for update of r skip locked
           )
           update recipients r set queued_at = now(), next_attempt_at = null, dispatch = r.dispatch + 1
           from stale s where r.campaign_id = s.campaign_id and r.contact_id = s.contact_id
           returning r.campaign_id, r.contact_id, r.dispatch"#,
        cutoff,
        limit
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| JobKey::new(r.campaign_id, r.contact_id, Some(r.dispatch))).collect())
}
