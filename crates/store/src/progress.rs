//! Campaign progress for the metrics exporter: the live counters
//! (`campaign_counters`, kept by the ledger's triggers) of every active
//! campaign, in one query whatever the campaigns' sizes.

use sqlx::PgExecutor;

/// The most campaigns [`active`] returns (the newest): one gauge series per
/// campaign and stage, so this bounds the exporter's label cardinality.
pub const MAX_CAMPAIGNS: i64 = 500;

/// One active campaign's recipients by stage. A recipient counts in one of
/// `pending`, `accepted`, `failed`, `excluded` and `in_doubt` (they add up
/// to `targeted`); `sent`, `delivered`, `read` and `replied` count the
/// recipients whose message reached that point, whatever their state now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub campaign_id: i64,
    /// Every recipient in the ledger, excluded ones included.
    pub targeted: i64,
    /// Planned, queued or being sent.
    pub pending: i64,
    /// Taken by Meta and not failed since (accepted, sent, delivered or read).
    pub accepted: i64,
    pub sent: i64,
    pub delivered: i64,
    pub read: i64,
    pub replied: i64,
    pub failed: i64,
    pub excluded: i64,
    pub in_doubt: i64,
}

/// The progress of the active campaigns (the newest [`MAX_CAMPAIGNS`]).
pub async fn active(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Progress>> {
    sqlx::query_as!(
        Progress,
        r#"select c.id as campaign_id,
             coalesce(sum(v.value) filter (where v.metric like 'state:%'), 0)::bigint as "targeted!",
             coalesce(sum(v.value) filter (where v.metric in ('state:planned', 'state:queued', 'state:sending')), 0)::bigint
               as "pending!",
             coalesce(sum(v.value) filter (where v.metric in ('state:accepted', 'state:sent', 'state:delivered',
                                                              'state:read')), 0)::bigint as "accepted!",
             coalesce(sum(v.value) filter (where v.metric = 'sent'), 0)::bigint as "sent!",
             coalesce(sum(v.value) filter (where v.metric = 'delivered'), 0)::bigint as "delivered!",
             coalesce(sum(v.value) filter (where v.metric = 'read'), 0)::bigint as "read!",
             coalesce(sum(v.value) filter (where v.metric = 'replied'), 0)::bigint as "replied!",
             coalesce(sum(v.value) filter (where v.metric = 'state:failed'), 0)::bigint as "failed!",
             coalesce(sum(v.value) filter (where v.metric = 'state:excluded'), 0)::bigint as "excluded!",
             coalesce(sum(v.value) filter (where v.metric = 'state:in_doubt'), 0)::bigint as "in_doubt!"
           from (select id from campaigns where lifecycle = 'active' order by id desc limit $1) c
           left join campaign_counters v on v.campaign_id = c.id
           group by c.id
           order by c.id"#,
        MAX_CAMPAIGNS
    )
    .fetch_all(db)
    .await
}
