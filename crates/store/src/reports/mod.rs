//! CSV reports of a campaign's ledger: requested through the API
//! (the report row and its job in one transaction), built by the report
//! queue in chunks ([`build`]), streamed on download chunk by chunk.
//! Chunks are stored as raw deflate ([`gzip`]).

pub mod build;
pub mod gzip;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use crate::OrgId;

/// The most reports [`list`] returns.
pub const LIST_LIMIT: i64 = 100;

/// A report as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Report {
    pub id: i64,
    pub campaign_id: i64,
    /// `pending` (requested), `building`, `ready` (downloadable) or `failed` (see `error`).
    pub status: String,
    /// Data rows in the CSV (one per recipient), once ready.
    pub row_count: Option<i64>,
    /// Size of the uncompressed CSV in bytes, once ready.
    pub byte_count: Option<i64>,
    /// Why it failed, readable.
    pub error: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Requests a report of the campaign and records its job in the outbox, in
/// the caller's transaction (the relay pushes it to the report queue, kind
/// `report`, key `report:<id>`). `None` when the campaign is not the
/// organization's.
pub async fn request(tx: &mut PgConnection, org: OrgId, campaign_id: i64) -> sqlx::Result<Option<Report>> {
    let report = sqlx::query_as!(
        Report,
        r#"insert into reports (org_id, campaign_id)
           select org_id, id from campaigns where org_id = $1 and id = $2
           returning id, campaign_id, status, row_count, byte_count, error, requested_at, started_at, finished_at"#,
        org.0,
        campaign_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(report) = report else { return Ok(None) };
    sqlx::query!(
        r#"insert into job_outbox (queue, dedupe_key, payload)
           values ('report', 'report:' || $1::bigint, jsonb_build_object('report_id', $1::bigint))
           on conflict (dedupe_key) do nothing"#,
        report.id
    )
    .execute(tx)
    .await?;
    Ok(Some(report))
}

pub async fn get(db: impl PgExecutor<'_>, org: OrgId, id: i64) -> sqlx::Result<Option<Report>> {
    sqlx::query_as!(
        Report,
        r#"select id, campaign_id, status, row_count, byte_count, error, requested_at, started_at, finished_at
           from reports where org_id = $1 and id = $2"#,
        org.0,
        id
    )
    .fetch_optional(db)
    .await
}

/// The campaign's reports, newest first, at most [`LIST_LIMIT`].
pub async fn list(db: impl PgExecutor<'_>, org: OrgId, campaign_id: i64) -> sqlx::Result<Vec<Report>> {
    sqlx::query_as!(
        Report,
        r#"select id, campaign_id, status, row_count, byte_count, error, requested_at, started_at, finished_at
           from reports where org_id = $1 and campaign_id = $2
           order by id desc limit $3"#,
        org.0,
        campaign_id,
        LIST_LIMIT
    )
    .fetch_all(db)
    .await
}

/// How a ready report is stored: its chunk count and their compressed size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub chunks: i32,
    pub compressed_bytes: i64,
}

/// The chunks of a report (reading sizes only: no chunk is loaded).
pub async fn stored(db: impl PgExecutor<'_>, report_id: i64) -> sqlx::Result<Stored> {
    let row = sqlx::query!(
        r#"select count(*)::int as "chunks!", coalesce(sum(octet_length(data)), 0)::bigint as "bytes!"
           from report_chunks where report_id = $1"#,
        report_id
    )
    .fetch_one(db)
    .await?;
    Ok(Stored { chunks: row.chunks, compressed_bytes: row.bytes })
}

/// One stored chunk (raw deflate, [`gzip`]), by its sequence number from 0.
pub async fn chunk(db: impl PgExecutor<'_>, report_id: i64, seq: i32) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar!("select data from report_chunks where report_id = $1 and seq = $2", report_id, seq)
        .fetch_optional(db)
        .await
}
