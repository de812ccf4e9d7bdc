//! Reading and deleting contacts.

use std::collections::BTreeMap;

use axum::{Json, extract::State, http::StatusCode};
use domain::{Tag, ValuedTags};
use serde::{Deserialize, Serialize};
use store::contacts::{self, Contact, ContactFilter};
use utoipa::{IntoParams, ToSchema};

use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiPath, ApiQuery},
    state::AppState,
};

const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only contacts carrying this tag; repeat for several (all must match).
    #[serde(default)]
    #[param(rename = "tag")]
    tag: Vec<String>,
    /// Only contacts with this valued tag, as `key=value`; repeat for several (all must match).
    #[serde(default)]
    #[param(rename = "valued_tag")]
    valued_tag: Vec<String>,
    /// Only contacts whose phone or name contains this text (case-insensitive).
    q: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactPage {
    pub data: Vec<Contact>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Lists contacts in phone order, filtered by tags and valued tags.
#[utoipa::path(
    get, path = "/v1/contacts", tag = "contacts", security(("api_key" = [])), params(ListQuery),
    responses(
        (status = 200, body = ContactPage),
        (status = 400, description = "Bad query string or cursor", body = ErrorBody),
        (status = 422, description = "Invalid tag or valued tag filter", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<ContactPage>> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid("invalid_limit", "limit must be between 1 and 1000", Some("limit".into())));
    }
    let after_phone = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(decode_cursor(c).ok_or_else(|| {
            ApiError::invalid("invalid_cursor", "cursor is not one this API returned", Some("cursor".into()))
        })?),
    };
    let (tags, valued_tags) = tag_filter(&q.tag, &q.valued_tag)?;
    let search = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if let Some(s) = search {
        crate::text::check_line(s, "q")?;
    }
    let filter = ContactFilter { tags, valued_tags, q: search.map(str::to_owned), after_phone, limit };
    let data = contacts::list(&state.pg, auth.org(), &filter).await?;
    let next_cursor = (data.len() as i64 == limit).then(|| data.last().map(|c| encode_cursor(&c.phone))).flatten();
    Ok(Json(ContactPage { data, next_cursor }))
}

/// The tag and `key=value` filters of a contact list (the API's and the
/// console's), checked.
pub(crate) fn tag_filter(tag: &[String], valued_tag: &[String]) -> ApiResult<(Vec<String>, BTreeMap<String, String>)> {
    let tags = tag
        .iter()
        .map(|t| Tag::parse(t).map(|t| t.as_str().to_owned()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::domain(&e, "tag"))?;
    let mut valued_tags = BTreeMap::new();
    for pair in valued_tag {
        let (k, v) = ValuedTags::parse_pair(pair).map_err(|e| ApiError::domain(&e, "valued_tag"))?;
        if valued_tags.insert(k.as_str().to_owned(), v.as_str().to_owned()).is_some() {
            return Err(ApiError::invalid(
                "conflicting_filter",
                format!("valued_tag {k} is given twice; a contact has one value per key"),
                Some("valued_tag".into()),
            ));
        }
    }
    Ok((tags, valued_tags))
}

/// One contact, with its tags, valued tags, inbox case and opt-out status.
#[utoipa::path(
    get, path = "/v1/contacts/{id}", tag = "contacts", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Contact id")),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody))
)]
pub async fn get(State(state): State<AppState>, auth: Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Contact>> {
    found(contacts::get(&state.pg, auth.org(), id).await?)
}

/// Deletes a contact for good. Past campaign reports keep its phone number.
#[utoipa::path(
    delete, path = "/v1/contacts/{id}", tag = "contacts", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Contact id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody))
)]
pub async fn delete(State(state): State<AppState>, auth: Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<StatusCode> {
    if contacts::delete(&state.pg, auth.org(), id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound { what: "contact" })
    }
}

/// The cursor is the last phone of the page without its `+` (URL-safe), prefixed
/// with `p` so its format can change later without old cursors being misread.
fn encode_cursor(phone: &str) -> String {
    format!("p{}", phone.trim_start_matches('+'))
}

fn decode_cursor(cursor: &str) -> Option<String> {
    let digits = cursor.strip_prefix('p')?;
    let valid = !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| format!("+{digits}"))
}

/// `Some(contact)` as JSON, `None` as 404.
pub fn found(contact: Option<Contact>) -> ApiResult<Json<Contact>> {
    contact.map(Json).ok_or(ApiError::NotFound { what: "contact" })
}
