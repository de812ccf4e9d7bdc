//! `/v1/templates`: the organization's WhatsApp templates, as last synced
//! from Meta. Only Meta creates and edits templates; this API reads them
//! ([`sync`] refreshes them).

pub(crate) mod sync;

use axum::{Json, extract::State};
use serde::Deserialize;
use store::templates::{self, Template, TemplateFilter};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiPath, ApiQuery},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sync::sync)).routes(routes!(list)).routes(routes!(get))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only templates with this exact name.
    name: Option<String>,
    /// Only this language code, e.g. `en_US`.
    language: Option<String>,
    /// Only this Meta status, e.g. `APPROVED` (case-insensitive).
    status: Option<String>,
    /// Only templates of this WABA.
    waba_id: Option<String>,
}

/// Lists the synced templates, by name and language. `usable` says which a
/// campaign can choose (APPROVED and still listed by Meta).
#[utoipa::path(
    get, path = "/v1/templates", tag = "templates", security(("api_key" = [])), params(ListQuery),
    responses((status = 200, body = Vec<Template>), (status = 400, description = "Bad query string", body = ErrorBody))
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Vec<Template>>> {
    let status = q.status.as_deref().map(|s| s.trim().to_ascii_uppercase());
    let filter = TemplateFilter {
        name: q.name.as_deref().map(str::trim),
        language: q.language.as_deref().map(str::trim),
        status: status.as_deref(),
        waba_id: q.waba_id.as_deref().map(str::trim),
    };
    Ok(Json(templates::list(&state.pg, auth.org(), &filter).await?))
}

#[utoipa::path(get, path = "/v1/templates/{id}", tag = "templates", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Template id (ours, not Meta's)")),
    responses((status = 200, body = Template), (status = 404, body = ErrorBody)))]
pub async fn get(State(state): State<AppState>, auth: Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Template>> {
    templates::get(&state.pg, auth.org(), id).await?.map(Json).ok_or(ApiError::NotFound { what: "template" })
}
