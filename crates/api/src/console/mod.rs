//! The operator console: server-rendered pages under `/console`, signed in
//! with an operator account (never an API key).
//!
//! Every page is an askama template (`templates/console/`) rendered from the
//! same store functions the `/v1` routes use; every action is a plain form
//! post answered with a redirect, so the console works without JavaScript.
//! Three small scripts of our own improve it: live statistics over SSE, the
//! audience step's live count, and confirmations. Pages are sent with a
//! strict Content-Security-Policy.

mod accounts;
mod assets;
mod campaign;
mod campaigns;
mod contacts;
pub(crate) mod i18n;
mod operations;
pub(crate) mod pages;
mod reports;
pub(crate) mod session;
mod settings;
mod sign_in;
mod wizard;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    http::{HeaderValue, header},
    middleware::{self, Next},
    response::{Redirect, Response},
    routing::{get, post},
};

use crate::state::AppState;

/// Every console route (method, path), public ones first. The security suite
/// walks this list (sign-in required, tenants kept apart, CSRF, hostile
/// input): add a route here when it is added to [`router`].
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/console"),
    ("GET", "/console/sign-in"),
    ("POST", "/console/sign-in"),
    ("GET", "/console/assets/{name}"),
    ("POST", "/console/sign-out"),
    ("POST", "/console/sign-out-everywhere"),
    ("GET", "/console/campaigns"),
    ("GET", "/console/campaigns/new"),
    ("POST", "/console/campaigns/new"),
    ("GET", "/console/audience-count"),
    ("GET", "/console/campaigns/{id}"),
    ("GET", "/console/campaigns/{id}/edit/{step}"),
    ("POST", "/console/campaigns/{id}/edit/{step}"),
    ("POST", "/console/campaigns/{id}/header-media"),
    ("GET", "/console/campaigns/{id}/review"),
    ("POST", "/console/campaigns/{id}/ready"),
    ("POST", "/console/campaigns/{id}/test-send"),
    ("POST", "/console/campaigns/{id}/schedule"),
    ("GET", "/console/campaigns/{id}/live"),
    ("POST", "/console/campaigns/{id}/start"),
    ("POST", "/console/campaigns/{id}/finish"),
    ("POST", "/console/campaigns/{id}/resume"),
    ("POST", "/console/campaigns/{id}/pause"),
    ("POST", "/console/campaigns/{id}/clone"),
    ("POST", "/console/campaigns/{id}/retry-failed"),
    ("POST", "/console/campaigns/{id}/delete"),
    ("POST", "/console/campaigns/{id}/reports"),
    ("GET", "/console/reports/{id}/download"),
    ("GET", "/console/contacts"),
    ("POST", "/console/contacts/import"),
    ("GET", "/console/contacts/{id}"),
    ("GET", "/console/settings"),
    ("POST", "/console/templates/sync"),
    ("POST", "/console/settings/language"),
    ("POST", "/console/accounts"),
    ("POST", "/console/accounts/{account}/disable"),
    ("POST", "/console/accounts/{account}/enable"),
    ("POST", "/console/api-keys"),
    ("POST", "/console/api-keys/{key}/revoke"),
    ("GET", "/console/operations"),
    ("POST", "/console/dead-letters/{queue}/{id}/replay"),
    ("POST", "/console/dead-letters/{queue}/{id}/delete"),
];

/// The routes anyone may reach (the rest need a signed-in operator).
pub const PUBLIC_ROUTES: usize = 4;

/// The console's routes; the API router serves them beside `/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/campaigns") }))
        .route("/console/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/console/sign-out", post(sign_in::sign_out))
        .route("/console/sign-out-everywhere", post(sign_in::sign_out_everywhere))
        .route("/console/campaigns", get(campaigns::list))
        .route("/console/campaigns/new", get(wizard::new_form).post(wizard::create))
        .route("/console/audience-count", get(wizard::audience_count))
        .route("/console/campaigns/{id}", get(campaign::page))
        .route("/console/campaigns/{id}/edit/{step}", get(wizard::step).post(wizard::save))
        .route(
            "/console/campaigns/{id}/header-media",
            // Meta's largest header file (16 MB video) and the form around it.
            post(wizard::upload_media).layer(DefaultBodyLimit::max(17 << 20)),
        )
        .route("/console/campaigns/{id}/review", get(wizard::review))
        .route("/console/campaigns/{id}/ready", post(wizard::ready))
        .route("/console/campaigns/{id}/test-send", post(wizard::test_send))
        .route("/console/campaigns/{id}/schedule", post(wizard::schedule))
        .route("/console/campaigns/{id}/live", get(campaign::live))
        // start, finish, resume, pause, clone, retry-failed and delete (`ROUTES`); any other action is a 404 page.
        .route("/console/campaigns/{id}/{action}", post(campaigns::act))
        .route("/console/campaigns/{id}/reports", post(reports::request))
        .route("/console/reports/{id}/download", get(reports::download))
        .route("/console/contacts", get(contacts::list))
        // The import reads the file within `CSV_IMPORT_BYTES` itself.
        .route("/console/contacts/import", post(contacts::import_csv).layer(DefaultBodyLimit::disable()))
        .route("/console/contacts/{id}", get(contacts::page))
        .route("/console/settings", get(settings::page))
        .route("/console/templates/sync", post(settings::sync_templates))
        .route("/console/settings/language", post(settings::set_language))
        .route("/console/accounts", post(accounts::create_account))
        // disable and enable (`ROUTES`); any other action is a 404 page.
        .route("/console/accounts/{account}/{action}", post(accounts::set_account))
        .route("/console/api-keys", post(accounts::create_key))
        .route("/console/api-keys/{key}/revoke", post(accounts::revoke_key))
        .route("/console/operations", get(operations::page))
        .route("/console/dead-letters/{queue}/{id}/{action}", post(operations::act))
        .route("/console/assets/{name}", get(assets::serve))
        .layer(middleware::from_fn(i18n::scope))
        .layer(middleware::from_fn(security_headers))
}

/// What every console answer carries: no framing, no sniffing, scripts and
/// styles from this origin only, pages never cached.
async fn security_headers(request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/console/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    if !is_asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
