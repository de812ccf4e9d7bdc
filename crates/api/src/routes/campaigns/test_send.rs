//! `POST /v1/campaigns/{id}/test-send`: "Send a test" — the campaign's
//! message, exactly as it would go out, to a few phones of existing contacts,
//! as a new test campaign started at once (its stats and recipients are its
//! own; the campaign tested is not changed).

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use store::{OrgId, campaigns};
use utoipa::ToSchema;

use super::{input::test_contacts, lifecycle, load, not_found, ready, view::CampaignView};
use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiJson, ApiPath},
    state::AppState,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestSendInput {
    /// The phones to send to (E.164), each an existing contact; 1 to 50.
    pub test_phones: Vec<String>,
}

/// Sends a Ready campaign's message to test phones now, as a new test
/// campaign (returned, Active).
#[utoipa::path(
    post, path = "/v1/campaigns/{id}/test-send", tag = "campaigns", security(("api_key" = [])),
    params(("id" = i64, Path, description = "The campaign to test")), request_body = TestSendInput,
    responses(
        (status = 201, description = "The test campaign, started", body = CampaignView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The campaign is a draft", body = ErrorBody),
        (status = 422, description = "No test phones, or a phone that is not a contact", body = ErrorBody),
    )
)]
pub async fn test_send(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<TestSendInput>,
) -> ApiResult<(StatusCode, Json<CampaignView>)> {
    let test = send_test(&state, auth.org(), id, &body.test_phones).await?;
    Ok((StatusCode::CREATED, Json(load(&state, auth.org(), test).await?)))
}

/// Creates and starts the test campaign of `id` for `phones`; its id. If it
/// cannot start, it is removed again: a refused test leaves nothing behind.
pub(crate) async fn send_test(state: &AppState, org: OrgId, id: i64, phones: &[String]) -> ApiResult<i64> {
    let record = campaigns::get(&state.pg, org, id).await?.ok_or_else(not_found)?;
    ready(&record)?;
    if phones.is_empty() {
        return Err(ApiError::invalid(
            "no_test_phones",
            "give at least one test phone (an existing contact's phone)",
            Some("test_phones".into()),
        ));
    }
    let contacts = test_contacts(&state.pg, org, phones).await?;
    let name = format!("Test of {}", record.name).chars().take(200).collect::<String>();
    let test = campaigns::clone_as_test(&state.pg, org, id, &name, &contacts).await?.ok_or_else(not_found)?;
    if let Err(e) = lifecycle::start_now(state, org, test, None).await {
        let mut tx = state.pg.begin().await?;
        campaigns::delete(&mut tx, org, test).await?;
        tx.commit().await?;
        return Err(e);
    }
    Ok(test)
}
