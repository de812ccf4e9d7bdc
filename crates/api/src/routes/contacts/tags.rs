//! Adding and removing a contact's tags and valued tags.

use axum::{Json, extract::State};
use domain::{Tag, TagList, ValuedTagKey, ValuedTagValue};
use serde::Deserialize;
use store::contacts::{self, Contact};
use utoipa::ToSchema;

use super::read::found;
use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiJson, ApiPath},
    state::AppState,
};
use store::OrgId;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTags {
    pub tags: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetValue {
    pub value: String,
}

/// Adds tags (normalised; tags already present are kept once).
#[utoipa::path(
    post, path = "/v1/contacts/{id}/tags", tag = "contacts", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Contact id")), request_body = AddTags,
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn add_tags(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<AddTags>,
) -> ApiResult<Json<Contact>> {
    let tags = TagList::parse(body.tags.iter().map(String::as_str)).map_err(|e| ApiError::domain(&e, "tags"))?;
    let updated = contacts::add_tags(&state.pg, auth.org(), id, &tags.to_strings()).await?;
    edited(&state, auth.org(), updated).await
}

/// Removes one tag (a tag the contact does not carry is not an error).
#[utoipa::path(
    delete, path = "/v1/contacts/{id}/tags/{tag}", tag = "contacts", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Contact id"), ("tag" = String, Path, description = "The tag")),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn remove_tag(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((id, tag)): ApiPath<(i64, String)>,
) -> ApiResult<Json<Contact>> {
    let tag = Tag::parse(&tag).map_err(|e| ApiError::domain(&e, "tag"))?;
    let updated = contacts::remove_tag(&state.pg, auth.org(), id, tag.as_str()).await?;
    edited(&state, auth.org(), updated).await
}

/// Sets one valued tag (replacing any value the key had).
#[utoipa::path(
    put, path = "/v1/contacts/{id}/valued-tags/{key}", tag = "contacts", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Contact id"), ("key" = String, Path, description = "Valued tag key")),
    request_body = SetValue,
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn set_valued_tag(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((id, key)): ApiPath<(i64, String)>,
    ApiJson(body): ApiJson<SetValue>,
) -> ApiResult<Json<Contact>> {
    let key = ValuedTagKey::parse(&key).map_err(|e| ApiError::domain(&e, "key"))?;
    let value = ValuedTagValue::parse(&key, &body.value).map_err(|e| ApiError::domain(&e, "value"))?;
    let updated = contacts::set_valued_tag(&state.pg, auth.org(), id, &key, &value).await?;
    edited(&state, auth.org(), updated).await
}

/// Removes one valued tag.
#[utoipa::path(
    delete, path = "/v1/contacts/{id}/valued-tags/{key}", tag = "contacts", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Contact id"), ("key" = String, Path, description = "Valued tag key")),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn remove_valued_tag(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((id, key)): ApiPath<(i64, String)>,
) -> ApiResult<Json<Contact>> {
    let key = ValuedTagKey::parse(&key).map_err(|e| ApiError::domain(&e, "key"))?;
    let updated = contacts::remove_valued_tag(&state.pg, auth.org(), id, key.as_str()).await?;
    edited(&state, auth.org(), updated).await
}

/// The contact as it is after an edit; `None` (no such contact) is a 404.
async fn edited(state: &AppState, org: OrgId, updated: Option<i64>) -> ApiResult<Json<Contact>> {
    let contact = match updated {
        Some(id) => contacts::get(&state.pg, org, id).await?,
        None => None,
    };
    found(contact)
}
