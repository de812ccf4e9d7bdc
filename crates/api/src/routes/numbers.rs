//! `/v1/numbers`: WhatsApp Cloud numbers. Access tokens and app secrets are
//! write-only: encrypted at rest, never returned. Changing numbers needs the
//! `admin` scope; any key of the organization can read them.
//!
//! A number is verified with Meta before it is stored (and again when its
//! token or WABA changes): the token must read the phone number and the
//! number must be on the WABA's list, so nobody can register (and so block,
//! or receive the webhooks of) a number that is not theirs. Its display
//! number, name, quality, tier and throughput are Meta's answer.

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use store::{
    api_keys::SCOPE_ADMIN,
    numbers::{self, NewNumber, Number, NumberChanges},
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Auth,
    cloud::verify_number,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiJson, ApiPath},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(get, update, delete))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterNumber {
    /// Meta's phone number id (digits).
    pub phone_number_id: String,
    /// The WhatsApp Business Account id (digits) the number is on.
    pub waba_id: String,
    /// A system-user access token with `whatsapp_business_messaging` and
    /// `whatsapp_business_management` on that WABA. Write-only.
    pub access_token: String,
    /// The Meta app secret, used to verify webhook signatures. Write-only.
    pub app_secret: String,
}

/// Absent fields are left as they are; a new token or WABA is verified with Meta again.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNumber {
    pub waba_id: Option<String>,
    pub access_token: Option<String>,
    pub app_secret: Option<String>,
}

impl std::fmt::Debug for RegisterNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterNumber").field("phone_number_id", &self.phone_number_id).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for UpdateNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateNumber").finish_non_exhaustive()
    }
}

fn meta_id<'a>(value: &'a str, field: &'static str) -> ApiResult<&'a str> {
    let v = value.trim();
    if v.is_empty() || v.len() > 32 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid(
            "invalid_meta_id",
            format!("{field} must be Meta's numeric id (1 to 32 digits)"),
            Some(field.into()),
        ));
    }
    Ok(v)
}

fn secret<'a>(value: &'a str, field: &'static str, max: usize) -> ApiResult<&'a str> {
    let v = value.trim();
    if v.is_empty() || v.len() > max || v.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid(
            "invalid_secret",
            format!("{field} must be 1 to {max} characters without spaces"),
            Some(field.into()),
        ));
    }
    Ok(v)
}

fn not_found() -> ApiError {
    ApiError::NotFound { what: "number" }
}

/// Registers a WhatsApp Cloud number of the organization, once Meta confirms it.
#[utoipa::path(
    post, path = "/v1/numbers", tag = "numbers", security(("api_key" = ["admin"])), request_body = RegisterNumber,
    responses(
        (status = 201, body = Number),
        (status = 403, description = "Needs the admin scope", body = ErrorBody),
        (status = 409, description = "`number_already_registered`: the phone_number_id is registered already", body = ErrorBody),
        (status = 422, description = "Invalid fields, or `number_not_verified`: Meta does not confirm the number \
                                      for this token and WABA (Meta's message included)", body = ErrorBody),
        (status = 502, description = "`cloud_api_error`: Meta could not be asked", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<RegisterNumber>,
) -> ApiResult<(StatusCode, Json<Number>)> {
    auth.require(SCOPE_ADMIN)?;
    let phone_number_id = meta_id(&body.phone_number_id, "phone_number_id")?;
    let waba_id = meta_id(&body.waba_id, "waba_id")?;
    let access_token = secret(&body.access_token, "access_token", 4096)?;
    let app_secret = secret(&body.app_secret, "app_secret", 512)?;
    let meta = verify_number(&state, phone_number_id, waba_id, access_token).await?;
    let new = NewNumber { phone_number_id, waba_id, access_token, app_secret, meta: &meta };
    match numbers::create(&state.pg, &state.cipher, auth.org(), &new).await {
        Ok(n) => {
            // A number remembered as unknown by the webhook cache is known now.
            state.app_secrets.clear();
            Ok((StatusCode::CREATED, Json(n)))
        }
        Err(e) if store::is_unique_violation(&e, numbers::UNIQUE_PHONE_NUMBER_ID) => Err(ApiError::Conflict {
            code: "number_already_registered",
            message: format!("phone_number_id {phone_number_id} is already registered"),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Lists the organization's numbers.
#[utoipa::path(get, path = "/v1/numbers", tag = "numbers", security(("api_key" = [])),
    responses((status = 200, body = Vec<Number>)))]
pub async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Number>>> {
    Ok(Json(numbers::list(&state.pg, auth.org()).await?))
}

#[utoipa::path(get, path = "/v1/numbers/{id}", tag = "numbers", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Number id")),
    responses((status = 200, body = Number), (status = 404, body = ErrorBody)))]
pub async fn get(State(state): State<AppState>, auth: Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Number>> {
    numbers::get(&state.pg, auth.org(), id).await?.map(Json).ok_or_else(not_found)
}

/// Changes a number; absent fields are left as they are. A new token or
/// WABA is verified with Meta first, and Meta's answer refreshes the number.
#[utoipa::path(patch, path = "/v1/numbers/{id}", tag = "numbers", security(("api_key" = ["admin"])),
    params(("id" = i64, Path, description = "Number id")), request_body = UpdateNumber,
    responses((status = 200, body = Number), (status = 403, description = "Needs the admin scope", body = ErrorBody),
               (status = 404, body = ErrorBody),
               (status = 422, description = "Invalid fields, or `number_not_verified`", body = ErrorBody),
               (status = 502, description = "`cloud_api_error`: Meta could not be asked", body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateNumber>,
) -> ApiResult<Json<Number>> {
    auth.require(SCOPE_ADMIN)?;
    let waba_id = body.waba_id.as_deref().map(|v| meta_id(v, "waba_id")).transpose()?;
    let access_token = body.access_token.as_deref().map(|v| secret(v, "access_token", 4096)).transpose()?;
    let app_secret = body.app_secret.as_deref().map(|v| secret(v, "app_secret", 512)).transpose()?;
    let meta = if waba_id.is_some() || access_token.is_some() {
        let current = crate::cloud::number_access(&state, auth.org(), id).await?.ok_or_else(not_found)?;
        let waba = waba_id.unwrap_or(&current.waba_id);
        let token = access_token.unwrap_or(&current.access_token);
        Some(verify_number(&state, &current.phone_number_id, waba, token).await?)
    } else {
        None
    };
    let changes = NumberChanges { waba_id, access_token, app_secret, meta: meta.as_ref() };
    let number = numbers::update(&state.pg, &state.cipher, auth.org(), id, &changes).await?;
    // Webhooks are checked against the new secret (or WABA) from now on.
    state.app_secrets.clear();
    number.map(Json).ok_or_else(not_found)
}

/// Deletes a number; refused while a campaign uses it.
#[utoipa::path(delete, path = "/v1/numbers/{id}", tag = "numbers", security(("api_key" = ["admin"])),
    params(("id" = i64, Path, description = "Number id")),
    responses((status = 204, description = "Deleted"), (status = 403, description = "Needs the admin scope", body = ErrorBody),
               (status = 404, body = ErrorBody),
               (status = 409, description = "A campaign uses the number", body = ErrorBody)))]
pub async fn delete(State(state): State<AppState>, auth: Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<StatusCode> {
    auth.require(SCOPE_ADMIN)?;
    match numbers::delete(&state.pg, auth.org(), id).await {
        Ok(true) => {
            state.app_secrets.clear();
            Ok(StatusCode::NO_CONTENT)
        }
        Ok(false) => Err(not_found()),
        Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => Err(ApiError::Conflict {
            code: "number_in_use",
            message: "a campaign uses this number; delete or re-point the campaign first".into(),
        }),
        Err(e) => Err(e.into()),
    }
}
