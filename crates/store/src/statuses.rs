//! Applying Meta's delivery statuses to the recipient ledger, a whole batch
//! in two statements (ARCHITECTURE "Webhooks and replies").
//!
//! Statuses arrive duplicated, out of order and with `delivered` skipped, so
//! the ledger only ever moves forward: a timestamp, once set, stays; `read`
//! implies `delivered`, and either implies `sent`; the state is the highest
//! of what the row had and what the batch says, in the order
//! `accepted < sent < failed < delivered < read` (a `delivered` or `read` is
//! proof the message arrived, so it outranks a `failed`; a `failed` after
//! `delivered` changes nothing). The live counters follow through the
//! ledger's triggers, so they move only on real transitions.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// Which status Meta reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    Sent,
    Delivered,
    Read,
    Failed,
}

/// Why Meta says a message failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Our stable code (`whatsapp::classify`).
    pub code: String,
    /// A readable reason, with Meta's details when it gave any.
    pub reason: String,
    pub meta_code: Option<i32>,
}

/// Our `biz_opaque_callback_data`: which ledger row and attempt a message was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Callback {
    pub campaign_id: i64,
    pub contact_id: i64,
    pub attempt: i32,
}

impl Callback {
    /// The text sent with every message: `c{campaign}:r{contact}:a{attempt}`.
    pub fn encode(&self) -> String {
        format!("c{}:r{}:a{}", self.campaign_id, self.contact_id, self.attempt)
    }

    /// Parses [`Callback::encode`]'s text; `None` for anything else (a
    /// message another system sent from the same number).
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(':');
        let campaign_id = parts.next()?.strip_prefix('c')?.parse().ok()?;
        let contact_id = parts.next()?.strip_prefix('r')?.parse().ok()?;
        let attempt = parts.next()?.strip_prefix('a')?.parse().ok()?;
        parts.next().is_none().then_some(Self { campaign_id, contact_id, attempt })
    }
}

/// Everything one batch says about one message, folded.
#[derive(Debug, Clone, Default, PartialEq)]
struct Folded {
    callback: Option<Callback>,
    sent: Option<DateTime<Utc>>,
    delivered: Option<DateTime<Utc>>,
    read: Option<DateTime<Utc>>,
    failed: Option<(DateTime<Utc>, Failure)>,
}

fn earliest(slot: &mut Option<DateTime<Utc>>, at: DateTime<Utc>) {
    if slot.is_none_or(|t| at < t) {
        *slot = Some(at);
    }
}

/// A batch of statuses, folded per message so the ledger is written once per row.
#[derive(Debug, Clone, Default)]
pub struct StatusBatch {
    by_wamid: HashMap<String, Folded>,
    statuses: usize,
}

impl StatusBatch {
    /// Adds one status. `at` is Meta's timestamp for it.
    pub fn add(
        &mut self,
        wamid: &str,
        kind: StatusKind,
        at: DateTime<Utc>,
        callback: Option<Callback>,
        failure: Option<Failure>,
    ) {
        self.statuses += 1;
        let f = self.by_wamid.entry(wamid.to_owned()).or_default();
        f.callback = f.callback.or(callback);
        match kind {
            StatusKind::Sent => earliest(&mut f.sent, at),
            StatusKind::Delivered => earliest(&mut f.delivered, at),
            StatusKind::Read => earliest(&mut f.read, at),
            StatusKind::Failed => {
                if f.failed.as_ref().is_none_or(|(t, _)| at < *t) {
                    let failure = failure.unwrap_or_else(|| Failure {
                        code: "meta_failed".into(),
                        reason: "Meta reported the message failed without an error".into(),
                        meta_code: None,
                    });
                    f.failed = Some((at, failure));
                }
            }
        }
    }

    /// How many statuses were added.
    pub fn len(&self) -> usize {
        self.statuses
    }

    pub fn is_empty(&self) -> bool {
        self.statuses == 0
    }
}

/// What applying a batch changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Rows in `sending` or `in_doubt` that a status proved were sent.
    pub resolved: u64,
    /// Rows whose state or timestamps moved forward.
    pub updated: u64,
}

/// Applies a batch in two statements inside the caller's transaction.
pub async fn apply(tx: &mut PgConnection, batch: &StatusBatch) -> sqlx::Result<Applied> {
    if batch.by_wamid.is_empty() {
        return Ok(Applied::default());
    }
    let mut wamids = Vec::with_capacity(batch.by_wamid.len());
    let (mut sent, mut delivered, mut read, mut failed_at) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut codes, mut reasons, mut meta_codes) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cb_wamids, mut cb_campaigns, mut cb_contacts, mut cb_attempts) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Sorted so concurrent batches lock shared rows in the same order.
    let mut entries: Vec<_> = batch.by_wamid.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for (wamid, f) in entries {
        if let Some(cb) = f.callback {
            cb_wamids.push(wamid.as_str());
            cb_campaigns.push(cb.campaign_id);
            cb_contacts.push(cb.contact_id);
            cb_attempts.push(cb.attempt);
        }
        wamids.push(wamid.as_str());
        sent.push(f.sent);
        delivered.push(f.delivered);
        read.push(f.read);
        failed_at.push(f.failed.as_ref().map(|(t, _)| *t));
        codes.push(f.failed.as_ref().map(|(_, x)| x.code.as_str()));
        reasons.push(f.failed.as_ref().map(|(_, x)| x.reason.as_str()));
        meta_codes.push(f.failed.as_ref().and_then(|(_, x)| x.meta_code));
    }

    // 1. A status is proof the attempt reached Meta: a row still `sending`
    //    (the webhook beat the sender's own record) or `in_doubt` (the sender
    //    died or timed out) takes the wamid and becomes `accepted`. Matched
    //    on our callback data, including the attempt, so an older attempt's
    //    status never settles a newer one.
    let resolved = sqlx::query!(
        r#"update recipients r
           set state = 'accepted', wamid = u.wamid, accepted_at = coalesce(r.accepted_at, now()),
               reason_code = null, reason = null, updated_at = now()
           from unnest($1::text[], $2::bigint[], $3::bigint[], $4::integer[])
                as u(wamid, campaign_id, contact_id, attempt)
           where r.campaign_id = u.campaign_id and r.contact_id = u.contact_id and r.attempt = u.attempt
             and r.state in ('sending', 'in_doubt') and r.wamid is null"#,
        &cb_wamids as &[&str],
        &cb_campaigns,
        &cb_contacts,
        &cb_attempts
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();

    // 2. The statuses themselves, forward only. The row's current rank is
    //    read from `r` in the update itself, never from an earlier scan: when
    //    a concurrent batch changes the row first, Postgres re-evaluates the
    //    update against the committed version, and a rank taken before that
    //    would move the state backwards (a `read` row back to `delivered`).
    let updated = sqlx::query!(
        r#"with u as (
               select u.*, coalesce(u.sent_ts, u.delivered_ts, u.read_ts) as any_sent,
                      coalesce(u.delivered_ts, u.read_ts) as any_delivered,
                      case when u.read_ts is not null then 4 when u.delivered_ts is not null then 3
                           when u.failed_ts is not null then 2 when u.sent_ts is not null then 1 else 0 end as rank,
                      array['accepted', 'sent', 'failed', 'delivered', 'read'] as states
               from unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[],
                           $6::text[], $7::text[], $8::integer[])
                    as u(wamid, sent_ts, delivered_ts, read_ts, failed_ts, code, reason, meta_code)
           )
           update recipients r set
               state = case when c.rank > array_position(c.states, r.state) - 1
                            then c.states[c.rank + 1] else r.state end,
               sent_at = coalesce(r.sent_at, c.any_sent),
               delivered_at = coalesce(r.delivered_at, c.any_delivered),
               read_at = coalesce(r.read_at, c.read_ts),
               failed_at = case when c.rank = 2 and array_position(c.states, r.state) - 1 < 2
                                then c.failed_ts else r.failed_at end,
               reason_code = case when c.rank = 2 and array_position(c.states, r.state) - 1 < 2 then c.code
                                  when c.rank > 2 then null else r.reason_code end,
               reason = case when c.rank = 2 and array_position(c.states, r.state) - 1 < 2 then c.reason
                             when c.rank > 2 then null else r.reason end,
               meta_error_code = case when c.rank = 2 and array_position(c.states, r.state) - 1 < 2 then c.meta_code
                                      when c.rank > 2 then null else r.meta_error_code end,
               updated_at = now()
           from u c
           where r.wamid = c.wamid
             and r.state in ('accepted', 'sent', 'failed', 'delivered', 'read')
             and (c.rank > array_position(c.states, r.state) - 1
                  or (r.sent_at is null and c.any_sent is not null)
                  or (r.delivered_at is null and c.any_delivered is not null)
                  or (r.read_at is null and c.read_ts is not null))"#,
        &wamids as &[&str],
        &sent as &[Option<DateTime<Utc>>],
        &delivered as &[Option<DateTime<Utc>>],
        &read as &[Option<DateTime<Utc>>],
        &failed_at as &[Option<DateTime<Utc>>],
        &codes as &[Option<&str>],
        &reasons as &[Option<&str>],
        &meta_codes as &[Option<i32>]
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();

    // 3. A 131050 failure means the user stopped marketing messages from us:
    //    record the opt-out, as a synchronous 131050 answer does.
    let opted_out: Vec<&str> =
        wamids.iter().zip(&meta_codes).filter(|(_, code)| **code == Some(131_050)).map(|(w, _)| *w).collect();
    if !opted_out.is_empty() {
        sqlx::query!(
            r#"insert into opt_outs (org_id, phone, source, reason)
               select org_id, phone, 'meta_131050', 'the user stopped marketing messages (Meta error 131050)'
               from recipients where wamid = any($1)
               on conflict do nothing"#,
            &opted_out as &[&str]
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(Applied { resolved, updated })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_data_round_trips_and_rejects_foreign_text() {
        let cb = Callback { campaign_id: 12, contact_id: 345, attempt: 2 };
        assert_eq!(cb.encode(), "c12:r345:a2");
        assert_eq!(Callback::parse("c12:r345:a2"), Some(cb));
        for bad in ["", "c12:r345", "c12:r345:a2:x", "x12:r345:a2", "c:r1:a1", "order-77", "c1:r2:ax"] {
            assert_eq!(Callback::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_batch_keeps_the_earliest_time_of_each_status_and_one_callback() {
        let t = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        let cb = Callback { campaign_id: 1, contact_id: 2, attempt: 1 };
        let mut b = StatusBatch::default();
        b.add("w1", StatusKind::Read, t(30), None, None);
        b.add("w1", StatusKind::Sent, t(10), Some(cb), None);
        b.add("w1", StatusKind::Sent, t(5), None, None);
        b.add("w1", StatusKind::Failed, t(40), None, None);
        assert_eq!(b.len(), 4);
        let f = &b.by_wamid["w1"];
        assert_eq!((f.sent, f.read, f.delivered, f.callback), (Some(t(5)), Some(t(30)), None, Some(cb)));
        assert_eq!(f.failed.as_ref().unwrap().1.code, "meta_failed");
    }
}
