//! `GET /{version}/{waba_id}/message_templates` with Graph cursor paging.

use axum::{
    Json,
    extract::{Path, Query, State as AxumState},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use super::{
    Shared, bearer,
    paging::{Window, edge_url},
};
use crate::{error::MetaError, template};

#[derive(Debug, Deserialize)]
pub(super) struct PageQuery {
    limit: Option<usize>,
    after: Option<String>,
}

pub(super) async fn list(
    AxumState(state): AxumState<Shared>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let token = bearer(&headers);
    if !state.knows_token(token) {
        return MetaError::invalid_token().into_response();
    }
    if !state.token_reads_waba(token, &waba_id) {
        return MetaError::unsupported_get(&waba_id).into_response();
    }
    let templates = state.templates_of(&waba_id);
    let window = match Window::new(templates.len(), query.limit, query.after.as_deref()) {
        Ok(window) => window,
        Err(e) => return e.into_response(),
    };
    let data = templates[window.range()].iter().map(|t| template::listing(&t.template, &t.id)).collect();
    Json(window.body(data, &edge_url(&headers, &version, &waba_id, "message_templates"), "")).into_response()
}
