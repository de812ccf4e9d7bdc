//! Opening and closing a contact's inbox case.

use axum::{Json, extract::State};
use serde::Deserialize;
use store::inbox::{self, InboxCase};
use utoipa::ToSchema;

use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiPath, OptionalJson},
    state::AppState,
};

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenCase {
    /// Free text for agents.
    #[serde(default)]
    pub note: Option<String>,
}

/// Opens an inbox case: an agent is attending the contact, so campaigns skip
/// it until the case is closed. Opening an already open case returns it. The
/// body is optional.
#[utoipa::path(
    post, path = "/v1/contacts/{id}/inbox-case", tag = "contacts", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Contact id")), request_body = OpenCase,
    responses((status = 200, body = InboxCase), (status = 404, body = ErrorBody))
)]
pub async fn open(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
    OptionalJson(body): OptionalJson<OpenCase>,
) -> ApiResult<Json<InboxCase>> {
    let note = body.note;
    if note.as_ref().is_some_and(|n| n.chars().count() > 2_000) {
        return Err(ApiError::invalid("invalid_note", "the note is longer than 2000 characters", Some("note".into())));
    }
    inbox::open(&state.pg, auth.org(), id, note.as_deref())
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound { what: "contact" })
}

/// Closes the contact's open inbox case.
#[utoipa::path(
    delete, path = "/v1/contacts/{id}/inbox-case", tag = "contacts", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Contact id")),
    responses((status = 200, body = InboxCase), (status = 404, description = "No such contact or no open case", body = ErrorBody))
)]
pub async fn close(State(state): State<AppState>, auth: Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<InboxCase>> {
    inbox::close(&state.pg, auth.org(), id).await?.map(Json).ok_or(ApiError::NotFound { what: "open inbox case" })
}
