//! A campaign's recipients, a page at a time, filtered by outcome, reason and
//! phone: "who did not get it, and why?" for the console and the API.

use crate::OrgId;
use chrono::{DateTime, Utc};

/// What happened to a recipient, as an operator filters them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not sent yet: planned, queued, being sent, or accepted by Meta and not yet delivered.
    Pending,
    /// Delivered or read.
    Received,
    Read,
    Replied,
    /// Excluded before sending, or failed.
    NotSent,
    /// May or may not have gone out; settled later.
    InDoubt,
}

impl Outcome {
    pub const ALL: [Outcome; 6] =
        [Self::Pending, Self::Received, Self::Read, Self::Replied, Self::NotSent, Self::InDoubt];

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == value)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Received => "received",
            Self::Read => "read",
            Self::Replied => "replied",
            Self::NotSent => "not_sent",
            Self::InDoubt => "in_doubt",
        }
    }

    /// The outcome of a ledger row.
    pub fn of(state: &str, replied: bool) -> Self {
        match state {
            _ if replied => Self::Replied,
            "read" => Self::Read,
            "delivered" => Self::Received,
            "excluded" | "failed" => Self::NotSent,
            "in_doubt" => Self::InDoubt,
            _ => Self::Pending,
        }
    }
}

/// Which recipients to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter<'a> {
    pub outcome: Option<Outcome>,
    /// A stable reason code (`opted_out`, `131049`, `outcome_unknown`, ...).
    pub reason: Option<&'a str>,
    /// A part of the phone number (digits).
    pub phone: Option<&'a str>,
    /// Contacts after this id.
    pub after: Option<i64>,
    pub limit: i64,
}

/// One recipient of the campaign.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub contact_id: i64,
    pub phone: String,
    /// The contact's name, while the contact exists.
    pub name: Option<String>,
    pub state: String,
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    pub meta_error_code: Option<i32>,
    pub attempt: i32,
    pub planned_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub replied_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    /// The funnel steps the bot recorded for this contact, in order.
    pub funnel_steps: Vec<String>,
}

impl Recipient {
    pub fn outcome(&self) -> Outcome {
        Outcome::of(&self.state, self.replied_at.is_some())
    }
}

/// A page of the campaign's recipients in contact-id order; `None` when the
/// campaign is not the organization's.
pub async fn page(
    db: &crate::PgPool,
    org: OrgId,
    campaign_id: i64,
    f: Filter<'_>,
) -> sqlx::Result<Option<Vec<Recipient>>> {
    if !crate::funnel::campaign_exists(db, org, campaign_id).await? {
        return Ok(None);
    }
    let states: Option<Vec<String>> = f.outcome.map(|o| {
        let states: &[&str] = match o {
            Outcome::Pending => &["planned", "queued", "sending", "accepted", "sent"],
            Outcome::Received => &["delivered", "read"],
            Outcome::Read => &["read"],
            Outcome::Replied => &[],
            Outcome::NotSent => &["excluded", "failed"],
            Outcome::InDoubt => &["in_doubt"],
        };
        states.iter().map(|s| (*s).to_owned()).collect()
    });
    let replied_only = f.outcome == Some(Outcome::Replied);
    let phone = f.phone.map(|p| format!("%{}%", p.replace(['%', '_', '\\'], "")));
    let rows = sqlx::query_as!(
        Recipient,
        r#"select r.contact_id, r.phone, c.name as "name?", r.state, r.reason_code, r.reason, r.meta_error_code,
                  r.attempt, r.planned_at, r.accepted_at, r.delivered_at, r.read_at, r.replied_at, r.failed_at,
                  coalesce((select array_agg(s.step order by s.reached_at, s.step) from funnel_steps s
                            where s.campaign_id = r.campaign_id and s.contact_id = r.contact_id), '{}') as "funnel_steps!"
           from recipients r
           left join contacts c on c.id = r.contact_id and c.org_id = r.org_id
           where r.campaign_id = $1 and r.org_id = $2
             and ($3::text[] is null or $4 or r.state = any($3))
             and (not $4 or r.replied_at is not null)
             and ($5::text is null or r.reason_code = $5)
             and ($6::text is null or r.phone like $6)
             and r.contact_id > coalesce($7::bigint, 0)
           order by r.contact_id
           limit $8"#,
        campaign_id,
        org.0,
        states.as_deref(),
        replied_only,
        f.reason,
        phone,
        f.after,
        f.limit.clamp(1, 500),
    )
    .fetch_all(db)
    .await?;
    Ok(Some(rows))
}
