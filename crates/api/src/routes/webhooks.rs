//! `/webhooks/whatsapp`: Meta's webhook callback, outside `/v1` and without an
//! API key. GET is the subscription handshake (`WEBHOOK_VERIFY_TOKEN`); a
//! POST is accepted only when `X-Hub-Signature-256` verifies over the raw
//! bytes with the app secret of every number it is about, and is answered
//! 200 only once the raw batch is durably stored in `webhook_events` (the
//! status and reply workers take it from there). Meta retries anything else
//! for days, so a refused webhook is never stored and an accepted one never
//! lost.

use axum::{
    Json,
    body::Bytes,
    extract::{DefaultBodyLimit, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use whatsapp::{
    SIGNATURE_HEADER,
    webhook::{Change, WebhookPayload},
};

use crate::{
    app_secrets::{Refusal, Subject},
    error::{ApiError, ApiResult, ErrorBody},
    extract::ApiQuery,
    state::AppState,
};

const OBJECT: &str = "whatsapp_business_account";
/// The signature header as Meta's documentation spells it, for messages.
const SIGNATURE_NAME: &str = "X-Hub-Signature-256";

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(verify, receive)).layer(DefaultBodyLimit::max(state.limits.webhook_body_bytes))
}

/// Meta's handshake query: `hub.mode=subscribe&hub.verify_token=...&hub.challenge=...`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Handshake {
    /// Always `subscribe`.
    #[serde(rename = "hub.mode")]
    pub mode: Option<String>,
    /// Must equal `WEBHOOK_VERIFY_TOKEN`.
    #[serde(rename = "hub.verify_token")]
    pub verify_token: Option<String>,
    /// Echoed back as the plain-text body when the token matches.
    #[serde(rename = "hub.challenge")]
    pub challenge: Option<String>,
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handshake")
            .field("mode", &self.mode)
            .field("challenge", &self.challenge)
            .finish_non_exhaustive()
    }
}

/// The answer to an accepted webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct Received {
    /// The stored batch (`webhook_events.id`).
    pub event_id: i64,
}

fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Invalid { status, code, message: message.into(), field: None }
}

/// Meta's subscription handshake: echoes `hub.challenge` when `hub.verify_token` is `WEBHOOK_VERIFY_TOKEN`.
#[utoipa::path(
    get, path = "/webhooks/whatsapp", tag = "webhooks", params(Handshake),
    responses(
        (status = 200, description = "The challenge, as plain text", body = String, content_type = "text/plain"),
        (status = 400, description = "`invalid_query`: no `hub.challenge`", body = ErrorBody),
        (status = 403, description = "`verification_refused` (wrong mode or token) or `verify_token_not_configured`",
         body = ErrorBody),
    )
)]
pub async fn verify(State(state): State<AppState>, ApiQuery(query): ApiQuery<Handshake>) -> ApiResult<String> {
    let Some(expected) = &state.webhook_verify_token else {
        return Err(refused(
            StatusCode::FORBIDDEN,
            "verify_token_not_configured",
            "this server has no WEBHOOK_VERIFY_TOKEN; set it to the verify token of the Meta app's webhook settings",
        ));
    };
    if query.mode.as_deref() != Some("subscribe") {
        return Err(refused(StatusCode::FORBIDDEN, "verification_refused", "hub.mode must be \"subscribe\""));
    }
    if query.challenge.is_none() {
        return Err(ApiError::bad_request("invalid_query", "hub.challenge is missing"));
    }
    let challenge = whatsapp::verify_subscription(
        query.mode.as_deref(),
        query.verify_token.as_deref(),
        query.challenge.as_deref(),
        expected.expose(),
    );
    challenge.map(str::to_owned).ok_or_else(|| {
        refused(StatusCode::FORBIDDEN, "verification_refused", "hub.verify_token does not match WEBHOOK_VERIFY_TOKEN")
    })
}

/// A webhook batch from Meta (statuses, inbound messages, template status
/// updates), signed with the app secret of the numbers it is about; stored
/// durably before the 200.
#[utoipa::path(
    post, path = "/webhooks/whatsapp", tag = "webhooks",
    params(("X-Hub-Signature-256" = String, Header, description = "`sha256=` and the hex HMAC-SHA256 of the raw body")),
    request_body(content = Object, description = "Meta's webhook payload, exactly as sent", content_type = "application/json"),
    responses(
        (status = 200, description = "Stored", body = Received),
        (status = 400, description = "`invalid_webhook`: not a WhatsApp Business Account webhook", body = ErrorBody),
        (status = 401, description = "`invalid_signature` (missing or not matching) or `unknown_number`; nothing stored",
         body = ErrorBody),
        (status = 413, description = "Over 8 MiB", body = ErrorBody),
    )
)]
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Received>> {
    let result = ingest(&state, &headers, body).await;
    // Refusals and failures are logged once, by the error middleware.
    let outcome = match &result {
        Ok(_) => "stored",
        Err((outcome, _)) => *outcome,
    };
    metrics::counter!("webhook_requests_total", "outcome" => outcome).increment(1);
    result.map(|event_id| Json(Received { event_id })).map_err(|(_, e)| e)
}

/// Checks and stores one webhook; errors carry the metric's `outcome`.
async fn ingest(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<i64, (&'static str, ApiError)> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ("too_large", ApiError::TooLarge { limit: Some(state.limits.webhook_body_bytes as u64) })
        } else {
            ("invalid_webhook", ApiError::bad_request("invalid_webhook", e.body_text()))
        }
    })?;
    let invalid = |message: String| ("invalid_webhook", ApiError::bad_request("invalid_webhook", message));
    let payload: WebhookPayload =
        serde_json::from_slice(&body).map_err(|e| invalid(format!("the body is not a WhatsApp webhook: {e}")))?;
    if payload.object != OBJECT {
        return Err(invalid(format!("object is {:?}; expected {OBJECT:?}", payload.object)));
    }
    let subjects = subjects(&payload);
    if subjects.is_empty() {
        return Err(invalid("the webhook has no entry, so no number to check its signature against".into()));
    }
    let header = headers.get(SIGNATURE_HEADER).map(|v| v.to_str().unwrap_or_default());
    if header.is_none() {
        let message = format!("{SIGNATURE_NAME}: {}", whatsapp::SignatureError::Missing);
        return Err(("invalid_signature", refused(StatusCode::UNAUTHORIZED, "invalid_signature", message)));
    }
    let verified = state.app_secrets.verify(&state.pg, &state.cipher, &subjects, &body, header).await;
    let signers = verified.map_err(|refusal| match refusal {
        Refusal::Unknown(subject) => (
            "unknown_number",
            refused(
                StatusCode::UNAUTHORIZED,
                "unknown_number",
                format!("no registered number is {subject}; register it with POST /v1/numbers"),
            ),
        ),
        Refusal::Signature(subject, e) => (
            "invalid_signature",
            refused(
                StatusCode::UNAUTHORIZED,
                "invalid_signature",
                format!("{SIGNATURE_NAME} does not verify with the app secret of {subject}: {e}"),
            ),
        ),
        Refusal::Lookup(e) => ("error", ApiError::Internal(anyhow::Error::new(e).context("reading app secrets"))),
    })?;
    store::webhook_events::insert(&state.pg, signers.first.as_deref(), &signers.wabas, &body)
        .await
        .map_err(|e| ("error", ApiError::Internal(anyhow::Error::new(e).context("storing a webhook"))))
}

/// The numbers (and WABAs) a webhook is about, in order of first mention.
/// A `messages` change names its number; other changes (template status
/// updates) and change-less entries only name the WABA.
fn subjects(payload: &WebhookPayload) -> Vec<Subject> {
    let mut subjects = Vec::new();
    for entry in &payload.entry {
        let waba = || Subject::Waba(entry.id.clone());
        let mut named: Vec<Subject> = entry
            .changes
            .iter()
            .map(|change| match change {
                Change::Messages(value) => Subject::Number(value.metadata.phone_number_id.clone()),
                Change::TemplateStatus(_) | Change::Capability(_) | Change::Other { .. } => waba(),
            })
            .collect();
        if named.is_empty() {
            named.push(waba());
        }
        for subject in named {
            if !subjects.contains(&subject) {
                subjects.push(subject);
            }
        }
    }
    subjects
}
