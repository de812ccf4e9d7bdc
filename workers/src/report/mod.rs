//! The report queue (`WORKER_QUEUES=report`): builds a campaign's CSV report
//! from its ledger in keyset pages, one compressed chunk per page, in
//! constant memory (docs/reports.md).
//!
//! A build runs in one transaction under a per-report advisory lock: a crash
//! leaves no chunk behind and a redelivered job restarts from scratch, while
//! a job delivered twice at once builds once. A ready or failed report is
//! never built again.

pub mod rows;

use std::time::Duration;

use anyhow::Context;
use queue::{
    Job, JobError, QueueSettings, Relay, ReportJob,
    apalis::prelude::{TaskBuilder, TaskSink},
};
use redis::aio::ConnectionManager;
use store::{
    PgPool,
    reports::{build as db, gzip::ChunkEncoder},
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Recipients per chunk: ~2 MB of CSV, ~0.4 MB stored.
pub const PAGE_ROWS: i64 = 10_000;

/// Reports one process builds at once.
pub const CONCURRENCY: usize = 2;

/// A pending or building report untouched this long is pushed again (its job
/// was lost, or its build died with no redelivery).
pub const STALE_AFTER: Duration = Duration::from_secs(600);

/// What [`build`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Built {
    /// Built now: data rows and uncompressed CSV bytes.
    Ready { rows: i64, bytes: i64 },
    /// Ready or failed before (or deleted): nothing to do.
    AlreadyDone,
    /// Another build of the same report is running.
    InProgress,
}

/// A page formatted and compressed off the async runtime.
struct Chunk {
    data: Vec<u8>,
    rows: usize,
    raw_bytes: usize,
    encoder: ChunkEncoder,
}

/// Builds one report: marks it building, writes one chunk per ledger page
/// (the header row first), and marks it ready with its counts, all or
/// nothing. The next page is read while the previous one is formatted.
pub async fn build(pg: &PgPool, report_id: i64) -> anyhow::Result<Built> {
    build_in_pages(pg, report_id, PAGE_ROWS).await
}

/// [`build`] with `page_rows` recipients per chunk (tests use small pages).
pub async fn build_in_pages(pg: &PgPool, report_id: i64, page_rows: i64) -> anyhow::Result<Built> {
    let Some(target) = db::start(pg, report_id).await.context("marking the report building")? else {
        return Ok(Built::AlreadyDone);
    };
    let mut tx = pg.begin().await.context("starting the build")?;
    if !db::lock(&mut tx, report_id).await.context("locking the report")? {
        return Ok(Built::InProgress);
    }
    db::clear_chunks(&mut *tx, report_id).await.context("deleting an earlier attempt's chunks")?;
    let (mut after, mut seq, mut row_count, mut bytes) = (i64::MIN, 0, 0_i64, 0_i64);
    let mut encoder = Some(ChunkEncoder::default());
    let mut formatting: Option<JoinHandle<anyhow::Result<Chunk>>> = None;
    let mut more = true;
    loop {
        let page = if more {
            let page =
                db::ledger_page(&mut *tx, target.campaign_id, after, page_rows).await.context("reading the ledger")?;
            let steps = match page.last() {
                Some(last) => db::funnel_page(&mut *tx, target.campaign_id, after, last.contact_id)
                    .await
                    .context("reading the funnel steps")?,
                None => vec![],
            };
            more = page.len() as i64 == page_rows;
            after = page.last().map_or(after, |r| r.contact_id);
            Some((page, steps))
        } else {
            None
        };
        if let Some(handle) = formatting.take() {
            let chunk = handle.await.context("formatting a page")??;
            db::insert_chunk(&mut *tx, report_id, seq, &chunk.data).await.context("storing a chunk")?;
            (seq, row_count, bytes) = (seq + 1, row_count + chunk.rows as i64, bytes + chunk.raw_bytes as i64);
            encoder = Some(chunk.encoder);
        }
        let Some((page, steps)) = page else { break };
        // The first chunk has the header row, even for an empty ledger.
        if page.is_empty() && seq > 0 {
            continue;
        }
        let (header, mut enc) = (seq == 0, encoder.take().context("the encoder is in use")?);
        formatting = Some(tokio::task::spawn_blocking(move || {
            let csv = rows::page(&page, &steps, header).context("writing CSV")?;
            Ok(Chunk { data: enc.chunk(&csv), rows: page.len(), raw_bytes: csv.len(), encoder: enc })
        }));
    }
    let trailer = encoder.context("the encoder is in use")?.trailer();
    db::insert_chunk(&mut *tx, report_id, seq, &trailer).await.context("storing the last chunk")?;
    if !db::finish(&mut *tx, report_id, row_count, bytes).await.context("marking the report ready")? {
        return Ok(Built::AlreadyDone);
    }
    tx.commit().await.context("committing the report")?;
    Ok(Built::Ready { rows: row_count, bytes })
}

/// One report job. A build that fails marks the report failed with a
/// readable reason (the cause goes to the log) and is dead-lettered.
pub async fn handle(pg: &PgPool, job: ReportJob) -> Result<(), JobError> {
    let started = std::time::Instant::now();
    match build(pg, job.report_id).await {
        Ok(Built::Ready { rows, bytes }) => {
            let seconds = started.elapsed().as_secs_f64();
            tracing::info!(report.id = job.report_id, rows, bytes, seconds, "report ready");
            Ok(())
        }
        Ok(outcome) => {
            tracing::debug!(report.id = job.report_id, ?outcome, "nothing to build");
            Ok(())
        }
        Err(e) => {
            tracing::error!(error.cause_chain = ?e, report.id = job.report_id, "report build failed");
            let reason = format!("the report could not be built ({e}); request a new one");
            if let Err(mark) = db::fail(pg, job.report_id, &reason).await {
                tracing::error!(error.cause_chain = ?mark, report.id = job.report_id, "marking the report failed");
            }
            Err(JobError::msg(format!("report {} failed: {e:#}", job.report_id)))
        }
    }
}

/// Pushes requested reports to the report queue (the outbox relay for the
/// `report` kind) and reports whose job was lost, every `every` until
/// `stop`. Runs in every process with report consumers, so reports are
/// built without a scheduler in the same process; a scheduler's relay
/// pushing the same rows is harmless (the idempotency key).
pub async fn relay(
    pg: PgPool,
    redis: ConnectionManager,
    queue: QueueSettings,
    every: Duration,
    stop: CancellationToken,
) {
    let mut relay = Relay::new(pg.clone(), redis.clone(), [(ReportJob::OUTBOX_KIND.to_owned(), queue.clone())]);
    let storage = queue.storage::<ReportJob>(redis);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {
                if let Err(e) = relay.relay_all().await {
                    tracing::warn!(error.cause_chain = ?e, "relaying report jobs failed");
                }
                match db::stale(&pg, STALE_AFTER).await {
                    Ok(ids) => {
                        for report_id in ids {
                            tracing::warn!(report.id = report_id, "report job lost; pushing it again");
                            // No idempotency key: the first push's key may still live.
                            let mut storage = storage.clone();
                            if let Err(e) = storage.push_task(TaskBuilder::new(ReportJob { report_id }).build()).await {
                                tracing::warn!(error = %e, report.id = report_id, "re-pushing a report job failed");
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error.cause_chain = ?e, "looking for lost report jobs failed"),
                }
            }
        }
    }
}
