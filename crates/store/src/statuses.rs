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
//!
//! A status changes only what the number that reported it owns: every
//! statement joins the row through its campaign's number to the
//! `phone_number_id` whose app secret signed the webhook, so a number of one
//! organization cannot move (or opt out) another's recipients, whatever
//! wamid or callback data it names. Callback data carries a MAC
//! ([`CallbackKey`]), so it cannot be guessed either.

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgConnection;

use crate::crypto::Cipher;

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

/// The key that makes callback data unforgeable: a MAC over the row and
/// attempt, so a webhook can only settle a row whose data we produced.
/// Derived from `APP_ENCRYPTION_KEY` ([`Cipher::derive_key`]), so every
/// process that has the encryption key agrees on it. `Debug` hides it.
#[derive(Clone)]
pub struct CallbackKey(Hmac<Sha256>);

impl std::fmt::Debug for CallbackKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallbackKey([redacted])")
    }
}

/// Bytes of the MAC kept in the callback data: 96 bits, 16 characters.
const MAC_BYTES: usize = 12;

impl CallbackKey {
    pub fn new(cipher: &Cipher) -> Self {
        let key = cipher.derive_key("biz_opaque_callback_data:v1");
        Self(<Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap_or_else(|_| unreachable!("HMAC takes any key")))
    }

    fn mac(&self, body: &str) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(body.as_bytes());
        mac
    }
}

/// What a status's callback data turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackCheck {
    /// Ours, and its MAC verifies.
    Valid(Callback),
    /// Not our format: a message another system sent from the same number.
    Foreign,
    /// Our format with a MAC that does not verify: forged, never used.
    Forged,
}

impl Callback {
    /// The text sent with every message: `c{campaign}:r{contact}:a{attempt}:{mac}`.
    pub fn encode(&self, key: &CallbackKey) -> String {
        let body = self.body();
        let tag = key.mac(&body).finalize().into_bytes();
        format!("{body}:{}", URL_SAFE_NO_PAD.encode(&tag[..MAC_BYTES]))
    }

    fn body(&self) -> String {
        format!("c{}:r{}:a{}", self.campaign_id, self.contact_id, self.attempt)
    }

    /// Reads [`Callback::encode`]'s text back, checking its MAC.
    pub fn check(text: &str, key: &CallbackKey) -> CallbackCheck {
        let Some((body, tag)) = text.rsplit_once(':') else { return CallbackCheck::Foreign };
        let Some(callback) = Self::parse_body(body) else {
            // `c1:r2:a3` without a MAC is the old, forgeable format.
            return if Self::parse_body(text).is_some() { CallbackCheck::Forged } else { CallbackCheck::Foreign };
        };
        let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else { return CallbackCheck::Forged };
        if tag.len() != MAC_BYTES || key.mac(body).verify_truncated_left(&tag).is_err() {
            return CallbackCheck::Forged;
        }
        CallbackCheck::Valid(callback)
    }

    fn parse_body(text: &str) -> Option<Self> {
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

/// A batch of statuses, folded per message so the ledger is written once per
/// row. A message is keyed by the number that reported it and its wamid.
#[derive(Debug, Clone, Default)]
pub struct StatusBatch {
    by_message: HashMap<(String, String), Folded>,
    statuses: usize,
}

impl StatusBatch {
    /// Adds one status that the number `phone_number_id` reported (its app
    /// secret signed the webhook). `at` is Meta's timestamp for it.
    pub fn add(
        &mut self,
        phone_number_id: &str,
        wamid: &str,
        kind: StatusKind,
        at: DateTime<Utc>,
        callback: Option<Callback>,
        failure: Option<Failure>,
    ) {
        self.statuses += 1;
        let f = self.by_message.entry((phone_number_id.to_owned(), wamid.to_owned())).or_default();
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Rows in `sending` or `in_doubt` that a status proved were sent.
    pub resolved: u64,
    /// Rows whose state or timestamps moved forward.
    pub updated: u64,
    /// Statuses about a message that another number sent (so another
    /// organization's, or another number's of the same one): never applied.
    pub ignored: u64,
    /// Recipients who stopped marketing messages (Meta's 131050), to record.
    pub opt_outs: Vec<crate::opt_outs::OptOut>,
}

/// Applies a batch inside the caller's transaction: settling rows by
/// callback data and the statuses themselves, after locking every ledger row
/// they touch and the rows `(campaign_id, contact_id)` of `also_lock` (the
/// replies of the same webhooks), in one key order. The 131050 opt-outs are
/// returned, for the caller to record with its others in one statement.
pub async fn apply(tx: &mut PgConnection, batch: &StatusBatch, also_lock: &[(i64, i64)]) -> sqlx::Result<Applied> {
    if batch.by_message.is_empty() {
        let (campaigns, contacts): (Vec<i64>, Vec<i64>) = also_lock.iter().copied().unzip();
        lock(&mut *tx, &[], &campaigns, &contacts).await?;
        return Ok(Applied::default());
    }
    let n = batch.by_message.len();
    let (mut wamids, mut numbers) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut sent, mut delivered, mut read, mut failed_at) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut codes, mut reasons, mut meta_codes) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cb_wamids, mut cb_numbers, mut cb_campaigns, mut cb_contacts, mut cb_attempts) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Sorted so concurrent batches lock shared rows in the same order.
    let mut entries: Vec<_> = batch.by_message.iter().collect();
    entries.sort_unstable_by(|a, b| (&a.0.1, &a.0.0).cmp(&(&b.0.1, &b.0.0)));
    for ((number, wamid), f) in entries {
        if let Some(cb) = f.callback {
            cb_wamids.push(wamid.as_str());
            cb_numbers.push(number.as_str());
            cb_campaigns.push(cb.campaign_id);
            cb_contacts.push(cb.contact_id);
            cb_attempts.push(cb.attempt);
        }
        wamids.push(wamid.as_str());
        numbers.push(number.as_str());
        sent.push(f.sent);
        delivered.push(f.delivered);
        read.push(f.read);
        failed_at.push(f.failed.as_ref().map(|(t, _)| *t));
        codes.push(f.failed.as_ref().map(|(_, x)| x.code.as_str()));
        reasons.push(f.failed.as_ref().map(|(_, x)| x.reason.as_str()));
        meta_codes.push(f.failed.as_ref().and_then(|(_, x)| x.meta_code));
    }

    // 0. Every row the batch can touch, locked first and in key order: the
    //    statements below (and the reply marks of the same transaction) then
    //    never wait on a row another status batch holds while it waits on one
    //    of ours, so status batches cannot deadlock each other.
    let (mut lock_campaigns, mut lock_contacts) = (cb_campaigns.clone(), cb_contacts.clone());
    for (campaign, contact) in also_lock {
        lock_campaigns.push(*campaign);
        lock_contacts.push(*contact);
    }
    let unresolved = lock(&mut *tx, &wamids, &lock_campaigns, &lock_contacts).await?;

    // 1. A status is proof the attempt reached Meta: a row still `sending`
    //    (the webhook beat the sender's own record) or `in_doubt` (the sender
    //    died or timed out) takes the wamid and becomes `accepted`. Matched
    //    on our callback data, including the attempt, so an older attempt's
    //    status never settles a newer one, and only on a campaign sending
    //    from the number that reported it.
    //    Skipped when no locked row waits for that (the common case: the
    //    sender recorded its answer before Meta's first status came).
    let resolved = if unresolved == 0 || cb_wamids.is_empty() {
        0
    } else {
        sqlx::query!(
            r#"update recipients r
           set state = 'accepted', wamid = u.wamid, accepted_at = coalesce(r.accepted_at, now()),
               reason_code = null, reason = null, updated_at = now()
           from unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::integer[])
                as u(wamid, phone_number_id, campaign_id, contact_id, attempt),
                campaigns cp, wa_numbers n
           where r.campaign_id = u.campaign_id and r.contact_id = u.contact_id and r.attempt = u.attempt
             and r.state in ('sending', 'in_doubt') and r.wamid is null
             and cp.id = r.campaign_id and n.id = cp.number_id and n.phone_number_id = u.phone_number_id"#,
            &cb_wamids as &[&str],
            &cb_numbers as &[&str],
            &cb_campaigns,
            &cb_contacts,
            &cb_attempts
        )
        .execute(&mut *tx)
        .await?
        .rows_affected()
    };

    // 2. The statuses themselves, forward only, on the rows the reporting
    //    number owns (`m.owned`); the others are counted and left alone. The
    //    row's current rank is read from `r` in the update itself, never from
    //    `m` or an earlier scan: when a concurrent batch changes the row
    //    first, Postgres re-evaluates the update against the committed
    //    version, and a rank taken before that would move the state
    //    backwards (a `read` row back to `delivered`).
    let counts = sqlx::query!(
        r#"with u as (
               select u.*, coalesce(u.sent_ts, u.delivered_ts, u.read_ts) as any_sent,
                      coalesce(u.delivered_ts, u.read_ts) as any_delivered,
                      case when u.read_ts is not null then 4 when u.delivered_ts is not null then 3
                           when u.failed_ts is not null then 2 when u.sent_ts is not null then 1 else 0 end as rank,
                      array['accepted', 'sent', 'failed', 'delivered', 'read'] as states
               from unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[],
                           $6::timestamptz[], $7::text[], $8::text[], $9::integer[])
                    as u(wamid, phone_number_id, sent_ts, delivered_ts, read_ts, failed_ts, code, reason, meta_code)
           ),
           m as materialized (
               select u.*, r.campaign_id, r.contact_id, n.id as number_id,
                      n.phone_number_id = u.phone_number_id as owned
               from u
               join recipients r on r.wamid = u.wamid
               join campaigns cp on cp.id = r.campaign_id
               join wa_numbers n on n.id = cp.number_id
           ),
           done as (
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
                   meta_error_code = case when c.rank = 2 and array_position(c.states, r.state) - 1 < 2
                                          then c.meta_code
                                          when c.rank > 2 then null else r.meta_error_code end,
                   updated_at = now()
               from m c
               where c.owned and r.campaign_id = c.campaign_id and r.contact_id = c.contact_id
                 and r.wamid = c.wamid
                 and r.state in ('accepted', 'sent', 'failed', 'delivered', 'read')
                 and (c.rank > array_position(c.states, r.state) - 1
                      or (r.sent_at is null and c.any_sent is not null)
                      or (r.delivered_at is null and c.any_delivered is not null)
                      or (r.read_at is null and c.read_ts is not null))
               returning c.number_id, r.accepted_at
           ),
           -- Evidence for in-doubt attempts (recipients::Evidence): how late a
           -- send of each number has had a status applied. The shard this
           -- transaction holds (counter_shard), so consumers never wait on it.
           marks as (
               insert into number_status_watermarks (number_id, shard, statuses_until)
               select number_id, counter_shard(), max(accepted_at) from done
               where accepted_at is not null group by number_id
               on conflict (number_id, shard)
               do update set statuses_until = greatest(number_status_watermarks.statuses_until, excluded.statuses_until)
           )
           select (select count(*) from done) as "updated!", (select count(*) from m where not owned) as "ignored!""#,
        &wamids as &[&str],
        &numbers as &[&str],
        &sent as &[Option<DateTime<Utc>>],
        &delivered as &[Option<DateTime<Utc>>],
        &read as &[Option<DateTime<Utc>>],
        &failed_at as &[Option<DateTime<Utc>>],
        &codes as &[Option<&str>],
        &reasons as &[Option<&str>],
        &meta_codes as &[Option<i32>]
    )
    .fetch_one(&mut *tx)
    .await?;

    // 3. A 131050 failure means the user stopped marketing messages from us:
    //    an opt-out, as a synchronous 131050 answer is, in the organization of
    //    the number that reported it.
    let (opted_wamids, opted_numbers): (Vec<&str>, Vec<&str>) = wamids
        .iter()
        .zip(&numbers)
        .zip(&meta_codes)
        .filter(|(_, code)| **code == Some(131_050))
        .map(|((w, n), _)| (*w, *n))
        .unzip();
    let mut opt_outs = Vec::new();
    if !opted_wamids.is_empty() {
        opt_outs = sqlx::query!(
            r#"select r.org_id, r.phone
               from unnest($1::text[], $2::text[]) as u(wamid, phone_number_id)
               join recipients r on r.wamid = u.wamid
               join campaigns cp on cp.id = r.campaign_id
               join wa_numbers n on n.id = cp.number_id and n.phone_number_id = u.phone_number_id"#,
            &opted_wamids as &[&str],
            &opted_numbers as &[&str]
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| crate::opt_outs::OptOut {
            org_id: r.org_id,
            phone: r.phone,
            source: "meta_131050",
            reason: "the user stopped marketing messages (Meta error 131050)".into(),
        })
        .collect();
    }
    Ok(Applied { resolved, updated: counts.updated as u64, ignored: counts.ignored as u64, opt_outs })
}

/// Locks, in key order, the ledger rows with these wamids and these
/// `(campaign_id, contact_id)` keys; returns how many of them are `sending`
/// or `in_doubt` without a wamid (what a status can settle).
pub async fn lock(tx: &mut PgConnection, wamids: &[&str], campaigns: &[i64], contacts: &[i64]) -> sqlx::Result<usize> {
    let rows = sqlx::query_scalar!(
        r#"select (r.state in ('sending', 'in_doubt') and r.wamid is null) as "unresolved!" from recipients r
           where (r.campaign_id, r.contact_id) in (
                     -- A union, not an `or`: each side uses its index (an `or`
                     -- across them scans the whole ledger).
                     select w.campaign_id, w.contact_id from recipients w where w.wamid = any($1)
                     union
                     select * from unnest($2::bigint[], $3::bigint[]))
           order by r.campaign_id, r.contact_id
           for update"#,
        wamids as &[&str],
        campaigns,
        contacts
    )
    .fetch_all(tx)
    .await?;
    Ok(rows.into_iter().filter(|&unresolved| unresolved).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CallbackKey {
        CallbackKey::new(&Cipher::from_base64(&Cipher::generate_key()).unwrap())
    }

    #[test]
    fn callback_data_round_trips_only_with_its_mac() {
        let key = key();
        let cb = Callback { campaign_id: 12, contact_id: 345, attempt: 2 };
        let text = cb.encode(&key);
        assert!(text.starts_with("c12:r345:a2:"), "{text}");
        assert_eq!(text.len(), "c12:r345:a2:".len() + 16, "a 96-bit MAC: {text}");
        assert_eq!(Callback::check(&text, &key), CallbackCheck::Valid(cb));
        // Another deployment's key, another row or attempt under the same MAC, or no MAC at all: forged.
        assert_eq!(Callback::check(&text, &self::key()), CallbackCheck::Forged);
        let mac = text.rsplit_once(':').unwrap().1;
        for forged in [
            format!("c12:r346:a2:{mac}"),
            format!("c12:r345:a3:{mac}"),
            "c12:r345:a2".to_owned(),
            "c12:r345:a2:".to_owned(),
            "c12:r345:a2:!!".to_owned(),
            format!("c12:r345:a2:{}", &mac[..8]),
        ] {
            assert_eq!(Callback::check(&forged, &key), CallbackCheck::Forged, "{forged}");
        }
        for foreign in ["", "order-77", "x12:r345:a2:abc", "c:r1:a1:abc", "c1:r2:ax:abc", "a:b"] {
            assert_eq!(Callback::check(foreign, &key), CallbackCheck::Foreign, "{foreign}");
        }
    }

    #[test]
    fn a_batch_keeps_the_earliest_time_of_each_status_and_one_callback() {
        let t = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        let cb = Callback { campaign_id: 1, contact_id: 2, attempt: 1 };
        let mut b = StatusBatch::default();
        b.add("p1", "w1", StatusKind::Read, t(30), None, None);
        b.add("p1", "w1", StatusKind::Sent, t(10), Some(cb), None);
        b.add("p1", "w1", StatusKind::Sent, t(5), None, None);
        b.add("p1", "w1", StatusKind::Failed, t(40), None, None);
        b.add("p2", "w1", StatusKind::Delivered, t(6), None, None);
        assert_eq!(b.len(), 5);
        assert_eq!(b.by_message.len(), 2, "another number's status about the same wamid is kept apart");
        let f = &b.by_message[&("p1".to_owned(), "w1".to_owned())];
        assert_eq!((f.sent, f.read, f.delivered, f.callback), (Some(t(5)), Some(t(30)), None, Some(cb)));
        assert_eq!(f.failed.as_ref().unwrap().1.code, "meta_failed");
    }
}
