//! `/_sim/...`: what tests and demos look at, over HTTP. The same data is on
//! [`crate::Simulator`] for Rust tests.

use axum::{
    Json, Router,
    extract::{Path, State as AxumState},
    http::StatusCode,
    routing::{get, post, put},
};
use serde_json::{Value, json};

use super::Shared;
use crate::{
    config::{FaultsConfig, TemplateConfig},
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
