//! CSV reports of a campaign's ledger: requested here, built by the
//! report queue (`workers::report`), downloaded as a stream of stored
//! chunks, one at a time (constant memory for any size), gzip-encoded when
//! the client accepts it (docs/reports.md).

use axum::{
    Json,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::{StreamExt, TryStreamExt, stream};
use serde::Serialize;
use store::{
    PgPool, funnel,
    reports::{
        self, Report,
        gzip::{ChunkDecoder, HEADER},
    },
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::ApiPath,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(request, list)).routes(routes!(get)).routes(routes!(download))
}

/// A campaign's reports, newest first (at most 100).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportList {
    pub reports: Vec<Report>,
}

fn campaign_not_found() -> ApiError {
    ApiError::NotFound { what: "campaign" }
}

fn report_not_found() -> ApiError {
    ApiError::NotFound { what: "report" }
}

/// Requests a CSV report of the campaign's ledger: one row per targeted
/// contact, excluded ones included. It is built in the background; poll
/// `GET /v1/reports/{id}` until `status` is `ready`, then download it.
#[utoipa::path(
    post, path = "/v1/campaigns/{id}/reports", tag = "reports", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Campaign id")),
    responses((status = 202, description = "Requested; `status` is `pending`", body = Report), (status = 404, body = ErrorBody))
)]
pub async fn request(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<(StatusCode, Json<Report>)> {
    let mut tx = state.pg.begin().await?;
    let report = reports::request(&mut tx, auth.org(), id).await?.ok_or_else(campaign_not_found)?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Json(report)))
}

/// The campaign's reports, newest first (at most 100).
#[utoipa::path(
    get, path = "/v1/campaigns/{id}/reports", tag = "reports", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Campaign id")),
    responses((status = 200, body = ReportList), (status = 404, body = ErrorBody))
)]
pub async fn list(State(state): State<AppState>, auth: Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<ReportList>> {
    if !funnel::campaign_exists(&state.pg, auth.org(), id).await? {
        return Err(campaign_not_found());
    }
    Ok(Json(ReportList { reports: reports::list(&state.pg, auth.org(), id).await? }))
}

/// One report: its status, and its counts once ready or its error once failed.
#[utoipa::path(
    get, path = "/v1/reports/{id}", tag = "reports", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Report id")),
    responses((status = 200, body = Report), (status = 404, body = ErrorBody))
)]
pub async fn get(State(state): State<AppState>, auth: Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Report>> {
    reports::get(&state.pg, auth.org(), id).await?.map(Json).ok_or_else(report_not_found)
}

/// Downloads a ready report as CSV (UTF-8, a header row, then one row per
/// recipient), streamed. With `Accept-Encoding: gzip` the body is gzip
/// (`Content-Encoding: gzip`), as stored; otherwise it is inflated on the fly.
#[utoipa::path(
    get, path = "/v1/reports/{id}/download", tag = "reports", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Report id")),
    responses(
        (status = 200, description = "The CSV", content_type = "text/csv", body = String),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`report_not_ready` (pending or building), `report_failed`", body = ErrorBody),
    )
)]
pub async fn download(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    download_response(&state, auth.org(), id, &headers).await
}

/// A ready report of the organization as a streamed CSV download (the API's
/// download and the console's).
pub(crate) async fn download_response(
    state: &AppState,
    org: store::OrgId,
    id: i64,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let report = reports::get(&state.pg, org, id).await?.ok_or_else(report_not_found)?;
    match report.status.as_str() {
        "ready" => {}
        "failed" => {
            let error = report.error.as_deref().unwrap_or("unknown error");
            return Err(ApiError::Conflict { code: "report_failed", message: format!("report {id} failed: {error}") });
        }
        status => {
            return Err(ApiError::Conflict {
                code: "report_not_ready",
                message: format!("report {id} is {status}; download it once its status is ready"),
            });
        }
    }
    let stored = reports::stored(&state.pg, id).await?;
    let gzip = accepts_gzip(headers);
    let (body, length) = if gzip {
        let chunks = chunks(state.pg.clone(), id, stored.chunks, None);
        let header = stream::once(async { Ok(Bytes::from_static(&HEADER)) });
        (Body::from_stream(header.chain(chunks)), HEADER.len() as i64 + stored.compressed_bytes)
    } else {
        (
            Body::from_stream(chunks(state.pg.clone(), id, stored.chunks, Some(ChunkDecoder::default()))),
            report.byte_count.unwrap_or(0),
        )
    };
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    let filename = format!("attachment; filename=\"campaign-{}-report-{id}.csv\"", report.campaign_id);
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::try_from(filename).map_err(anyhow::Error::from)?);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Ok(response)
}

/// The stored chunks in order, read one query each (no connection is held
/// between chunks, so a slow client holds none); inflated when `decoder`.
fn chunks(
    pg: PgPool,
    report_id: i64,
    count: i32,
    decoder: Option<ChunkDecoder>,
) -> impl futures::Stream<Item = Result<Bytes, anyhow::Error>> {
    stream::try_unfold((0, decoder), move |(seq, mut decoder)| {
        let pg = pg.clone();
        async move {
            if seq >= count {
                return Ok(None);
            }
            let data = reports::chunk(&pg, report_id, seq)
                .await?
                .ok_or_else(|| anyhow::anyhow!("chunk {seq} of report {report_id} is missing"))?;
            let bytes = match &mut decoder {
                Some(decoder) => Bytes::from(decoder.chunk(&data)?),
                None => Bytes::from(data),
            };
            Ok(Some((bytes, (seq + 1, decoder))))
        }
    })
    .inspect_err(move |e| tracing::error!(error.cause_chain = ?e, report.id = report_id, "report download failed"))
}

/// True when the request's `Accept-Encoding` allows gzip (`gzip`, `x-gzip`
/// or `*`, with a non-zero quality; an explicit `gzip;q=0` refuses it).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut wildcard = None;
    for item in
        headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or_default().trim();
        let quality = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())
            .unwrap_or(0.0);
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            return quality > 0.0;
        }
        if coding == "*" {
            wildcard = Some(quality > 0.0);
        }
    }
    wildcard.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn gzip_is_used_only_when_accepted() {
        for yes in ["gzip", "gzip, deflate, br", "br;q=1.0, GZIP;q=0.5", "x-gzip", "*", "identity, *;q=0.1"] {
            assert!(accepts_gzip(&with(yes)), "{yes}");
        }
        for no in ["identity", "br", "gzip;q=0", "gzip;q=0.0, *", "*;q=0", "deflate"] {
            assert!(!accepts_gzip(&with(no)), "{no}");
        }
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
