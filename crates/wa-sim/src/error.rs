//! Graph API errors in Meta's exact shape:
//! `{"error":{"message":"(#<code>) <title>","type":"OAuthException","code",..,"error_data":{..},"fbtrace_id"}}`,
//! and Graph's own `GraphMethodException` for objects a token cannot load.
//!
//! Every code is Meta's but one: 130430 ([`MetaError::messaging_limit_reached`])
//! is the simulator's own stand-in for the answer to a send past the
//! portfolio's messaging limit, which Meta does not document.

use std::{
    borrow::Cow,
    sync::atomic::{AtomicU64, Ordering},
};

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::json;

/// One synchronous Cloud API error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaError {
    pub code: i64,
    pub title: Cow<'static, str>,
    pub details: Option<String>,
    /// `OAuthException`, or [`GRAPH_METHOD_EXCEPTION`].
    pub kind: &'static str,
    pub subcode: Option<i64>,
}

const OAUTH_EXCEPTION: &str = "OAuthException";

/// Graph's type for a node or edge it cannot serve. Its message is complete
/// as is: no `(#code)` prefix and no `error_data`.
pub const GRAPH_METHOD_EXCEPTION: &str = "GraphMethodException";

impl MetaError {
    fn new(code: i64, title: &'static str, details: impl Into<String>) -> Self {
        Self::bare(code, title, Some(details.into()))
    }

    fn bare(code: i64, title: impl Into<Cow<'static, str>>, details: Option<String>) -> Self {
        Self { code, title: title.into(), details, kind: OAUTH_EXCEPTION, subcode: None }
    }

    /// 190: Meta answers this without `error_data`, and with HTTP 401.
    pub fn invalid_token() -> Self {
        Self::bare(190, "Invalid OAuth access token - Cannot parse access token", None)
    }

    pub fn invalid_parameter(details: impl Into<String>) -> Self {
        Self::new(100, "Invalid parameter", details)
    }

    /// Graph's answer (code 100, subcode 33) for a POST to an id that does
    /// not exist or that the token may not use.
    pub fn unsupported_post(id: &str) -> Self {
        Self::unsupported("post", id)
    }

    /// The same for a GET: Graph does not say whether the object is missing
    /// or only hidden from this token.
    pub fn unsupported_get(id: &str) -> Self {
        Self::unsupported("get", id)
    }

    fn unsupported(method: &str, id: &str) -> Self {
        let message = format!(
            "Unsupported {method} request. Object with ID '{id}' does not exist, cannot be loaded due to missing \
             permissions, or does not support this operation. Please read the Graph API documentation at \
             https://developers.facebook.com/docs/graph-api"
        );
        Self { kind: GRAPH_METHOD_EXCEPTION, subcode: Some(33), ..Self::bare(100, message, None) }
    }

    /// `fields=` naming a field the node does not have.
    pub fn nonexisting_field(field: &str, node_type: &str) -> Self {
        Self::bare(100, format!("Tried accessing nonexisting field ({field}) on node type ({node_type})"), None)
    }

    pub fn rate_limited() -> Self {
        Self::new(130429, "Rate limit hit", "Cloud API message throughput has been reached.")
    }

    pub fn pair_rate_limited() -> Self {
        Self::new(
            131056,
            "(Business, Consumer) pair rate limit hit",
            "Message failed to send because there were too many messages sent from this phone number to the \
             same phone number in a short period of time.",
        )
    }

    /// A template to a new user past the business portfolio's messaging
    /// limit (HTTP 400). Meta documents no code for it (partners say the rest
    /// is not sent): 130430 is this simulator's own stand-in, next to the
    /// throughput limit's 130429, not a code Meta is known to send.
    pub fn messaging_limit_reached(tier: &str, limit: usize) -> Self {
        Self::new(
            130430,
            "Messaging limit reached",
            format!(
                "The business portfolio reached its messaging limit: {limit} unique users in a moving 24 hours ({tier})"
            ),
        )
    }

    pub fn parameter_mismatch(details: impl Into<String>) -> Self {
        Self::new(132000, "Number of parameters does not match the expected number of params", details)
    }

    pub fn template_missing(name: &str, language: &str) -> Self {
        Self::new(
            132001,
            "Template name does not exist in the translation",
            format!("template name ({name}) does not exist in {language}"),
        )
    }

    pub fn template_paused(name: &str) -> Self {
        Self::new(132015, "Template is Paused", format!("Template {name} is paused due to low quality"))
    }

    pub fn template_disabled(name: &str) -> Self {
        Self::new(132016, "Template has been disabled", format!("Template {name} has been permanently disabled"))
    }

    pub fn bad_param_whitespace() -> Self {
        Self::new(
            132018,
            "There was an issue with the parameters in your template.",
            "Param text cannot have new-line/tab characters or more than 4 consecutive spaces",
        )
    }

    pub fn media_upload(details: impl Into<String>) -> Self {
        Self::new(131053, "Media upload error", details)
    }

    pub fn http_status(&self) -> StatusCode {
        if self.code == 190 { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST }
    }

    pub fn body(&self) -> serde_json::Value {
        // Meta's 190 and Graph-level messages carry no "(#code)" prefix.
        let message = if self.code == 190 || self.kind == GRAPH_METHOD_EXCEPTION {
            self.title.to_string()
        } else {
            format!("(#{}) {}", self.code, self.title)
        };
        let mut error = json!({
            "message": message,
            "type": self.kind,
            "code": self.code,
            "fbtrace_id": fbtrace_id(),
        });
        if let Some(subcode) = self.subcode {
            error["error_subcode"] = json!(subcode);
        }
        if let Some(details) = &self.details {
            error["error_data"] = json!({"messaging_product": "whatsapp", "details": details});
        }
        json!({ "error": error })
    }
}

impl IntoResponse for MetaError {
    fn into_response(self) -> Response {
        (self.http_status(), Json(self.body())).into_response()
    }
}

/// Unique per answer, like Meta's, so a test can tell answers apart.
fn fbtrace_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("A{}", URL_SAFE_NO_PAD.encode(n.to_be_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_have_metas_message_prefix_and_error_data() {
        let body = MetaError::rate_limited().body();
        assert_eq!(body["error"]["message"], "(#130429) Rate limit hit");
        assert_eq!(body["error"]["type"], "OAuthException");
        assert_eq!(body["error"]["error_data"]["details"], "Cloud API message throughput has been reached.");
        assert_eq!(MetaError::rate_limited().http_status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn invalid_token_is_401_without_error_data() {
        let e = MetaError::invalid_token();
        assert_eq!(e.http_status(), StatusCode::UNAUTHORIZED);
        let body = e.body();
        assert!(body["error"]["message"].as_str().is_some_and(|m| m.starts_with("Invalid OAuth access token")));
        assert!(body["error"].get("error_data").is_none());
    }

    #[test]
    fn an_unreadable_object_is_graphs_subcode_33() {
        let e = MetaError::unsupported_get("2001");
        assert_eq!(e.http_status(), StatusCode::BAD_REQUEST);
        let error = &e.body()["error"];
        assert_eq!((&error["code"], &error["error_subcode"]), (&json!(100), &json!(33)));
        assert_eq!(error["type"], "GraphMethodException");
        let message = error["message"].as_str().expect("message");
        assert!(message.starts_with("Unsupported get request. Object with ID '2001' does not exist"), "{message}");
        assert!(message.ends_with("https://developers.facebook.com/docs/graph-api"), "{message}");
        assert!(error.get("error_data").is_none());
        let post = MetaError::unsupported_post("9").body();
        assert!(post["error"]["message"].as_str().is_some_and(|m| m.starts_with("Unsupported post request.")));
    }

    #[test]
    fn the_messaging_limit_refusal_is_the_simulators_130430() {
        let e = MetaError::messaging_limit_reached("TIER_250", 250);
        assert_eq!(e.http_status(), StatusCode::BAD_REQUEST);
        let error = &e.body()["error"];
        assert_eq!(error["message"], "(#130430) Messaging limit reached");
        assert_eq!((&error["type"], &error["code"]), (&json!("OAuthException"), &json!(130430)));
        assert_eq!(
            error["error_data"],
            json!({"messaging_product": "whatsapp", "details":
                "The business portfolio reached its messaging limit: 250 unique users in a moving 24 hours (TIER_250)"})
        );
        assert!(error["fbtrace_id"].is_string());
    }

    #[test]
    fn a_nonexisting_field_is_code_100_with_the_prefix() {
        let body = MetaError::nonexisting_field("nope", "WhatsAppBusinessPhoneNumber").body();
        assert_eq!(
            body["error"]["message"],
            "(#100) Tried accessing nonexisting field (nope) on node type (WhatsAppBusinessPhoneNumber)"
        );
        assert_eq!((&body["error"]["type"], body["error"].get("error_subcode")), (&json!("OAuthException"), None));
    }
}
