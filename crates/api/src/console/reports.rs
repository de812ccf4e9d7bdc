//! Export report: request a campaign's CSV report, follow its progress on
//! the campaign page, download it (the same report the API builds).

use axum::{
    Form,
    extract::{Path, State},
    http::HeaderMap,
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::CookieJar;
use store::reports::{self, Report};

use super::{
    i18n,
    pages::{maybe_when, when},
    session::{self, Rejection, Signed},
};
use crate::{error::ApiError, routes::reports::download_response, state::AppState};

/// A report as the campaign page lists it.
#[derive(Debug)]
pub struct ReportRow {
    pub id: i64,
    /// Readable status: "Being built", "Ready", "Failed: …".
    pub status: String,
    pub ready: bool,
    pub rows: String,
    pub requested_at: String,
    pub finished_at: String,
}

impl From<&Report> for ReportRow {
    fn from(r: &Report) -> Self {
        Self {
            id: r.id,
            status: match r.status.as_str() {
                "pending" => i18n::t("report-status-requested"),
                "building" => i18n::t("report-status-building"),
                "ready" => i18n::t("report-status-ready"),
                _ => i18n::lang().t1("report-status-failed", "error", r.error.as_deref().unwrap_or("unknown error")),
            },
            ready: r.status == "ready",
            rows: r.row_count.map_or_else(|| "—".to_owned(), |n| n.to_string()),
            requested_at: when(&r.requested_at),
            finished_at: maybe_when(&r.finished_at),
        }
    }
}

/// The campaign's latest reports, newest first.
pub async fn latest(state: &AppState, org: store::OrgId, campaign_id: i64) -> Result<Vec<ReportRow>, Rejection> {
    Ok(reports::list(&state.pg, org, campaign_id).await?.iter().take(5).map(ReportRow::from).collect())
}

pub async fn request(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<session::CsrfForm>,
) -> Result<Response, Rejection> {
    signed.check_csrf(&form.csrf)?;
    let mut tx = state.pg.begin().await?;
    let requested = reports::request(&mut tx, signed.org(), id).await?;
    tx.commit().await?;
    let text = match requested {
        Some(_) => i18n::t("report-requested-notice"),
        None => session::refusal(ApiError::NotFound { what: "campaign" })?,
    };
    let jar = session::notice(jar, &text, session::https(&headers));
    Ok((jar, Redirect::to(&format!("/console/campaigns/{id}#reports"))).into_response())
}

pub async fn download(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, Rejection> {
    download_response(&state, signed.org(), id, &headers).await.map_err(Rejection::Failed)
}
