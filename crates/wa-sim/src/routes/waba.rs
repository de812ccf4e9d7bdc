//! The WhatsApp Business Account node, `GET /{version}/{waba_id}`: its id,
//! name and the business portfolio that owns it (`owner_business_info`),
//! with Meta's `fields=` and token rules.

use axum::{
    Json,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use super::{bearer, select_fields};
use crate::{error::MetaError, state::State};

/// Graph's name for the node, as its field errors spell it.
const NODE_TYPE: &str = "WhatsAppBusinessAccount";
const FIELDS: &[&str] = &["id", "name", "owner_business_info"];
const DEFAULT_FIELDS: &[&str] = &["id", "name"];

/// Whether `id` is a WABA the simulator knows (of a number, or listed under
/// `wabas`); ids of numbers, WABAs and media are disjoint.
pub(super) fn is_waba(state: &State, id: &str) -> bool {
    state.portfolios.business_of(id).is_some()
}

/// The token of any of the WABA's numbers reads it, as a system-user token
/// assigned to the WABA does at Meta; an unknown token is Graph's 190, a
/// known one of another WABA gets the answer of an id that does not exist.
pub(super) fn node(state: &State, waba_id: &str, fields: Option<&str>, headers: &HeaderMap) -> Response {
    let token = bearer(headers);
    if !state.knows_token(token) {
        return MetaError::invalid_token().into_response();
    }
    if !state.token_reads_waba(token, waba_id) {
        return MetaError::unsupported_get(waba_id).into_response();
    }
    let chosen = match select_fields(fields, FIELDS, DEFAULT_FIELDS, NODE_TYPE) {
        Ok(chosen) => chosen,
        Err(e) => return e.into_response(),
    };
    let Some((business_id, name)) = state.portfolios.owner_of(waba_id) else {
        return MetaError::unsupported_get(waba_id).into_response();
    };
    let mut node = Map::new();
    node.insert("id".into(), json!(waba_id));
    for field in chosen {
        let value = match field {
            "name" => json!(name),
            "owner_business_info" => json!({"id": business_id, "name": name}),
            _ => continue,
        };
        node.insert(field.into(), value);
    }
    Json(Value::Object(node)).into_response()
}
