//! `GET /{version}/{waba_id}/message_templates` with Graph cursor paging.

use axum::{
    Json,
    extract::{Path, Query, State as AxumState},
    http::{HeaderMap, header::HOST},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::json;

use super::{Shared, bearer};
use crate::{error::MetaError, template};

/// Meta's default page size.
const DEFAULT_LIMIT: usize = 25;

#[derive(Debug, Deserialize)]
pub(super) struct PageQuery {
    limit: Option<usize>,
    after: Option<String>,
}

/// Cursors are opaque to clients; here they encode a position in the list.
fn cursor(position: usize) -> String {
    URL_SAFE_NO_PAD.encode(position.to_string())
}

fn position(cursor: &str) -> Option<usize> {
    String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?.parse().ok()
}

pub(super) async fn list(
    AxumState(state): AxumState<Shared>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let token = bearer(&headers);
    let numbers = state.numbers.values().filter(|n| n.config.waba_id == waba_id);
    if !numbers.clone().any(|n| Some(n.config.access_token.as_str()) == token) {
        let known_token = state.numbers.values().any(|n| Some(n.config.access_token.as_str()) == token);
        let error = if known_token { MetaError::unknown_object(&waba_id) } else { MetaError::invalid_token() };
        return error.into_response();
    }
    let start = match query.after.as_deref().map(position) {
        None => 0,
        Some(Some(p)) => p + 1,
        Some(None) => return MetaError::invalid_parameter("Invalid cursor in parameter after").into_response(),
    };
    let templates = state.templates_of(&waba_id);
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, 1000);
    // The list may have shrunk since the cursor was handed out.
    let start = start.min(templates.len());
    let end = (start + limit).min(templates.len());
    let data: Vec<_> = templates[start..end].iter().map(|t| template::listing(&t.template, &t.id)).collect();
    let mut body = json!({ "data": data });
    if start < end {
        let after = cursor(end - 1);
        body["paging"] = json!({"cursors": {"before": cursor(start), "after": after}});
        if end < templates.len() {
            let host = headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            body["paging"]["next"] =
                json!(format!("http://{host}/{version}/{waba_id}/message_templates?limit={limit}&after={after}"));
        }
    }
    Json(body).into_response()
}
