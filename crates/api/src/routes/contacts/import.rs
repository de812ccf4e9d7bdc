//! `POST /v1/contacts/import`: a CSV import streamed from the request body.
//!
//! Memory stays flat whatever the file size: rows are parsed as they arrive,
//! validated, and written in batches by a separate task inside one
//! transaction (parsing and writing overlap). If any row is invalid nothing is
//! committed, and the answer lists the bad rows by line number.

use std::io;

use axum::{
    Json,
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode, header},
};
use csv_async::{AsyncReaderBuilder, StringRecord};
use domain::{TagList, ValuedTagKey, ValuedTagValue, ValuedTags};
use futures::StreamExt;
use serde::Serialize;
use store::{
    OrgId, PgPool,
    contacts::{self, ContactUpsert, UpsertBatch, UpsertCounts},
};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::io::StreamReader;
use utoipa::ToSchema;

use super::{bulk::MAX_REPORTED_ROWS, input::validate_parts};
use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody, RowError},
    state::AppState,
};

/// Most rows written per statement.
const BATCH_ROWS: usize = 10_000;
/// An upload that sends nothing for this long is abandoned (and rolled back).
const BODY_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// The prefix of a valued-tag column: `vt:customer_id`.
const VALUED_TAG_COLUMN: &str = "vt:";
/// The most columns a file may have: the four fixed ones and valued tags
/// (a contact carries at most 50, but rows may use different keys).
pub const MAX_COLUMNS: usize = 1_000;

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportSummary {
    /// Data rows read (the header excluded).
    pub rows: u64,
    pub created: i64,
    pub updated: i64,
}

/// Imports contacts from CSV (`Content-Type: text/csv`, UTF-8, comma-separated,
/// with a header row). Columns: `phone` (required, E.164), `name`, `wa_id`,
/// `tags` (`;`-separated) and one `vt:<key>` column per valued tag (an empty
/// cell leaves that key unset). Unknown columns are refused. Upsert rules are
/// those of the bulk endpoint; all or nothing.
#[utoipa::path(
    post, path = "/v1/contacts/import", tag = "contacts", security(("api_key" = [])),
    request_body(content = String, content_type = "text/csv",
                 description = "phone,name,tags,vt:customer_id\n+34612345678,Ana,vip;madrid,C-1"),
    responses(
        (status = 200, description = "Every row imported", body = ImportSummary),
        (status = 400, description = "Missing or unknown column, unreadable body", body = ErrorBody),
        (status = 413, description = "File over the import limit", body = ErrorBody),
        (status = 415, description = "Not text/csv", body = ErrorBody),
        (status = 408, description = "The upload stalled for 60 s", body = ErrorBody),
        (status = 422, description = "Invalid rows; nothing imported", body = ErrorBody),
        (status = 429, description = "Too many imports running", body = ErrorBody),
    )
)]
pub async fn import_csv(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<ImportSummary>> {
    check_content_type(&headers)?;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.limits.csv_import_bytes) {
        return Err(ApiError::TooLarge { limit: Some(state.limits.csv_import_bytes) });
    }
    Ok(Json(import(&state, auth.org(), body).await?))
}

/// Imports a CSV file read from `body` (the API's request body, or the
/// file the console's form uploaded): all rows or none.
pub(crate) async fn import(state: &AppState, org: OrgId, body: Body) -> ApiResult<ImportSummary> {
    // Each running import holds a database connection while it writes.
    let _slot = state.import_slots.clone().try_acquire_owned().map_err(|_| ApiError::Invalid {
        status: StatusCode::TOO_MANY_REQUESTS,
        code: "too_many_imports",
        message: format!(
            "{} imports are already running; retry when one has finished",
            state.limits.concurrent_imports
        ),
        field: None,
    })?;
    let limit = state.limits.csv_import_bytes;
    let mut seen = 0u64;
    // Every quoted field holds an even number of `"` (the pair around it and
    // each doubled one inside), so an odd count at the end of the file means
    // it ends inside a quoted field, which the CSV reader would silently
    // close. Counted here, as the bytes pass.
    let quotes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = quotes.clone();
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(io::Error::other)?;
        seen += chunk.len() as u64;
        let in_chunk = chunk.iter().filter(|&&b| b == b'"').count() as u64;
        counted.fetch_add(in_chunk, std::sync::atomic::Ordering::Relaxed);
        if seen > limit { Err(io::Error::other(LimitExceeded)) } else { Ok(chunk) }
    });
    let mut reader = AsyncReaderBuilder::new().has_headers(true).create_reader(StreamReader::new(stream));
    let columns = Columns::from_header(reader.headers().await.map_err(|e| read_error(e, limit))?)?;

    let writer = Writer::start(state.pg.clone(), org);
    let mut batch = UpsertBatch::new(BATCH_ROWS);
    let (mut rows, mut bad_count, mut bad) = (0u64, 0u64, Vec::new());
    let mut record = StringRecord::new();
    loop {
        let read = tokio::time::timeout(BODY_IDLE_TIMEOUT, reader.read_record(&mut record)).await.map_err(|_| {
            ApiError::Invalid {
                status: StatusCode::REQUEST_TIMEOUT,
                code: "body_timeout",
                message: format!("no data arrived for {} s; nothing was imported", BODY_IDLE_TIMEOUT.as_secs()),
                field: None,
            }
        })?;
        let problem = match read {
            Ok(false) if quotes.load(std::sync::atomic::Ordering::Relaxed) % 2 == 1 => {
                rows += u64::from(rows == 0);
                bad_count += 1;
                if bad.len() < MAX_REPORTED_ROWS {
                    bad.push(RowError {
                        row: record.position().map_or(rows + 1, |p| p.line()),
                        field: None,
                        code: "malformed_csv_row".into(),
                        message: "the file ends inside a quoted field: a `\"` is never closed".into(),
                    });
                }
                break;
            }
            Ok(false) => break,
            Ok(true) => {
                rows += 1;
                let line = record.position().map_or(0, |p| p.line());
                match columns.contact(&record) {
                    Ok(contact) if bad_count == 0 => {
                        if let Some(finished) = batch.add(contact)
                            && !writer.send(finished).await
                        {
                            break; // the writer failed; commit() reports why
                        }
                        None
                    }
                    Ok(_) => None, // the import already failed; keep reading only to report more rows
                    Err(e) => {
                        Some(RowError { row: line, field: Some(e.field), code: e.code.into(), message: e.message })
                    }
                }
            }
            Err(e) if e.is_io_error() => return Err(read_error(e, limit)),
            Err(e) => {
                rows += 1;
                let line = e.position().map_or(0, |p| p.line());
                Some(RowError { row: line, field: None, code: "malformed_csv_row".into(), message: csv_message(&e) })
            }
        };
        if let Some(row_error) = problem {
            bad_count += 1;
            if bad.len() < MAX_REPORTED_ROWS {
                bad.push(row_error);
            }
        }
    }
    if bad_count > 0 {
        writer.abort();
        return Err(ApiError::InvalidRows {
            message: format!("{bad_count} of {rows} rows are invalid; nothing was imported"),
            rows: bad,
        });
    }
    writer.send(batch).await;
    let counts = writer.commit().await?;
    tracing::info!(rows, created = counts.created, updated = counts.updated, "contacts imported");
    Ok(ImportSummary { rows, created: counts.created, updated: counts.updated })
}

fn check_content_type(headers: &HeaderMap) -> ApiResult<()> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence == "text/csv" || essence == "application/csv" {
        return Ok(());
    }
    Err(ApiError::Invalid {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        code: "unsupported_media_type",
        message: "expected `Content-Type: text/csv`".into(),
        field: None,
    })
}

#[derive(Debug, thiserror::Error)]
#[error("the import is larger than the configured limit")]
struct LimitExceeded;

fn read_error(e: csv_async::Error, limit: u64) -> ApiError {
    let over_limit = matches!(e.kind(), csv_async::ErrorKind::Io(io)
        if io.get_ref().is_some_and(|inner| inner.is::<LimitExceeded>()));
    if over_limit {
        return ApiError::TooLarge { limit: Some(limit) };
    }
    match e.kind() {
        csv_async::ErrorKind::Io(_) => {
            ApiError::bad_request("unreadable_body", "the request body could not be read to the end")
        }
        _ => {
            ApiError::bad_request("malformed_csv_header", format!("the header row cannot be read: {}", csv_message(&e)))
        }
    }
}

fn csv_message(e: &csv_async::Error) -> String {
    match e.kind() {
        csv_async::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("expected {expected_len} fields like the header, found {len}")
        }
        csv_async::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8".into(),
        _ => "the row cannot be parsed as CSV".into(),
    }
}

/// Where each known column sits in the file.
struct Columns {
    /// Each column's name as the header spells it, for errors.
    names: Vec<String>,
    phone: usize,
    name: Option<usize>,
    wa_id: Option<usize>,
    tags: Option<usize>,
    time_zone: Option<usize>,
    valued: Vec<(usize, ValuedTagKey)>,
}

impl Columns {
    fn from_header(header: &StringRecord) -> ApiResult<Self> {
        let header_error = |code, message: String| ApiError::bad_request(code, message);
        if header.len() > MAX_COLUMNS {
            return Err(ApiError::invalid(
                "too_many_columns",
                format!("the header has {} columns; at most {MAX_COLUMNS} are accepted", header.len()),
                None,
            ));
        }
        let (mut phone, mut name, mut wa_id, mut tags, mut time_zone) = (None, None, None, None, None);
        let mut valued: Vec<(usize, ValuedTagKey)> = Vec::new();
        let mut valued_keys = std::collections::HashSet::new();
        let mut names = Vec::with_capacity(header.len());
        for (i, raw) in header.iter().enumerate() {
            let column = raw.trim().trim_start_matches('\u{feff}');
            crate::text::check_line(column, &format!("column {}", i + 1))?;
            names.push(column.to_owned());
            let slot = match column.to_ascii_lowercase().as_str() {
                "phone" => &mut phone,
                "name" => &mut name,
                "wa_id" => &mut wa_id,
                "tags" => &mut tags,
                "time_zone" => &mut time_zone,
                lower if lower.starts_with(VALUED_TAG_COLUMN) => {
                    let key = ValuedTagKey::parse(&column[VALUED_TAG_COLUMN.len()..])
                        .map_err(|e| header_error("invalid_column", format!("column {column:?}: {e}")))?;
                    if !valued_keys.insert(key.clone()) {
                        return Err(header_error("duplicate_column", format!("column {column:?} appears twice")));
                    }
                    valued.push((i, key));
                    continue;
                }
                _ => {
                    return Err(header_error(
                        "unknown_column",
                        format!("unknown column {column:?}; expected phone, name, wa_id, tags, time_zone or vt:<key>"),
                    ));
                }
            };
            if slot.replace(i).is_some() {
                return Err(header_error("duplicate_column", format!("column {column:?} appears twice")));
            }
        }
        let phone = phone.ok_or_else(|| header_error("missing_column", "the header has no `phone` column".into()))?;
        Ok(Self { names, phone, name, wa_id, tags, time_zone, valued })
    }

    fn contact(&self, r: &StringRecord) -> Result<ContactUpsert, super::input::FieldError> {
        for (i, value) in r.iter().enumerate() {
            if let Some((c, why)) = crate::text::forbidden_char(value) {
                let column = self.names.get(i).map_or("?", String::as_str);
                return Err(super::input::FieldError {
                    field: column.to_owned(),
                    code: "invalid_text",
                    message: format!("{column} contains {why} (U+{:04X}), which is not accepted in text", u32::from(c)),
                });
            }
        }
        let cell = |i: Option<usize>| i.and_then(|i| r.get(i));
        validate_parts(
            cell(Some(self.phone)).unwrap_or(""),
            cell(self.name),
            cell(self.wa_id),
            cell(self.time_zone),
            || cell(self.tags).map_or_else(|| Ok(TagList::default()), TagList::parse_delimited),
            || {
                let mut tags = ValuedTags::default();
                for (i, key) in &self.valued {
                    if let Some(value) = r.get(*i).filter(|v| !v.is_empty()) {
                        tags.insert(key.clone(), ValuedTagValue::parse(key, value)?)?;
                    }
                }
                Ok(tags)
            },
        )
    }
}

/// The transaction holding an import's writes, and what they did.
type Written = Option<(store::Transaction<'static, store::Postgres>, UpsertCounts)>;

/// The task that writes batches inside one transaction while the request
/// handler keeps parsing. The transaction (and its pooled connection) is only
/// taken when the first batch is ready, so a slow upload does not hold one.
struct Writer {
    batches: mpsc::Sender<UpsertBatch>,
    task: JoinHandle<sqlx::Result<Written>>,
}

impl Writer {
    fn start(pg: PgPool, org: OrgId) -> Self {
        let (batches, mut rx) = mpsc::channel::<UpsertBatch>(2);
        let task = tokio::spawn(async move {
            let Some(first) = rx.recv().await else {
                return Ok(None);
            };
            let mut tx = pg.begin().await?;
            let mut counts = contacts::upsert_batch(&mut tx, org, &first).await?;
            while let Some(batch) = rx.recv().await {
                counts += contacts::upsert_batch(&mut tx, org, &batch).await?;
            }
            Ok(Some((tx, counts)))
        });
        Self { batches, task }
    }

    /// Hands a batch over. `false` means the writer has failed: stop reading,
    /// [`Writer::commit`] reports the failure.
    async fn send(&self, batch: UpsertBatch) -> bool {
        batch.is_empty() || self.batches.send(batch).await.is_ok()
    }

    /// Stops writing; the transaction rolls back when the task drops it.
    fn abort(self) {
        self.task.abort();
    }

    async fn commit(self) -> ApiResult<UpsertCounts> {
        drop(self.batches);
        match self.task.await.map_err(|e| ApiError::Internal(e.into()))?? {
            Some((tx, counts)) => {
                tx.commit().await?;
                Ok(counts)
            }
            None => Ok(UpsertCounts::default()),
        }
    }
}
