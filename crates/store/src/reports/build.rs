//! The report builder's queries: claim a report, read the ledger in keyset
//! pages, write chunks, finish or fail. `workers::report` drives them.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

/// The report a build is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub org_id: i64,
    pub campaign_id: i64,
}

/// Marks a pending (or interrupted: building) report as building; `None`
/// when it is ready or failed already, or gone.
pub async fn start(db: impl PgExecutor<'_>, report_id: i64) -> sqlx::Result<Option<Target>> {
    sqlx::query_as!(
        Target,
        r#"update reports set status = 'building', started_at = now(), error = null
           where id = $1 and status in ('pending', 'building')
           returning org_id, campaign_id"#,
        report_id
    )
    .fetch_optional(db)
    .await
}

/// Takes the report's build lock for the caller's transaction; `false` when
/// another build of it holds the lock (a redelivered job while the first
/// still runs). A build that dies releases it with its connection.
pub async fn lock(tx: &mut PgConnection, report_id: i64) -> sqlx::Result<bool> {
    let key = i32::try_from(report_id.rem_euclid(1 << 31)).unwrap_or_default();
    sqlx::query_scalar!(r#"select pg_try_advisory_xact_lock(hashtext('campaigns.report'), $1) as "locked!""#, key)
        .fetch_one(tx)
        .await
}

/// Deletes what an interrupted build left (nothing, when it ran in a
/// transaction that was rolled back; kept for builds that did not).
pub async fn clear_chunks(db: impl PgExecutor<'_>, report_id: i64) -> sqlx::Result<u64> {
    sqlx::query!("delete from report_chunks where report_id = $1", report_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected())
}

pub async fn insert_chunk(db: impl PgExecutor<'_>, report_id: i64, seq: i32, data: &[u8]) -> sqlx::Result<()> {
    sqlx::query!("insert into report_chunks (report_id, seq, data) values ($1, $2, $3)", report_id, seq, data)
        .execute(db)
        .await
        .map(drop)
}

/// Marks a building report ready; `false` when it is not building any more.
pub async fn finish(db: impl PgExecutor<'_>, report_id: i64, rows: i64, bytes: i64) -> sqlx::Result<bool> {
    sqlx::query!(
        r#"update reports set status = 'ready', row_count = $2, byte_count = $3, error = null, finished_at = now()
           where id = $1 and status = 'building'"#,
        report_id,
        rows,
        bytes
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Marks a report that is not ready failed, with a readable reason.
pub async fn fail(db: impl PgExecutor<'_>, report_id: i64, error: &str) -> sqlx::Result<bool> {
    sqlx::query!(
        r#"update reports set status = 'failed', error = $2, finished_at = now()
           where id = $1 and status in ('pending', 'building')"#,
        report_id,
        error
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Pending or building reports whose job was pushed (or whose build started)
/// more than `older_than` ago: their job was lost, or their build died and
/// was not redelivered. Each is marked pushed now, so it comes back once per
/// period at most.
pub async fn stale(db: impl PgExecutor<'_>, older_than: std::time::Duration) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(
        r#"update job_outbox o set pushed_at = now()
           from reports r
           where o.dedupe_key = 'report:' || r.id and o.pushed_at is not null
             and r.status in ('pending', 'building')
             and greatest(o.pushed_at, r.started_at) < now() - make_interval(secs => $1)
           returning r.id"#,
        older_than.as_secs_f64()
    )
    .fetch_all(db)
    .await
}

/// One recipient of the ledger with what the report shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    pub contact_id: i64,
    pub phone: String,
    /// The contact's name now (`None` when it has none or was deleted).
    pub name: Option<String>,
    pub state: String,
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    /// With `reason_code`, what an exclusion is about (a valued-tag key).
    pub reason_key: Option<String>,
    pub meta_error_code: Option<i32>,
    pub engaged_campaign_id: Option<i64>,
    pub engaged_campaign_name: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub replied_at: Option<DateTime<Utc>>,
    pub wamid: Option<String>,
    /// The time zone the campaign's quiet hours were read in for this recipient.
    pub time_zone: Option<String>,
}

/// Up to `limit` recipients of the campaign after `after_contact`, in
/// contact order (the ledger's primary key: a keyset page).
pub async fn ledger_page(
    db: impl PgExecutor<'_>,
    campaign_id: i64,
    after_contact: i64,
    limit: i64,
) -> sqlx::Result<Vec<LedgerRow>> {
    sqlx::query_as!(
        LedgerRow,
        r#"select r.contact_id, r.phone, c.name as "name?", r.state, r.reason_code, r.reason, r.reason_key,
                  r.meta_error_code, r.engaged_campaign_id, e.name as "engaged_campaign_name?",
                  r.sent_at, r.delivered_at, r.read_at, r.replied_at, r.wamid, r.time_zone
           from recipients r
           -- `c.id > $2` is implied; without it a merge join reads contacts from the first id on every page.
           left join contacts c on c.id = r.contact_id and c.org_id = r.org_id and c.id > $2
           left join campaigns e on e.id = r.engaged_campaign_id and e.org_id = r.org_id
           where r.campaign_id = $1 and r.contact_id > $2
           order by r.contact_id
           limit $3"#,
        campaign_id,
        after_contact,
        limit
    )
    .fetch_all(db)
    .await
}

/// A funnel step a recipient reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRow {
    pub contact_id: i64,
    pub step: String,
    pub reached_at: DateTime<Utc>,
}

/// The funnel steps of the campaign's contacts in `(after_contact, up_to]`,
/// in contact order, then in the order they were reached.
pub async fn funnel_page(
    db: impl PgExecutor<'_>,
    campaign_id: i64,
    after_contact: i64,
    up_to: i64,
) -> sqlx::Result<Vec<StepRow>> {
    sqlx::query_as!(
        StepRow,
        r#"select contact_id, step, reached_at from funnel_steps
           where campaign_id = $1 and contact_id > $2 and contact_id <= $3
           order by contact_id, reached_at, step"#,
        campaign_id,
        after_contact,
        up_to
    )
    .fetch_all(db)
    .await
}
