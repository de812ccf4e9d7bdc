//! `/v1/bot-flows`: the endpoints a campaign's replies are forwarded to. The
//! signing secret is write-only (encrypted at rest, never returned). Any key
//! of the organization may change flows: operators manage them day to day.

use axum::{Json, extract::State, http::StatusCode};
use domain::{EndpointUrl, egress};
use serde::Deserialize;
use store::{
    bot_flows::{self, BotFlow, BotFlowChanges, NewBotFlow},
    in_use::{CampaignRef, Removal},
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::check_name;
use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiJson, ApiPath},
    state::{AppState, Settings},
};

const SECRET_CHARS: std::ops::RangeInclusive<usize> = 16..=512;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, list)).routes(routes!(get, update, delete))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBotFlow {
    /// 1 to 200 characters, unique in the organization.
    pub name: String,
    /// Absolute http(s) URL the replies are POSTed to, at most 2048 characters, without credentials.
    /// Its host may not be a loopback, private or other non-public address, nor localhost, unless
    /// the deployment allows private targets (`BOT_EGRESS_ALLOW_PRIVATE`).
    pub endpoint_url: String,
    /// 16 to 512 characters without whitespace; signs the forwarded replies. Write-only.
    pub secret: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBotFlow {
    pub name: Option<String>,
    pub endpoint_url: Option<String>,
    /// Replaces the signing secret. Write-only.
    pub secret: Option<String>,
}

impl std::fmt::Debug for CreateBotFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateBotFlow").field("name", &self.name).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for UpdateBotFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateBotFlow").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Names are not resolved here (what they resolve to may change): the reply
/// worker checks the address it connects to.
fn endpoint_url(value: &str, settings: &Settings) -> ApiResult<EndpointUrl> {
    let url = EndpointUrl::parse(value).map_err(|e| ApiError::domain(&e, "endpoint_url"))?;
    if let Err(refusal) = egress::check_endpoint(&url, settings.allow_private_bot_targets) {
        return Err(ApiError::invalid(
            "endpoint_not_allowed",
            format!("endpoint_url is a refused address ({refusal}): bot flows must be reachable on a public address"),
            Some("endpoint_url".into()),
        ));
    }
    Ok(url)
}

/// Never echoes the value: it is a secret even when invalid.
fn secret(value: &str) -> ApiResult<&str> {
    if !SECRET_CHARS.contains(&value.chars().count()) || value.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid(
            "invalid_secret",
            format!("secret must be {} to {} characters without whitespace", SECRET_CHARS.start(), SECRET_CHARS.end()),
            Some("secret".into()),
        ));
    }
    Ok(value)
}

fn not_found() -> ApiError {
    ApiError::NotFound { what: "bot flow" }
}

fn name_taken(name: &str) -> ApiError {
    ApiError::Conflict { code: "bot_flow_name_taken", message: format!("a bot flow named {name:?} already exists") }
}

/// Creates a bot flow.
#[utoipa::path(
    post, path = "/v1/bot-flows", tag = "bot-flows", security(("api_key" = [])), request_body = CreateBotFlow,
    responses(
        (status = 201, body = BotFlow),
        (status = 409, description = "`bot_flow_name_taken`", body = ErrorBody),
        (status = 422, description = "Invalid name, URL or secret (the field is named); `endpoint_not_allowed`: \
                                      the URL's host is a loopback, private or other non-public address", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CreateBotFlow>,
) -> ApiResult<(StatusCode, Json<BotFlow>)> {
    let url = endpoint_url(&body.endpoint_url, &state.settings)?;
    let new = NewBotFlow { name: check_name(&body.name)?, endpoint_url: url.as_str(), secret: secret(&body.secret)? };
    match bot_flows::create(&state.pg, &state.cipher, auth.org(), &new).await {
        Ok(flow) => Ok((StatusCode::CREATED, Json(flow))),
        Err(e) if store::is_unique_violation(&e, bot_flows::UNIQUE_NAME) => Err(name_taken(new.name)),
        Err(e) => Err(e.into()),
    }
}

/// Lists the organization's bot flows by name.
#[utoipa::path(get, path = "/v1/bot-flows", tag = "bot-flows", security(("api_key" = [])),
    responses((status = 200, body = Vec<BotFlow>)))]
pub async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<BotFlow>>> {
    Ok(Json(bot_flows::list(&state.pg, auth.org()).await?))
}

#[utoipa::path(get, path = "/v1/bot-flows/{id}", tag = "bot-flows", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Bot flow id")),
    responses((status = 200, body = BotFlow), (status = 404, body = ErrorBody)))]
pub async fn get(State(state): State<AppState>, auth: Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<BotFlow>> {
    bot_flows::get(&state.pg, auth.org(), id).await?.map(Json).ok_or_else(not_found)
}

/// Changes a bot flow; absent fields are left as they are. Campaigns using it
/// forward their next replies to the new endpoint.
#[utoipa::path(patch, path = "/v1/bot-flows/{id}", tag = "bot-flows", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Bot flow id")), request_body = UpdateBotFlow,
    responses((status = 200, body = BotFlow), (status = 404, body = ErrorBody),
              (status = 409, description = "`bot_flow_name_taken`", body = ErrorBody),
              (status = 422, description = "Invalid field (named); `endpoint_not_allowed`", body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateBotFlow>,
) -> ApiResult<Json<BotFlow>> {
    let url = body.endpoint_url.as_deref().map(|u| endpoint_url(u, &state.settings)).transpose()?;
    let changes = BotFlowChanges {
        name: body.name.as_deref().map(check_name).transpose()?,
        endpoint_url: url.as_ref().map(EndpointUrl::as_str),
        secret: body.secret.as_deref().map(secret).transpose()?,
    };
    match bot_flows::update(&state.pg, &state.cipher, auth.org(), id, &changes).await {
        Ok(flow) => flow.map(Json).ok_or_else(not_found),
        Err(e) if store::is_unique_violation(&e, bot_flows::UNIQUE_NAME) => {
            Err(name_taken(changes.name.unwrap_or_default()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Deletes a bot flow. Refused while a scheduled or active campaign uses it;
/// other campaigns using it lose it (and are Draft again).
#[utoipa::path(delete, path = "/v1/bot-flows/{id}", tag = "bot-flows", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Bot flow id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody),
              (status = 409, description = "`bot_flow_in_use` by a scheduled or active campaign", body = ErrorBody)))]
pub async fn delete(State(state): State<AppState>, auth: Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<StatusCode> {
    match bot_flows::delete(&state.pg, auth.org(), id).await {
        Ok(Removal::Deleted) => Ok(StatusCode::NO_CONTENT),
        Ok(Removal::NotFound) => Err(not_found()),
        Ok(Removal::InUse(campaigns)) => Err(in_use("bot_flow_in_use", "this bot flow", &campaigns)),
        // A campaign started pointing at it while we deleted.
        Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
            Err(in_use("bot_flow_in_use", "this bot flow", &[]))
        }
        Err(e) => Err(e.into()),
    }
}

/// 409 naming the scheduled or active campaigns that block a delete.
pub(super) fn in_use(code: &'static str, what: &str, campaigns: &[CampaignRef]) -> ApiError {
    const SHOWN: usize = 10;
    let message = if campaigns.is_empty() {
        format!("{what} is used by a campaign; retry once the campaign no longer points at it")
    } else {
        let mut names: Vec<String> =
            campaigns.iter().take(SHOWN).map(|c| format!("{:?} (id {}, {})", c.name, c.id, c.lifecycle)).collect();
        if campaigns.len() > SHOWN {
            names.push(format!("and {} more", campaigns.len() - SHOWN));
        }
        format!(
            "{what} is used by scheduled or active campaigns: {}; finish or unschedule them first",
            names.join(", ")
        )
    };
    ApiError::Conflict { code, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_non_public_hosts_are_refused_while_private_targets_are_not_allowed() {
        let policy = Settings::default();
        for (url, class) in [
            ("http://127.0.0.1:9100/", "loopback 127.0.0.1"),
            ("http://0x7f000001/", "loopback 127.0.0.1"),
            ("http://[::1]/", "loopback ::1"),
            ("http://169.254.169.254/latest/meta-data/", "link-local 169.254.169.254"),
            ("https://10.0.0.7:8080/wa", "private (RFC 1918) 10.0.0.7"),
            ("http://localhost:3000/", "loopback name localhost"),
        ] {
            match endpoint_url(url, &policy) {
                Err(ApiError::Invalid { status, code, message, field }) => {
                    assert_eq!(
                        (status, code, field.as_deref()),
                        (StatusCode::UNPROCESSABLE_ENTITY, "endpoint_not_allowed", Some("endpoint_url")),
                        "{url}"
                    );
                    assert!(message.contains(&format!("({class})")), "{url}: {message}");
                }
                other => panic!("{url}: {other:?}"),
            }
        }
        assert!(endpoint_url("https://bot.example.com/hook", &policy).is_ok(), "names are not resolved here");
        assert!(endpoint_url("https://8.8.8.8/hook", &policy).is_ok());
        let allowed = Settings { allow_private_bot_targets: true, ..Settings::default() };
        assert_eq!(endpoint_url("http://127.0.0.1:9100/", &allowed).unwrap().as_str(), "http://127.0.0.1:9100/");
    }
}
