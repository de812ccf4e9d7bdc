//! `/_sim/...`: what tests and demos look at, over HTTP. The same data is on
//! [`crate::Simulator`] for Rust tests.

use std::time::Instant;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State as AxumState},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use serde_json::{Value, json};

use super::Shared;
use crate::{
    config::{FaultsConfig, TemplateConfig},
    portfolio::{PortfolioView, TierChangeError},
    state::{AcceptedMessage, Delivery},
};

pub(super) fn router() -> Router<Shared> {
    Router::new()
        .route("/_sim/messages", get(messages))
        .route("/_sim/messages/count", get(count))
        .route("/_sim/recipients/{wa_id}/messages", get(recipient))
        .route("/_sim/webhooks", get(webhooks))
        .route("/_sim/reset", post(reset))
        .route("/_sim/faults", get(faults).put(set_faults))
        .route("/_sim/wabas/{waba_id}/templates", put(set_templates))
        .route("/_sim/portfolios", get(portfolios))
        .route("/_sim/portfolios/{business_id}", get(portfolio))
        .route("/_sim/portfolios/{business_id}/messaging_limit", post(set_messaging_limit))
}

/// Every business portfolio, in config order, as `GET /_sim/portfolios/{id}` shows it.
async fn portfolios(AxumState(state): AxumState<Shared>) -> Json<Vec<PortfolioView>> {
    Json(state.portfolios.views(Instant::now()))
}

/// The portfolio's tier, limit, window and how many users it reaches now
/// and refused.
async fn portfolio(AxumState(state): AxumState<Shared>, Path(business_id): Path<String>) -> Response {
    match state.portfolios.view(&business_id, Instant::now()) {
        Some(view) => Json(view).into_response(),
        None => refuse(&TierChangeError::UnknownPortfolio(business_id)),
    }
}

#[derive(Debug, serde::Deserialize)]
struct TierChange {
    tier: String,
}

/// `{"tier": "TIER_100K"}`: changes the portfolio's tier, as Meta's scaling
/// does, and sends each of its WABAs Meta's `business_capability_update`
/// webhook. Answers `{"business_id", "tier", "limit"}` (`limit` null when
/// unlimited); 404 for an unknown portfolio, 400 for an unknown tier or a
/// body that is not `{"tier": "..."}`.
async fn set_messaging_limit(
    AxumState(state): AxumState<Shared>,
    Path(business_id): Path<String>,
    body: Bytes,
) -> Response {
    let change: TierChange = match serde_json::from_slice(&body) {
        Ok(change) => change,
        Err(e) => {
            let message = format!("expected a body like {{\"tier\": \"TIER_100K\"}}: {e}");
            return (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response();
        }
    };
    match state.set_messaging_limit(&business_id, &change.tier) {
        Ok(view) => {
            Json(json!({"business_id": view.business_id, "tier": view.tier, "limit": view.limit})).into_response()
        }
        Err(e) => refuse(&e),
    }
}

fn refuse(error: &TierChangeError) -> Response {
    let status = match error {
        TierChangeError::UnknownPortfolio(_) => StatusCode::NOT_FOUND,
        TierChangeError::UnknownTier(_) => StatusCode::BAD_REQUEST,
    };
    (status, Json(json!({ "error": error.to_string() }))).into_response()
}

async fn messages(AxumState(state): AxumState<Shared>) -> Json<Vec<AcceptedMessage>> {
    Json(state.accepted())
}

async fn count(AxumState(state): AxumState<Shared>) -> Json<Value> {
    Json(json!({ "accepted": state.accepted_count() }))
}

/// `wa_id` digits; a leading `+` is tolerated.
async fn recipient(AxumState(state): AxumState<Shared>, Path(wa_id): Path<String>) -> Json<Vec<AcceptedMessage>> {
    let wa_id = wa_id.trim_start_matches('+');
    Json(state.accepted().into_iter().filter(|m| m.wa_id == wa_id).collect())
}

async fn webhooks(AxumState(state): AxumState<Shared>) -> Json<Vec<Delivery>> {
    Json(state.deliveries())
}

async fn reset(AxumState(state): AxumState<Shared>) -> StatusCode {
    state.reset();
    StatusCode::NO_CONTENT
}

async fn faults(AxumState(state): AxumState<Shared>) -> Json<FaultsConfig> {
    Json(state.faults.get())
}

/// Replaces the whole fault set; `{}` turns every fault off.
async fn set_faults(AxumState(state): AxumState<Shared>, Json(faults): Json<FaultsConfig>) -> Json<FaultsConfig> {
    state.faults.set(faults);
    Json(state.faults.get())
}

/// Replaces every template of a WABA, as if they were edited at Meta.
async fn set_templates(
    AxumState(state): AxumState<Shared>,
    Path(waba_id): Path<String>,
    Json(templates): Json<Vec<TemplateConfig>>,
) -> StatusCode {
    state.set_templates(&waba_id, templates);
    StatusCode::NO_CONTENT
}
