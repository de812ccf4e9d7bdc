//! The Cloud API routes Meta serves (messages, templates, media, phone numbers, the WABA node), plus
//! `/_sim/...` for inspection, faults and tier changes.

mod inspect;
mod media;
mod paging;
mod phone_numbers;
mod templates;
mod waba;

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, Query, State as AxumState},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;

use crate::{error::MetaError, faults::Fault, state::State};

pub(crate) type Shared = Arc<State>;

pub(crate) fn router(state: Shared) -> Router {
    Router::new()
        .route("/{version}/{phone_number_id}/messages", post(send))
        .route("/{version}/{waba_id}/message_templates", get(templates::list))
        .route(
            "/{version}/{phone_number_id}/media",
            post(media::upload).layer(DefaultBodyLimit::max(crate::media::MAX_UPLOAD)),
        )
        .route("/{version}/{waba_id}/phone_numbers", get(phone_numbers::list))
        .route("/{version}/{node_id}", get(node))
        .route("/{version}/_sim_download/{media_id}", get(media::download))
        .merge(inspect::router())
        .fallback(|| async { MetaError::invalid_parameter("Unknown path components").into_response() })
        .with_state(state)
}

/// The token of `Authorization: Bearer <token>`.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).map(str::trim)
}

/// The known fields named in `fields=` (comma-separated, each once), or
/// `defaults` when it names none; an unknown one is Graph's error 100.
pub(crate) fn select_fields(
    fields: Option<&str>,
    known: &[&'static str],
    defaults: &[&'static str],
    node_type: &str,
) -> Result<Vec<&'static str>, MetaError> {
    let mut chosen = Vec::new();
    for name in fields.unwrap_or_default().split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let field = known.iter().find(|f| **f == name).ok_or_else(|| MetaError::nonexisting_field(name, node_type))?;
        if !chosen.contains(field) {
            chosen.push(*field);
        }
    }
    Ok(if chosen.is_empty() { defaults.to_vec() } else { chosen })
}

/// Phone numbers, WABAs and media share Graph's node path, as at Meta; ids
/// are disjoint, and an id that is none of them is an unknown object.
async fn node(
    AxumState(state): AxumState<Shared>,
    Path((version, node_id)): Path<(String, String)>,
    Query(query): Query<phone_numbers::NodeQuery>,
    headers: HeaderMap,
) -> Response {
    match state.numbers.get(&node_id) {
        Some(number) => phone_numbers::node(&state, &number.config, query, &headers),
        None if waba::is_waba(&state, &node_id) => waba::node(&state, &node_id, query.fields(), &headers),
        None => media::metadata(&state, &version, &node_id, &headers),
    }
}

async fn send(
    AxumState(state): AxumState<Shared>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (faults, fault) = state.faults.draw();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    match fault {
        Fault::ServerError => return server_error(),
        Fault::DropConnection => return dropped_connection(),
        Fault::None | Fault::AcceptThenHang => {}
    }
    let result = state.authorize(&phone_number_id, bearer(&headers)).and_then(|number| state.send(number, &body));
    if fault == Fault::AcceptThenHang && result.is_ok() {
        tokio::time::sleep(Duration::from_millis(faults.hang_ms)).await;
    }
    match result {
        Ok(message) => {
            let status =
                if state.config.hold_for_quality_assessment { "held_for_quality_assessment" } else { "accepted" };
            Json(json!({
                "messaging_product": "whatsapp",
                "contacts": [{"input": message.to, "wa_id": message.wa_id}],
                "messages": [{"id": message.wamid, "message_status": status}],
            }))
            .into_response()
        }
        Err(error) => error.into_response(),
    }
}

/// Meta's transient failure: HTTP 500 with Graph code 2.
fn server_error() -> Response {
    let body = json!({"error": {
        "message": "An unexpected error has occurred. Please retry your request later.",
        "type": "OAuthException",
        "is_transient": true,
        "code": 2,
        "fbtrace_id": "AsimulatedFault",
    }});
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

/// A body that fails before its first byte makes hyper abort the connection
/// without writing the response head: the client sees the connection close.
fn dropped_connection() -> Response {
    let failing = futures::stream::once(async { Err::<Bytes, _>(std::io::Error::other("simulated connection drop")) });
    Response::new(axum::body::Body::from_stream(failing))
}
