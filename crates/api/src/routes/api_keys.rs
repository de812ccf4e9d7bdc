//! `/v1/api-keys`: the organization's keys. Creating and revoking needs the
//! `admin` scope; the full key is shown once, at creation.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use store::api_keys::{self, ApiKey, SCOPE_ADMIN};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiJson, ApiPath},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(revoke))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub name: String,
    /// Scopes for the new key: `admin` or none (the default).
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The full key. It is not stored and cannot be shown again.
    pub secret: String,
}

/// Lists the organization's keys (never their secrets).
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys", security(("api_key" = [])),
    responses((status = 200, body = Vec<ApiKey>)))]
pub async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<ApiKey>>> {
    Ok(Json(api_keys::list(&state.pg, auth.org()).await?))
}

/// Creates a key; needs the `admin` scope.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", security(("api_key" = ["admin"])), request_body = CreateKey,
    responses((status = 201, body = CreatedKey), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateKey>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    auth.require(SCOPE_ADMIN)?;
    let name = super::check_name(&body.name)?;
    if let Some(bad) = body.scopes.iter().find(|s| s.as_str() != SCOPE_ADMIN) {
        return Err(ApiError::invalid(
            "invalid_scope",
            format!("unknown scope {bad:?}; known: admin"),
            Some("scopes".into()),
        ));
    }
    let new = api_keys::create(&state.pg, auth.org(), name, &body.scopes).await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { key: new.key, secret: new.secret })))
}

/// Revokes a key at once; needs the `admin` scope. The organization's last
/// active admin key cannot be revoked (409 `last_admin_key`): create
/// another admin key first.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "api-keys", security(("api_key" = ["admin"])),
    params(("id" = i64, Path, description = "Key id")),
    responses((status = 200, body = ApiKey), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
               (status = 409, description = "`last_admin_key`: the organization's last active admin key",
                body = ErrorBody)))]
pub async fn revoke(State(state): State<AppState>, auth: Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<ApiKey>> {
    auth.require(SCOPE_ADMIN)?;
    Ok(Json(revoke_key(&state, auth.org(), id).await?))
}

/// Revokes a key of the organization (the API's and the console's): the key
/// as revoked, 404, or 409 `last_admin_key`.
pub(crate) async fn revoke_key(state: &AppState, org: store::OrgId, id: i64) -> ApiResult<ApiKey> {
    match api_keys::revoke(&state.pg, org, id).await? {
        api_keys::Revoke::Revoked(key) => Ok(key),
        api_keys::Revoke::NotFound => Err(ApiError::NotFound { what: "API key" }),
        api_keys::Revoke::LastAdmin => Err(ApiError::Conflict {
            code: "last_admin_key",
            message: "this is the organization's last active admin key; create another admin key before revoking it"
                .into(),
        }),
    }
}
