//! Graph API errors in Meta's exact shape:
//! `{"error":{"message":"(#<code>) <title>","type":"OAuthException","code",..,"error_data":{..},"fbtrace_id"}}`.

use std::sync::atomic::{AtomicU64, Ordering};

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
    pub title: &'static str,
    pub details: Option<String>,
}

impl MetaError {
    fn new(code: i64, title: &'static str, details: impl Into<String>) -> Self {
        Self { code, title, details: Some(details.into()) }
    }

    /// 190: Meta answers this without `error_data`, and with HTTP 401.
    pub fn invalid_token() -> Self {
        Self { code: 190, title: "Invalid OAuth access token - Cannot parse access token", details: None }
    }

    pub fn invalid_parameter(details: impl Into<String>) -> Self {
        Self::new(100, "Invalid parameter", details)
    }

    /// Graph's answer for a node id it does not know.
    pub fn unknown_object(id: &str) -> Self {
        Self::new(
            100,
            "Unsupported post request",
            format!(
                "Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, \
                 or does not support this operation"
            ),
        )
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
        let mut error = json!({
            "message": format!("(#{}) {}", self.code, self.title),
            "type": "OAuthException",
            "code": self.code,
            "fbtrace_id": fbtrace_id(),
        });
        if self.code == 190 {
            // Meta's 190 message carries no "(#190)" prefix.
            error["message"] = json!(self.title);
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
}
