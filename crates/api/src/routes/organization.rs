//! `/v1/organization`: the caller's organization and the settings the reply
//! worker reads: where messages from contacts no campaign engages go
//! (`default_bot_flow_id`) and which words opt a contact out. Any key may
//! read them; changing them needs `admin`.

use axum::{Json, extract::State};
use serde::Deserialize;
use store::{
    api_keys::SCOPE_ADMIN,
    orgs::{self, OrganizationSettings, SettingsChanges, SettingsUpdate},
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::double_option;
use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::ApiJson,
    state::AppState,
};

const MAX_KEYWORDS: usize = 50;
const KEYWORD_CHARS: std::ops::RangeInclusive<usize> = 1..=30;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get, update))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganization {
    /// A bot flow of the organization, or `null` for none (such messages are then recorded as unattributed).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub default_bot_flow_id: Option<Option<i64>>,
    /// 1 to 50 words of 1 to 30 characters (trimmed); stored upper-case, without duplicates. Replaces the list.
    pub opt_out_keywords: Option<Vec<String>>,
}

/// Trims, upper-cases and deduplicates the keywords, keeping their order.
fn keywords(values: &[String]) -> ApiResult<Vec<String>> {
    if values.is_empty() || values.len() > MAX_KEYWORDS {
        return Err(ApiError::invalid(
            "invalid_opt_out_keywords",
            format!("opt_out_keywords must list 1 to {MAX_KEYWORDS} words, not {}", values.len()),
            Some("opt_out_keywords".into()),
        ));
    }
    let mut words: Vec<String> = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        let word = value.split_whitespace().collect::<Vec<_>>().join(" ");
        if !KEYWORD_CHARS.contains(&word.chars().count()) {
            return Err(ApiError::invalid(
                "invalid_opt_out_keyword",
                format!(
                    "opt-out keyword {value:?} must be {} to {} characters after trimming",
                    KEYWORD_CHARS.start(),
                    KEYWORD_CHARS.end()
                ),
                Some(format!("opt_out_keywords[{i}]")),
            ));
        }
        let word = word.to_uppercase();
        if !words.contains(&word) {
            words.push(word);
        }
    }
    Ok(words)
}

fn not_found() -> ApiError {
    ApiError::NotFound { what: "organization" }
}

/// The caller's organization and its reply settings.
#[utoipa::path(get, path = "/v1/organization", tag = "organization", security(("api_key" = [])),
    responses((status = 200, body = OrganizationSettings)))]
pub async fn get(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<OrganizationSettings>> {
    orgs::settings(&state.pg, auth.org()).await?.map(Json).ok_or_else(not_found)
}

/// Changes the reply settings; absent fields are left as they are.
#[utoipa::path(patch, path = "/v1/organization", tag = "organization", security(("api_key" = ["admin"])),
    request_body = UpdateOrganization,
    responses(
        (status = 200, body = OrganizationSettings),
        (status = 403, description = "Needs the admin scope", body = ErrorBody),
        (status = 422, description = "`unknown_reference` (bot flow), `invalid_opt_out_keywords`, \
                                      `invalid_opt_out_keyword`; the field is named", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<UpdateOrganization>,
) -> ApiResult<Json<OrganizationSettings>> {
    auth.require(SCOPE_ADMIN)?;
    let changes = SettingsChanges {
        default_bot_flow_id: body.default_bot_flow_id,
        opt_out_keywords: body.opt_out_keywords.as_deref().map(keywords).transpose()?,
    };
    match orgs::update_settings(&state.pg, auth.org(), &changes).await {
        Ok(SettingsUpdate::Updated(settings)) => Ok(Json(settings)),
        Ok(SettingsUpdate::UnknownBotFlow) => Err(unknown_flow(changes.default_bot_flow_id.flatten())),
        // The flow was deleted between the check and the write.
        Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
            Err(unknown_flow(changes.default_bot_flow_id.flatten()))
        }
        Err(e) => Err(e.into()),
    }
}

fn unknown_flow(id: Option<i64>) -> ApiError {
    let id = id.map_or_else(String::new, |id| format!(" {id}"));
    ApiError::invalid(
        "unknown_reference",
        format!("bot flow{id} does not exist in this organization"),
        Some("default_bot_flow_id".into()),
    )
}
