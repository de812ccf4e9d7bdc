//! The OpenAPI 3 document, assembled from the route annotations.

use std::sync::Arc;

use axum::{Extension, Json};
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
pub async fn openapi_json(Extension(doc): Extension<Arc<utoipa::openapi::OpenApi>>) -> Json<utoipa::openapi::OpenApi> {
    Json(doc.as_ref().clone())
}
