//! Creating, reading, listing, changing and deleting campaigns.

use axum::{Json, extract::State, http::StatusCode};
use domain::campaign::{Kind, Lifecycle, State as CampaignState};
use serde::{Deserialize, Serialize};
use store::campaigns::{self, Selection};
use utoipa::{IntoParams, ToSchema};

use super::{editable, input::CampaignInput, load, not_found, view::CampaignView};
use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiJson, ApiPath, ApiQuery, OptionalJson},
    state::AppState,
};

/// Creates a campaign (a Draft until every required field is set).
#[utoipa::path(
    post, path = "/v1/campaigns", tag = "campaigns", security(("api_key" = [])), request_body = CampaignInput,
    responses((status = 201, body = CampaignView), (status = 422, description = "Invalid field", body = ErrorBody))
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<CampaignInput>,
) -> ApiResult<(StatusCode, Json<CampaignView>)> {
    let id = create_campaign(&state, auth.org(), body).await?;
    Ok((StatusCode::CREATED, Json(load(&state, auth.org(), id).await?)))
}

/// Creates a campaign (the API's create and the console's wizard); its id.
pub(crate) async fn create_campaign(state: &AppState, org: store::OrgId, body: CampaignInput) -> ApiResult<i64> {
    let kind = body.kind.unwrap_or(Kind::Real);
    let name = crate::routes::check_name(body.name.as_deref().unwrap_or_default())?.to_owned();
    let changes = body.into_changes(&state.pg, org, kind).await?;
    let mut tx = state.pg.begin().await?;
    let id = campaigns::insert(&mut *tx, org, kind.as_str(), &name).await?;
    campaigns::update(&mut tx, org, id, &changes).await.map_err(reference_race)?;
    tx.commit().await?;
    Ok(id)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloneInput {
    /// The new campaign's name; default "Copy of <name>".
    pub name: Option<String>,
}

/// Clones a campaign (in any state) into a new Draft with the same settings
/// (number, audience, test phones, template and bindings, header media, bot
/// flow, pace, delivery policy) and none of its history.
#[utoipa::path(
    post, path = "/v1/campaigns/{id}/clone", tag = "campaigns", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Campaign id")), request_body(content = Option<CloneInput>),
    responses(
        (status = 201, body = CampaignView), (status = 404, body = ErrorBody),
        (status = 422, description = "Invalid name", body = ErrorBody),
    )
)]
pub async fn clone(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
    OptionalJson(body): OptionalJson<CloneInput>,
) -> ApiResult<(StatusCode, Json<CampaignView>)> {
    let new = clone_campaign(&state, auth.org(), id, body.name.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(load(&state, auth.org(), new).await?)))
}

/// Clones a campaign into a new Draft (the API's clone and the console's);
/// its id.
pub(crate) async fn clone_campaign(state: &AppState, org: store::OrgId, id: i64, name: Option<&str>) -> ApiResult<i64> {
    let current = campaigns::get(&state.pg, org, id).await?.ok_or_else(not_found)?;
    let default = format!("Copy of {}", current.name).chars().take(200).collect::<String>();
    let name = crate::routes::check_name(name.unwrap_or(&default))?;
    campaigns::clone_as_draft(&state.pg, org, id, name).await?.ok_or_else(not_found)
}

/// Changes a Draft or Ready campaign; absent fields are left alone and
/// `null` clears an optional one. Scheduled, Active and Finished campaigns
/// cannot change (409).
#[utoipa::path(
    patch, path = "/v1/campaigns/{id}", tag = "campaigns", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Campaign id")), request_body = CampaignInput,
    responses(
        (status = 200, body = CampaignView), (status = 404, body = ErrorBody),
        (status = 409, description = "The campaign is scheduled, active or finished", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CampaignInput>,
) -> ApiResult<Json<CampaignView>> {
    update_campaign(&state, auth.org(), id, body).await?;
    Ok(Json(load(&state, auth.org(), id).await?))
}

/// Changes a Draft or Ready campaign (the API's PATCH and the console's wizard).
pub(crate) async fn update_campaign(
    state: &AppState,
    org: store::OrgId,
    id: i64,
    body: CampaignInput,
) -> ApiResult<()> {
    // Checked before the row is locked: the checks read on other connections,
    // and holding a lock while waiting for one could exhaust the pool.
    let current = campaigns::get(&state.pg, org, id).await?.ok_or_else(not_found)?;
    editable(&current.lifecycle)?;
    if body.kind.is_some() {
        return Err(ApiError::invalid(
            "kind_immutable",
            "a campaign's kind cannot change; create a test campaign instead",
            Some("kind".into()),
        ));
    }
    if let (Some(contacts), Some(_)) = (current.audience_contacts, &body.audience) {
        return Err(ApiError::invalid(
            "audience_fixed",
            format!(
                "this campaign retries a fixed list of {contacts} contacts; its audience cannot be changed (create a \
                 new campaign for an audience by tags)"
            ),
            Some("audience".into()),
        ));
    }
    let changes = body.into_changes(&state.pg, org, current.kind()).await?;
    let mut tx = state.pg.begin().await?;
    // The kind never changes; the lifecycle may have since the read.
    let lifecycle = campaigns::lock(&mut tx, org, id).await?.ok_or_else(not_found)?;
    editable(&lifecycle)?;
    campaigns::update(&mut tx, org, id, &changes).await.map_err(reference_race)?;
    tx.commit().await?;
    Ok(())
}

/// A referenced row deleted between the check and the write.
fn reference_race(e: sqlx::Error) -> ApiError {
    match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => ApiError::Conflict {
            code: "concurrent_update",
            message: "something this campaign points at was deleted at the same time; nothing was written, retry"
                .into(),
        },
        _ => e.into(),
    }
}

#[utoipa::path(
    get, path = "/v1/campaigns/{id}", tag = "campaigns", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Campaign id")),
    responses((status = 200, body = CampaignView), (status = 404, body = ErrorBody))
)]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<CampaignView>> {
    Ok(Json(load(&state, auth.org(), id).await?))
}

/// Deletes a campaign for good, with its ledger. An Active campaign must be
/// finished first.
#[utoipa::path(
    delete, path = "/v1/campaigns/{id}", tag = "campaigns", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Campaign id")),
    responses(
        (status = 204, description = "Deleted"), (status = 404, body = ErrorBody),
        (status = 409, description = "The campaign is active", body = ErrorBody),
    )
)]
pub async fn delete(State(state): State<AppState>, auth: Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<StatusCode> {
    delete_campaign(&state, auth.org(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a campaign that is not Active (the API's and the console's).
pub(crate) async fn delete_campaign(state: &AppState, org: store::OrgId, id: i64) -> ApiResult<()> {
    let mut tx = state.pg.begin().await?;
    let lifecycle = campaigns::lock(&mut tx, org, id).await?.ok_or_else(not_found)?;
    if lifecycle == Lifecycle::Active.as_str() {
        return Err(ApiError::Conflict {
            code: "campaign_active",
            message: "an active campaign cannot be deleted; finish it first".into(),
        });
    }
    campaigns::delete(&mut tx, org, id).await?;
    tx.commit().await?;
    Ok(())
}

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `real` (default) or `test`: the two lists are separate.
    kind: Option<String>,
    /// Only campaigns in this state: `draft`, `ready`, `scheduled`, `active` or `finished`.
    state: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignPage {
    pub data: Vec<CampaignView>,
    /// Pass as `cursor` for the next page; absent on the last page. A page
    /// filtered by `draft` or `ready` may hold fewer than `limit` campaigns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Lists real or test campaigns, oldest first.
#[utoipa::path(
    get, path = "/v1/campaigns", tag = "campaigns", security(("api_key" = [])), params(ListQuery),
    responses((status = 200, body = CampaignPage), (status = 422, description = "Bad filter or cursor", body = ErrorBody))
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<CampaignPage>> {
    let field = |f: &str| Some(f.to_owned());
    let kind = match q.kind.as_deref() {
        None => Kind::Real,
        Some(k) => Kind::parse(k)
            .ok_or_else(|| ApiError::invalid("invalid_kind", "kind must be \"real\" or \"test\"", field("kind")))?,
    };
    let wanted = q
        .state
        .as_deref()
        .map(|s| {
            CampaignState::parse(s).ok_or_else(|| {
                ApiError::invalid(
                    "invalid_state",
                    "state must be one of draft, ready, scheduled, active, finished",
                    field("state"),
                )
            })
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid("invalid_limit", "limit must be between 1 and 200", field("limit")));
    }
    let after = q
        .cursor
        .as_deref()
        .map(|c| {
            c.strip_prefix('c').and_then(|id| id.parse::<i64>().ok()).ok_or_else(|| {
                ApiError::invalid("invalid_cursor", "cursor is not one this API returned", field("cursor"))
            })
        })
        .transpose()?;
    let lifecycle = wanted.map(|s| match s {
        CampaignState::Draft | CampaignState::Ready => Lifecycle::Editable,
        CampaignState::Scheduled => Lifecycle::Scheduled,
        CampaignState::Active => Lifecycle::Active,
        CampaignState::Finished => Lifecycle::Finished,
    });
    let selection = Selection {
        kind: Some(kind.as_str()),
        lifecycle: lifecycle.map(Lifecycle::as_str),
        after,
        limit,
        ..Selection::default()
    };
    let records = campaigns::select(&state.pg, auth.org(), selection).await?;
    let next_cursor = (records.len() as i64 == limit).then(|| records.last().map(|r| format!("c{}", r.id))).flatten();
    let data = records.into_iter().map(CampaignView::from).filter(|v| wanted.is_none_or(|w| v.state == w)).collect();
    Ok(Json(CampaignPage { data, next_cursor }))
}
