//! `POST /v1/templates/sync`: reads every page of Meta's template listing for
//! each WABA of the organization and stores it (see
//! [`store::templates::sync_waba`]).

use std::collections::BTreeMap;

use axum::{Json, extract::State};
use domain::placeholders;
use serde::{Deserialize, Serialize};
use store::{
    OrgId,
    numbers::{self, WabaNumber},
    templates::{self, SyncedTemplate},
};
use utoipa::ToSchema;
use whatsapp::management::{ParameterFormat, TemplateInfo};

use crate::{
    auth::Auth,
    cloud::{cloud_error, number_access},
    error::{ApiError, ApiResult, ErrorBody},
    extract::OptionalJson,
    state::AppState,
};

/// Templates per page read from Meta (its maximum is higher, but 100 keeps
/// each answer small).
const PAGE_LIMIT: u32 = 100;
/// A listing that goes on longer than this is not one Meta would send (a WABA
/// holds at most a few hundred templates); stop instead of looping forever.
const MAX_PAGES: usize = 200;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// Only this WABA; every WABA of the organization's numbers when absent.
    pub waba_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncReport {
    pub wabas: Vec<WabaSync>,
}

/// What the sync did to one WABA.
#[derive(Debug, Serialize, ToSchema)]
pub struct WabaSync {
    pub waba_id: String,
    /// Templates seen for the first time.
    pub added: u32,
    /// Templates whose status, category, parameters or components changed, or that came back after missing.
    pub updated: u32,
    pub unchanged: u32,
    /// Every stored template of this WABA that Meta no longer lists: kept (campaigns may use it), marked `missing_since`.
    pub missing: Vec<TemplateKey>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateKey {
    pub name: String,
    pub language: String,
}

/// Reads all templates of the organization's WABAs from Meta and stores them.
/// Every WABA is read completely before anything is written: if Meta fails on
/// any page, nothing changes.
#[utoipa::path(
    post, path = "/v1/templates/sync", tag = "templates", security(("api_key" = [])),
    request_body(content = Option<SyncRequest>, description = "Optional; `{\"waba_id\": \"...\"}` syncs one WABA"),
    responses(
        (status = 200, body = SyncReport),
        (status = 422, description = "Unknown `waba_id`, or `no_numbers`", body = ErrorBody),
        (status = 502, description = "`cloud_api_error`: Meta failed; nothing was written", body = ErrorBody),
    )
)]
pub async fn sync(
    State(state): State<AppState>,
    auth: Auth,
    OptionalJson(body): OptionalJson<SyncRequest>,
) -> ApiResult<Json<SyncReport>> {
    Ok(Json(sync_org(&state, auth.org(), body.waba_id.as_deref()).await?))
}

/// Syncs the organization's templates (one WABA, or all of them): the API's
/// sync and the console's.
pub(crate) async fn sync_org(state: &AppState, org: OrgId, only: Option<&str>) -> ApiResult<SyncReport> {
    let wabas = wabas_to_sync(state, org, only).await?;
    let mut listings = Vec::with_capacity(wabas.len());
    for waba in wabas {
        let listed = read_listing(state, org, &waba).await?;
        listings.push((waba.waba_id, listed));
    }
    let mut tx = state.pg.begin().await?;
    let mut report = SyncReport { wabas: Vec::with_capacity(listings.len()) };
    for (waba_id, listed) in listings {
        let counts = templates::sync_waba(&mut tx, org, &waba_id, &listed).await?;
        report.wabas.push(WabaSync {
            waba_id,
            added: counts.added,
            updated: counts.updated,
            unchanged: counts.unchanged,
            missing: counts.missing.into_iter().map(|(name, language)| TemplateKey { name, language }).collect(),
        });
    }
    tx.commit().await?;
    Ok(report)
}

async fn wabas_to_sync(state: &AppState, org: OrgId, only: Option<&str>) -> ApiResult<Vec<WabaNumber>> {
    let mut wabas = numbers::wabas(&state.pg, org).await?;
    if wabas.is_empty() {
        return Err(ApiError::invalid(
            "no_numbers",
            "the organization has no WhatsApp numbers, so no WABA to sync: register one with POST /v1/numbers",
            None,
        ));
    }
    if let Some(only) = only.map(str::trim) {
        wabas.retain(|w| w.waba_id == only);
        if wabas.is_empty() {
            return Err(ApiError::invalid(
                "unknown_waba",
                format!("no number of this organization is on WABA {only:?}"),
                Some("waba_id".into()),
            ));
        }
    }
    Ok(wabas)
}

/// Every page of one WABA's listing, one entry per (name, language).
async fn read_listing(state: &AppState, org: OrgId, waba: &WabaNumber) -> ApiResult<Vec<SyncedTemplate>> {
    let access = number_access(state, org, waba.number_id).await?.ok_or_else(|| ApiError::Conflict {
        code: "concurrent_update",
        message: "a number was deleted during the sync; nothing was written, retry the request".into(),
    })?;
    let token = access.access_token.as_str();
    let doing = format!("listing the templates of WABA {}", waba.waba_id);
    // Keyed so a template listed twice counts once, and rows are written in a stable order.
    let mut listed = BTreeMap::new();
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = state
            .cloud
            .list_templates(&waba.waba_id, token, after.as_deref(), PAGE_LIMIT)
            .await
            .map_err(|e| cloud_error(e, &doing, token))?;
        let next = page.next_cursor().map(str::to_owned);
        for info in page.data {
            let t = synced(info);
            listed.insert((t.name.clone(), t.language.clone()), t);
        }
        match next {
            Some(cursor) if after.as_deref() != Some(cursor.as_str()) => after = Some(cursor),
            Some(_) => return Err(endless(&doing)),
            None => return Ok(listed.into_values().collect()),
        }
    }
    Err(endless(&doing))
}

fn endless(doing: &str) -> ApiError {
    let message = format!(
        "the WhatsApp Cloud API failed while {doing}: the listing did not end after {MAX_PAGES} pages; nothing was written"
    );
    ApiError::Cloud { cause: anyhow::anyhow!(message.clone()), message }
}

/// The stored form of a listed template. Status and category are kept as
/// Meta spelled them (the raw object), so new values are not lost.
fn synced(info: TemplateInfo) -> SyncedTemplate {
    let component = |kind: &str| info.components.iter().find(|c| c.kind.eq_ignore_ascii_case(kind));
    let body_param_names = component("BODY").and_then(|c| c.text.as_deref()).map(placeholders).unwrap_or_default();
    let header = component("HEADER");
    let header_format = header.and_then(|h| h.format.as_deref()).map(str::to_ascii_uppercase);
    let header_param_names = match (header, header_format.as_deref()) {
        (Some(h), Some("TEXT")) => h.text.as_deref().map(placeholders).unwrap_or_default(),
        _ => Vec::new(),
    };
    let parameter_format = match info.parameter_format {
        Some(ParameterFormat::Named) => "NAMED",
        None | Some(ParameterFormat::Positional) => "POSITIONAL",
        // A format newer than this code: the placeholders tell which it is.
        Some(ParameterFormat::Other) => {
            let positional =
                body_param_names.iter().chain(&header_param_names).all(|n| n.bytes().all(|b| b.is_ascii_digit()));
            if positional { "POSITIONAL" } else { "NAMED" }
        }
    };
    SyncedTemplate {
        status: info.raw_str("status").unwrap_or("UNKNOWN").to_owned(),
        category: info.raw_str("category").map(str::to_owned),
        components: info.raw.get("components").cloned().unwrap_or_else(|| serde_json::json!([])),
        meta_template_id: info.id,
        name: info.name,
        language: info.language,
        parameter_format,
        body_param_names,
        header_format,
        header_param_names,
    }
}
