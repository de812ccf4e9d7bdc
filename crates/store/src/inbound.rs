//! Inbound messages (replies): attribution to a campaign, the first-reply
//! mark, opt-out keywords, and the state of their delivery to a bot flow.
//!
//! A message is attributed to the campaign whose message it answers
//! (`context.id` is one of its wamids), else to the campaign engaging the
//! contact; it is routed to that campaign's bot flow, else to the
//! organization's default flow, else recorded as unattributed. Recording is
//! idempotent by the message's wamid: a duplicated webhook changes nothing.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use crate::{OrgId, crypto::Cipher};

/// One message a user sent to one of our numbers.
#[derive(Debug, Clone)]
pub struct Inbound<'a> {
    pub wamid: &'a str,
    /// The business number it was sent to (`metadata.phone_number_id`).
    pub phone_number_id: &'a str,
    /// The sender's WhatsApp id (digits).
    pub from: &'a str,
    /// The wamid of our message it answers, if any.
    pub context_wamid: Option<&'a str>,
    /// What the user typed or tapped, for opt-out keywords.
    pub text: Option<&'a str>,
    pub received_at: DateTime<Utc>,
    /// Meta's message object, passed on to the bot as is.
    pub message: &'a serde_json::Value,
}

/// How a newly recorded message is routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub wamid: String,
    pub route: Route,
    pub campaign_id: Option<i64>,
    /// Set when the message must be delivered to a bot flow.
    pub bot_flow_id: Option<i64>,
    pub opted_out: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Campaign,
    Default,
    Unattributed,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Campaign => "campaign",
            Route::Default => "default",
            Route::Unattributed => "unattributed",
        }
    }
}

/// True when `text` is one of the organization's opt-out keywords: the whole
/// message, ignoring case, surrounding space and trailing punctuation.
pub fn is_opt_out(text: &str, keywords: &[String]) -> bool {
    let trimmed = text.trim().trim_end_matches(['.', '!', '?', ',', ';']);
    // Inner spaces collapsed, as the stored keywords are.
    let word = trimmed.split_whitespace().collect::<Vec<_>>().join(" ").to_uppercase();
    !word.is_empty() && keywords.contains(&word)
}

/// Where an inbound message belongs, decided before anything is written
/// ([`attribute`]), so a status batch can lock every ledger row it touches
/// first ([`crate::statuses::apply`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    pub org_id: i64,
    pub number_id: i64,
    /// The sender's phone, E.164.
    pub phone: String,
    pub contact_id: Option<i64>,
    /// The ledger row `(campaign_id, contact_id)` the message answers.
    pub ledger: Option<(i64, i64)>,
    pub route: Route,
    pub bot_flow_id: Option<i64>,
    pub opted_out: bool,
}

/// Attributes one inbound message (reads only); `None` when its number is not registered.
pub async fn attribute(tx: &mut PgConnection, m: &Inbound<'_>) -> sqlx::Result<Option<Attribution>> {
    let Some(number) = sqlx::query!(
        r#"select n.id, n.org_id, o.default_bot_flow_id, o.opt_out_keywords
           from wa_numbers n join organizations o on o.id = n.org_id where n.phone_number_id = $1"#,
        m.phone_number_id
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        tracing::warn!(phone_number_id = m.phone_number_id, "inbound message for an unregistered number; ignored");
        return Ok(None);
    };
    let phone = format!("+{}", m.from.trim_start_matches('+'));
    let contact_id =
        sqlx::query_scalar!("select id from contacts where org_id = $1 and phone = $2", number.org_id, phone)
            .fetch_optional(&mut *tx)
            .await?;
    // The ledger row this answers: the campaign whose message it quotes wins;
    // else the one engaging the person. Engagement is by phone, so it outlives
    // a contact deleted after its message went out (the row keeps the old id).
    let mut ledger = None;
    if let Some(context) = m.context_wamid {
        ledger = sqlx::query!(
            "select campaign_id, contact_id from recipients where wamid = $1 and org_id = $2",
            context,
            number.org_id
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| (row.campaign_id, row.contact_id));
    }
    if ledger.is_none() {
        ledger = sqlx::query!(
            "select campaign_id, contact_id from engagements where org_id = $1 and phone = $2",
            number.org_id,
            phone
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| (row.campaign_id, row.contact_id));
    }
    let campaign_id = ledger.map(|(campaign, _)| campaign);
    let contact_id = contact_id.or(ledger.map(|(_, contact)| contact));
    let campaign_flow = match campaign_id {
        Some(id) => sqlx::query_scalar!("select bot_flow_id from campaigns where id = $1", id)
            .fetch_optional(&mut *tx)
            .await?
            .flatten(),
        None => None,
    };
    let (route, bot_flow_id) = match (campaign_id, campaign_flow, number.default_bot_flow_id) {
        (Some(_), Some(flow), _) => (Route::Campaign, Some(flow)),
        (_, _, Some(flow)) => (Route::Default, Some(flow)),
        // Attributed, but its campaign has no flow and there is no default.
        (Some(_), None, None) => (Route::Campaign, None),
        (None, _, None) => (Route::Unattributed, None),
    };
    let opted_out = m.text.is_some_and(|t| is_opt_out(t, &number.opt_out_keywords));
    Ok(Some(Attribution {
        org_id: number.org_id,
        number_id: number.id,
        phone,
        contact_id,
        ledger,
        route,
        bot_flow_id,
        opted_out,
    }))
}

/// Stores an attributed message; `None` when it was stored before (a
/// duplicate). Its reply mark and opt-out are the caller's
/// ([`mark_replied`], [`crate::opt_outs::record_many`]).
pub async fn insert(tx: &mut PgConnection, m: &Inbound<'_>, a: &Attribution) -> sqlx::Result<Option<Recorded>> {
    let campaign_id = a.ledger.map(|(campaign, _)| campaign);
    let inserted = sqlx::query_scalar!(
        r#"insert into inbound_messages (wamid, org_id, number_id, contact_id, campaign_id, from_wa_id, message,
                                        received_at, route, bot_flow_id, opted_out, next_attempt_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, case when $10::bigint is not null then now() end)
           on conflict (wamid) do nothing
           returning wamid"#,
        m.wamid,
        a.org_id,
        a.number_id,
        a.contact_id,
        campaign_id,
        m.from,
        m.message,
        m.received_at,
        a.route.as_str(),
        a.bot_flow_id,
        a.opted_out
    )
    .fetch_optional(&mut *tx)
    .await?;
    Ok(inserted.map(|_| Recorded {
        wamid: m.wamid.to_owned(),
        route: a.route,
        campaign_id,
        bot_flow_id: a.bot_flow_id,
        opted_out: a.opted_out,
    }))
}

/// The first reply of each ledger row `(campaign_id, contact_id, at)`, in one
/// statement, in key order.
pub async fn mark_replied(tx: &mut PgConnection, marks: &[(i64, i64, DateTime<Utc>)]) -> sqlx::Result<()> {
    if marks.is_empty() {
        return Ok(());
    }
    let mut marks = marks.to_vec();
    marks.sort_unstable();
    sqlx::query!(
        r#"update recipients r set replied_at = u.at, updated_at = now()
           from (select campaign_id, contact_id, min(at) as at
                 from unnest($1::bigint[], $2::bigint[], $3::timestamptz[]) as m(campaign_id, contact_id, at)
                 group by 1, 2) u
           where r.campaign_id = u.campaign_id and r.contact_id = u.contact_id and r.replied_at is null"#,
        &marks.iter().map(|m| m.0).collect::<Vec<_>>(),
        &marks.iter().map(|m| m.1).collect::<Vec<_>>(),
        &marks.iter().map(|m| m.2).collect::<Vec<_>>()
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Records one inbound message inside the caller's transaction, reply mark
/// and opt-out included; `None` when it was recorded before (a duplicate) or
/// its number is not registered. The status queue does the same for a whole
/// batch in its own order.
pub async fn record(tx: &mut PgConnection, m: &Inbound<'_>) -> sqlx::Result<Option<Recorded>> {
    let Some(a) = attribute(tx, m).await? else { return Ok(None) };
    let Some(recorded) = insert(tx, m, &a).await? else { return Ok(None) };
    if let Some((campaign, contact)) = a.ledger {
        mark_replied(tx, &[(campaign, contact, m.received_at)]).await?;
    }
    if a.opted_out {
        crate::opt_outs::record(&mut *tx, OrgId(a.org_id), &a.phone, "user_reply", REPLY_OPT_OUT).await?;
    }
    Ok(Some(recorded))
}

/// The reason of an opt-out by keyword.
pub const REPLY_OPT_OUT: &str = "replied with an opt-out keyword";

/// What the reply worker needs to deliver a message to its bot flow.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub wamid: String,
    pub org_id: i64,
    pub route: String,
    pub opted_out: bool,
    pub from_wa_id: String,
    pub received_at: DateTime<Utc>,
    pub message: serde_json::Value,
    pub attempts: i32,
    pub endpoint_url: String,
    pub bot_flow_id: i64,
    pub secret_enc: Vec<u8>,
    pub campaign_id: Option<i64>,
    pub campaign_name: Option<String>,
    pub contact_id: Option<i64>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
}

impl Delivery {
    /// The flow's signing secret.
    pub fn secret(&self, cipher: &Cipher) -> Result<String, crate::crypto::CipherError> {
        crate::bot_flows::decrypt_secret(cipher, OrgId(self.org_id), &self.secret_enc)
    }
}

/// A message still to deliver (not routed, not dead); `None` when there is
/// nothing to do.
pub async fn pending_delivery(db: impl PgExecutor<'_>, wamid: &str) -> sqlx::Result<Option<Delivery>> {
    sqlx::query_as!(
        Delivery,
        r#"select m.wamid, m.org_id, m.route, m.opted_out, m.from_wa_id, m.received_at, m.message,
                  m.route_attempts as attempts, b.endpoint_url, b.id as bot_flow_id, b.secret_enc,
                  m.campaign_id, cp.name as "campaign_name?", m.contact_id, c.name as "contact_name?",
                  c.phone as "contact_phone?"
           from inbound_messages m
           join bot_flows b on b.id = m.bot_flow_id
           left join campaigns cp on cp.id = m.campaign_id
           left join contacts c on c.id = m.contact_id
           where m.wamid = $1 and m.routed_at is null and m.dead_at is null"#,
        wamid
    )
    .fetch_optional(db)
    .await
}

/// The bot flow accepted the message.
pub async fn mark_routed(db: impl PgExecutor<'_>, wamid: &str) -> sqlx::Result<()> {
    sqlx::query!(
        r#"update inbound_messages set routed_at = now(), route_attempts = route_attempts + 1, last_error = null,
                  next_attempt_at = null
           where wamid = $1 and routed_at is null"#,
        wamid
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A delivery attempt failed: try again at `retry_at`, or give up (`None`).
pub async fn mark_failed(
    db: impl PgExecutor<'_>,
    wamid: &str,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"update inbound_messages set route_attempts = route_attempts + 1, last_error = $2,
                  next_attempt_at = $3, dead_at = case when $3::timestamptz is null then now() end
           where wamid = $1 and routed_at is null and dead_at is null"#,
        wamid,
        error,
        retry_at
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Sweeper: messages whose delivery is due for longer than `older_than`
/// (their job was lost); their due time is bumped so the next sweep does
/// not return them at once. The caller pushes a job for each.
pub async fn stale_deliveries(
    db: impl PgExecutor<'_>,
    older_than: std::time::Duration,
    limit: i64,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"update inbound_messages set next_attempt_at = now()
           where wamid in (select wamid from inbound_messages
                           where routed_at is null and dead_at is null and bot_flow_id is not null
                             and next_attempt_at < now() - make_interval(secs => $1)
                           order by received_at limit $2
                           for update skip locked)
           returning wamid"#,
        older_than.as_secs_f64(),
        limit
    )
    .fetch_all(db)
    .await
}

/// A reply given up on after its last delivery attempt (`dead_at` set).
#[derive(Debug, Clone)]
pub struct DeadMessage {
    pub wamid: String,
    pub org_id: i64,
    pub campaign_id: Option<i64>,
    pub bot_flow_id: Option<i64>,
    pub route: String,
    pub from_wa_id: String,
    /// Meta's message object.
    pub message: serde_json::Value,
    pub received_at: DateTime<Utc>,
    pub route_attempts: i32,
    pub last_error: Option<String>,
    pub dead_at: DateTime<Utc>,
}

/// Dead replies with wamids after `after` (`""` for the first page), in
/// wamid order: `org`'s, or every organization's when `None` (the CLI).
pub async fn dead(
    db: impl PgExecutor<'_>,
    org: Option<OrgId>,
    after: &str,
    limit: i64,
) -> sqlx::Result<Vec<DeadMessage>> {
    sqlx::query_as!(
        DeadMessage,
        r#"select wamid, org_id, campaign_id, bot_flow_id, route, from_wa_id, message, received_at, route_attempts,
                  last_error, dead_at as "dead_at!"
           from inbound_messages
           where dead_at is not null and ($1::bigint is null or org_id = $1) and wamid > $2
           order by wamid
           limit $3"#,
        org.map(|o| o.0),
        after,
        limit
    )
    .fetch_all(db)
    .await
}

/// How many replies are dead (`org`'s, or all).
pub async fn count_dead(db: impl PgExecutor<'_>, org: Option<OrgId>) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from inbound_messages
           where dead_at is not null and ($1::bigint is null or org_id = $1)"#,
        org.map(|o| o.0)
    )
    .fetch_one(db)
    .await
}

/// Takes up to `limit` dead replies (the message `wamid`, or any) out of the
/// dead letters: not dead, no attempts yet, due `delay` from now. Returns
/// their wamids; the caller pushes a reply job for each, due at the same
/// time (a lost push is pushed again by the sweeper).
pub async fn replay_dead(
    db: impl PgExecutor<'_>,
    org: Option<OrgId>,
    wamid: Option<&str>,
    delay: std::time::Duration,
    limit: i64,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"update inbound_messages set dead_at = null, route_attempts = 0,
                  next_attempt_at = now() + make_interval(secs => $3)
           where wamid in (select wamid from inbound_messages
                           where dead_at is not null and ($1::bigint is null or org_id = $1)
                             and ($2::text is null or wamid = $2)
                           order by wamid
                           limit $4
                           for update skip locked)
           returning wamid"#,
        org.map(|o| o.0),
        wamid,
        delay.as_secs_f64(),
        limit
    )
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::is_opt_out;

    #[test]
    fn opt_out_keywords_match_the_whole_message_ignoring_case_and_punctuation() {
        let words = vec!["STOP".to_owned(), "BAJA".to_owned(), "OPT OUT".to_owned()];
        for yes in ["STOP", "stop", " Stop! ", "baja.", "STOP?!", "opt   out"] {
            assert!(is_opt_out(yes, &words), "{yes}");
        }
        for no in ["", "!", "please stop sending", "stopped", "BAJAR", "non-stop"] {
            assert!(!is_opt_out(no, &words), "{no}");
        }
    }
}
