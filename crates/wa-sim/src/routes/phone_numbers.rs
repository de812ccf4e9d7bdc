//! The phone number node, `GET /{version}/{phone_number_id}`, and a WABA's
//! `GET /{version}/{waba_id}/phone_numbers`, with Meta's `fields=` and
//! token rules.

use axum::{
    Json,
    extract::{Path, Query, State as AxumState},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    Shared, bearer,
    paging::{Window, edge_url},
    select_fields,
};
use crate::{config::NumberConfig, error::MetaError, state::State};

/// Graph's name for the node, as its field errors spell it.
const NODE_TYPE: &str = "WhatsAppBusinessPhoneNumber";

/// The fields the simulator serves. Meta has more; asking for one that is
/// not here fails like a misspelt field, so a caller relying on it notices.
const FIELDS: &[&str] = &[
    "id",
    "display_phone_number",
    "verified_name",
    "quality_rating",
    "throughput",
    "whatsapp_business_manager_messaging_limit",
];

/// What Graph returns when `fields=` is absent.
const DEFAULT_FIELDS: &[&str] = &["id", "display_phone_number", "verified_name", "quality_rating"];

#[derive(Debug, Deserialize)]
pub(super) struct NodeQuery {
    fields: Option<String>,
}

impl NodeQuery {
    pub(super) fn fields(&self) -> Option<&str> {
        self.fields.as_deref()
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    fields: Option<String>,
    limit: Option<usize>,
    after: Option<String>,
}

/// The known fields named in `fields=` (comma-separated), or the defaults.
fn requested(fields: Option<&str>) -> Result<Vec<&'static str>, MetaError> {
    select_fields(fields, FIELDS, DEFAULT_FIELDS, NODE_TYPE)
}

/// The node with `fields`; Graph always adds `id`. The messaging limit is
/// the number's business portfolio's, as it is now.
fn render(state: &State, number: &NumberConfig, fields: &[&str]) -> Value {
    let mut node = Map::new();
    node.insert("id".to_owned(), json!(number.phone_number_id));
    for field in fields {
        let value = match *field {
            // Meta formats it for display; "+" and the digits is the
            // simplest form it uses, and the config holds digits.
            "display_phone_number" => json!(format!("+{}", number.display_phone_number.trim_start_matches('+'))),
            "verified_name" => json!(number.verified_name),
            "quality_rating" => json!(number.quality_rating),
            "throughput" => {
                json!({"level": if number.throughput_per_second <= 80.0 { "STANDARD" } else { "HIGH" }})
            }
            "whatsapp_business_manager_messaging_limit" => json!(
                state.portfolios.tier_of_waba(&number.waba_id).unwrap_or_else(|| number.messaging_limit_tier.clone())
            ),
            _ => continue,
        };
        node.insert((*field).to_owned(), value);
    }
    Value::Object(node)
}

/// Only the number's own token reads it. Another number's token gets the
/// same answer as an id that does not exist, so ids cannot be probed.
pub(super) fn node(state: &State, number: &NumberConfig, query: NodeQuery, headers: &HeaderMap) -> Response {
    let token = bearer(headers);
    if !state.knows_token(token) {
        return MetaError::invalid_token().into_response();
    }
    if token != Some(number.access_token.as_str()) {
        return MetaError::unsupported_get(&number.phone_number_id).into_response();
    }
    match requested(query.fields.as_deref()) {
        Ok(fields) => Json(render(state, number, &fields)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The WABA's numbers in config order, for any token of one of them.
pub(super) async fn list(
    AxumState(state): AxumState<Shared>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let token = bearer(&headers);
    if !state.knows_token(token) {
        return MetaError::invalid_token().into_response();
    }
    if !state.token_reads_waba(token, &waba_id) {
        return MetaError::unsupported_get(&waba_id).into_response();
    }
    let fields = match requested(query.fields.as_deref()) {
        Ok(fields) => fields,
        Err(e) => return e.into_response(),
    };
    let numbers: Vec<_> = state.config.numbers.iter().filter(|n| n.waba_id == waba_id).collect();
    let window = match Window::new(numbers.len(), query.limit, query.after.as_deref()) {
        Ok(window) => window,
        Err(e) => return e.into_response(),
    };
    let data = numbers[window.range()].iter().map(|n| render(&state, n, &fields)).collect();
    // `next` keeps the fields asked for; they are known names, safe in a URL.
    let extra = query.fields.as_ref().map(|_| format!("&fields={}", fields.join(","))).unwrap_or_default();
    Json(window.body(data, &edge_url(&headers, &version, &waba_id, "phone_numbers"), &extra)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_checked_and_id_always_comes_back() {
        assert_eq!(requested(None).expect("defaults"), DEFAULT_FIELDS);
        assert_eq!(requested(Some(" , ")).expect("defaults"), DEFAULT_FIELDS);
        assert_eq!(requested(Some("throughput, throughput")).expect("known"), ["throughput"]);
        let error = requested(Some("throughput,nope")).expect_err("unknown");
        assert_eq!(error.code, 100);
        assert!(error.title.contains("(nope)"), "{}", error.title);
    }
}
