//! The OpenAPI 3 document, assembled from the route annotations, plus the
//! answers every route of a kind can give ([`with_common_answers`]): each
//! operation lists every status code it can answer.

use std::sync::Arc;

use axum::{Extension, Json};
use serde_json::{Value, json};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "WhatsApp campaign engine API",
        description = "Contacts, WhatsApp Cloud numbers, templates, bot flows, media, campaigns, funnel steps, reports, \
                       organization settings and API keys. Authenticate with `Authorization: Bearer <key>` \
                       (Meta's `/webhooks/whatsapp` callback is authenticated by its signature instead); \
                       errors are `{\"error\": {\"code\", \"message\", \"field\"?, \"details\"?}}`."
    ),
    paths(openapi_json),
    modifiers(&BearerAuth),
    tags(
        (name = "contacts", description = "The audience: contacts with tags and valued tags"),
        (name = "numbers", description = "WhatsApp Cloud numbers used to send"),
        (name = "templates", description = "WhatsApp templates synced from Meta, per WABA"),
        (name = "bot-flows", description = "Endpoints that campaign replies are forwarded to"),
        (name = "media", description = "Images and videos for template headers, uploaded to Meta"),
        (name = "campaigns", description = "Real and test campaigns: Draft to Finished, forecast, launch, schedule"),
        (name = "reports", description = "CSV reports of a campaign's recipients: requested, built in the background, downloaded"),
        (name = "api-keys", description = "API keys of the organization"),
        (name = "organization", description = "The organization's settings: default reply route and opt-out keywords"),
        (name = "webhooks", description = "Meta's webhook callback: subscription handshake and signed batches (no API key)"),
        (name = "dead-letters", description = "What the queues gave up on: list, replay, delete (admin keys; the organization's own)"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("wce_...").build()),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3 JSON")))]
pub async fn openapi_json(Extension(doc): Extension<Arc<Value>>) -> Json<Value> {
    Json(doc.as_ref().clone())
}

/// The answers the extractors, the authentication and the error handling
/// give on every route of a kind, added to each operation that does not
/// document them itself:
/// - every operation: 500 `internal`;
/// - with an API key: 401 (`missing_api_key`, `malformed_authorization`,
///   `invalid_api_key`, `revoked_api_key`), and 403 `missing_scope` when the
///   operation needs the `admin` scope;
/// - with a JSON body: 400 `malformed_json`, 413 `payload_too_large`,
///   415 `unsupported_media_type`, 422 `invalid_body` / `invalid_text`;
/// - with path parameters: 400 `invalid_path`, 404 `not_found`, 422 `invalid_text`;
/// - with query parameters: 400 `invalid_query`, 422 `invalid_text`.
pub fn with_common_answers(doc: &utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(doc).unwrap_or_else(|_| unreachable!("an OpenAPI document serialises"));
    let error = || json!({"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}});
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return doc };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for (method, op) in item.iter_mut() {
            if !matches!(method.as_str(), "get" | "put" | "post" | "delete" | "patch") {
                continue;
            }
            let secured = op.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty());
            let admin = op["security"].as_array().into_iter().flatten().any(|req| {
                req.as_object()
                    .into_iter()
                    .flatten()
                    .any(|(_, scopes)| scopes.as_array().is_some_and(|s| s.iter().any(|scope| scope == "admin")))
            });
            let json_body = op.pointer("/requestBody/content/application~1json").is_some();
            let params = op.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
            let in_path = params.iter().any(|p| p["in"] == "path");
            let in_query = params.iter().any(|p| p["in"] == "query");
            let mut answers: Vec<(&str, &str)> =
                vec![("500", "`internal`: an unexpected failure, logged by the server")];
            if secured {
                answers.push((
                    "401",
                    "`missing_api_key`, `malformed_authorization`, `invalid_api_key` or `revoked_api_key`",
                ));
            }
            if admin {
                answers.push(("403", "`missing_scope`: the operation needs an API key with the `admin` scope"));
            }
            if json_body {
                answers.push(("400", "`malformed_json`: the body is not JSON"));
                answers.push(("413", "`payload_too_large`: the body is over the limit"));
                answers.push(("415", "`unsupported_media_type`: not `Content-Type: application/json`"));
                answers.push(("422", "`invalid_body` (a field named in `field`) or `invalid_text`"));
            }
            if in_path {
                answers.push(("400", "`invalid_path`: a path parameter is not of its type"));
                answers.push(("404", "`not_found`: no such resource in the organization"));
                answers.push(("422", "`invalid_text`: a path parameter holds a character that is not accepted"));
            }
            if in_query {
                answers.push(("400", "`invalid_query`: the query string cannot be read"));
                answers.push((
                    "422",
                    "`invalid_text` (a query parameter holds a character that is not accepted) or `too_long`",
                ));
            }
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else { continue };
            for (status, description) in answers {
                responses.entry(status).or_insert_with(|| json!({"description": description, "content": error()}));
            }
        }
    }
    doc
}
