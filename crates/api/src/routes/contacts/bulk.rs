//! `POST /v1/contacts/bulk`: upsert up to 10,000 contacts from JSON, all or nothing.

use axum::{Json, extract::State};
use serde::Deserialize;
use store::contacts::{self, UpsertCounts};
use utoipa::ToSchema;

use super::input::ContactInput;
use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody, RowError},
    extract::ApiJson,
    state::AppState,
};

/// Most row problems listed in one error answer.
pub const MAX_REPORTED_ROWS: usize = 100;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkUpsert {
    /// At most 10,000 contacts. A phone that appears twice is applied in order
    /// (tags add up, later values win).
    pub contacts: Vec<ContactInput>,
}

/// Upserts contacts by phone. Every row is validated first: if any row is
/// invalid nothing is written and the answer lists the bad rows (0-based
/// index). Existing contacts gain the given tags and valued tags and keep
/// the rest.
#[utoipa::path(
    post, path = "/v1/contacts/bulk", tag = "contacts", security(("api_key" = [])),
    request_body = BulkUpsert,
    responses(
        (status = 200, description = "All contacts written", body = UpsertCounts),
        (status = 413, description = "Body over the bulk limit", body = ErrorBody),
        (status = 422, description = "Invalid rows; nothing written", body = ErrorBody),
    )
)]
pub async fn bulk_upsert(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<BulkUpsert>,
) -> ApiResult<Json<UpsertCounts>> {
    let max = state.limits.bulk_contacts;
    if body.contacts.len() > max {
        return Err(ApiError::invalid(
            "too_many_contacts",
            format!("{} contacts sent; at most {max} per request (use the CSV import for more)", body.contacts.len()),
            Some("contacts".to_owned()),
        ));
    }
    let mut valid = Vec::with_capacity(body.contacts.len());
    let mut bad = Vec::new();
    let mut bad_count = 0usize;
    for (i, input) in body.contacts.iter().enumerate() {
        match input.validate() {
            Ok(c) => valid.push(c),
            Err(e) => {
                bad_count += 1;
                if bad.len() < MAX_REPORTED_ROWS {
                    bad.push(RowError {
                        row: i as u64,
                        field: Some(format!("contacts[{i}].{}", e.field)),
                        code: e.code.to_owned(),
                        message: e.message,
                    });
                }
            }
        }
    }
    if bad_count > 0 {
        return Err(ApiError::InvalidRows {
            message: format!("{bad_count} of {} contacts are invalid; nothing was written", body.contacts.len()),
            rows: bad,
        });
    }
    let mut tx = state.pg.begin().await?;
    let counts = contacts::upsert_all(&mut tx, auth.org(), valid, max).await?;
    tx.commit().await?;
    Ok(Json(counts))
}
