//! `POST /v1/campaigns/{id}/retry-failed`: "Retry failed" — a new Draft with
//! the campaign's settings whose audience is exactly its recipients whose
//! failure is worth retrying later (Meta's marketing limit 131049, rate
//! limits, Meta's transient errors, and outcomes that stayed unknown).

use axum::{Json, extract::State, http::StatusCode};
use store::{OrgId, campaigns};

use super::{crud::CloneInput, load, not_found, view::CampaignView};
use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiPath, OptionalJson},
    state::AppState,
};

/// Creates a Draft (Ready when nothing is missing) that sends the same
/// template with the same bindings, header media, bot flow and pace to
/// exactly the campaign's recipients whose failure is worth retrying later.
/// It takes over those contacts' engagement when it starts, so it need not
/// wait for this campaign to finish.
#[utoipa::path(
    post, path = "/v1/campaigns/{id}/retry-failed", tag = "campaigns", security(("api_key" = [])),
    params(("id" = i64, Path, description = "The campaign whose failures to retry")),
    request_body(content = Option<CloneInput>),
    responses(
        (status = 201, description = "The new campaign; `audience.contacts` says how many it targets",
         body = CampaignView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "No recipient failed in a way worth retrying", body = ErrorBody),
        (status = 422, description = "Invalid name", body = ErrorBody),
    )
)]
pub async fn retry_failed(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
    OptionalJson(body): OptionalJson<CloneInput>,
) -> ApiResult<(StatusCode, Json<CampaignView>)> {
    let (new, _) = create_retry(&state, auth.org(), id, body.name.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(load(&state, auth.org(), new).await?)))
}

/// How many of the campaign's recipients a retry would target.
pub(crate) async fn retryable(state: &AppState, org: OrgId, id: i64) -> ApiResult<i64> {
    Ok(campaigns::retryable_failures(&state.pg, org, id, &whatsapp::worth_retrying_later()).await?)
}

/// Creates the retry of `id` (the API's and the console's); its id and the
/// number of contacts it targets.
pub(crate) async fn create_retry(state: &AppState, org: OrgId, id: i64, name: Option<&str>) -> ApiResult<(i64, i32)> {
    let current = campaigns::get(&state.pg, org, id).await?.ok_or_else(not_found)?;
    let default = format!("Retry of {}", current.name).chars().take(200).collect::<String>();
    let name = crate::routes::check_name(name.unwrap_or(&default))?;
    campaigns::retry_failed(&state.pg, org, id, name, &whatsapp::worth_retrying_later()).await?.ok_or_else(|| {
        ApiError::Conflict {
            code: "nothing_to_retry",
            message: "no recipient of this campaign failed in a way worth retrying later (Meta's marketing limit \
                      131049, a rate limit, a transient Meta error, or an unknown outcome); permanent failures and \
                      opt-outs are never retried"
                .into(),
        }
    })
}
