//! The one error type of the API and its JSON body:
//! `{"error": {"code": "...", "message": "...", "field": "...", "details": [...]}}`.
//!
//! 4xx errors say exactly what is wrong; 5xx errors say nothing about the
//! internals and are logged once, with their cause chain, by [`log_server_errors`].

use std::sync::Arc;

use axum::{
    Json,
    extract::{Request, rejection::JsonRejection},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

/// The error body every 4xx/5xx answer carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_phone`.
    pub code: String,
    /// Readable explanation.
    pub message: String,
    /// The offending field, as a path like `contacts[3].phone`, when one field is at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Per-row problems for bulk requests (row numbers, fields, codes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<RowError>,
    /// What keeps a campaign from launching (`campaign_not_ready`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<ProblemBody>,
}

/// One reason a campaign is a Draft: the field to fix, a stable code and a readable message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemBody {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl From<&domain::campaign::Problem> for ProblemBody {
    fn from(p: &domain::campaign::Problem) -> Self {
        Self { field: p.field.to_owned(), code: p.code.to_owned(), message: p.message.clone() }
    }
}

/// A problem with one row of a bulk request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RowError {
    /// JSON bulk: the 0-based index in `contacts`. CSV: the line number in the file (the header is line 1).
    pub row: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub code: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    Invalid { status: StatusCode, code: &'static str, message: String, field: Option<String> },
    #[error("{message}")]
    InvalidRows { message: String, rows: Vec<RowError> },
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 409 `campaign_not_ready`, listing what is missing or invalid.
    #[error("{message}")]
    NotReady { message: String, problems: Vec<ProblemBody> },
    #[error("{message}")]
    Unauthorized { code: &'static str, message: &'static str },
    #[error("this API key lacks the `{0}` scope")]
    Forbidden(&'static str),
    /// 413; `limit` is named when the route knows it.
    #[error("{}", too_large_message(*limit))]
    TooLarge { limit: Option<u64> },
    /// 502: the WhatsApp Cloud API failed or refused. `message` says what Meta
    /// answered (never a token); `cause` is logged like a 500's.
    #[error("{message}")]
    Cloud { message: String, cause: anyhow::Error },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

fn too_large_message(limit: Option<u64>) -> String {
    match limit {
        Some(limit) => format!("the request body is larger than {limit} bytes"),
        None => "the request body is too large for this endpoint".to_owned(),
    }
}

impl ApiError {
    /// 422 for a value that parsed but is not acceptable.
    pub fn invalid(code: &'static str, message: impl Into<String>, field: impl Into<Option<String>>) -> Self {
        Self::Invalid { status: StatusCode::UNPROCESSABLE_ENTITY, code, message: message.into(), field: field.into() }
    }

    /// 400 for a request that cannot be read at all.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { status: StatusCode::BAD_REQUEST, code, message: message.into(), field: None }
    }

    pub fn domain(err: &domain::DomainError, field: impl Into<String>) -> Self {
        Self::invalid(err.code(), err.to_string(), Some(field.into()))
    }

    /// The status, stable code and readable message a client is shown (the
    /// console shows the same as the API answers).
    pub fn describe(&self) -> (StatusCode, String, String) {
        let (status, detail) = self.status_and_detail();
        (status, detail.code, detail.message)
    }

    fn status_and_detail(&self) -> (StatusCode, ErrorDetail) {
        let detail = |code: &str, field: Option<String>, details: Vec<RowError>| ErrorDetail {
            code: code.to_owned(),
            message: self.to_string(),
            field,
            details,
            problems: vec![],
        };
        match self {
            Self::Invalid { status, code, field, .. } => (*status, detail(code, field.clone(), vec![])),
            Self::InvalidRows { rows, .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, detail("invalid_rows", None, rows.clone()))
            }
            Self::NotFound { .. } => (StatusCode::NOT_FOUND, detail("not_found", None, vec![])),
            Self::Conflict { code, .. } => (StatusCode::CONFLICT, detail(code, None, vec![])),
            Self::NotReady { problems, .. } => (
                StatusCode::CONFLICT,
                ErrorDetail { problems: problems.clone(), ..detail("campaign_not_ready", None, vec![]) },
            ),
            Self::Unauthorized { code, .. } => (StatusCode::UNAUTHORIZED, detail(code, None, vec![])),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, detail("missing_scope", None, vec![])),
            Self::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, detail("payload_too_large", None, vec![])),
            Self::Cloud { .. } => (StatusCode::BAD_GATEWAY, detail("cloud_api_error", None, vec![])),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorDetail {
                    code: "internal".into(),
                    message: "internal error; the server log has the details".into(),
                    field: None,
                    details: vec![],
                    problems: vec![],
                },
            ),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    /// Database refusals a client can act on become 4xx; the rest are 500s.
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            match (db.code().as_deref(), db.constraint()) {
                (_, Some("contacts_tags_limit")) => {
                    return Self::invalid("too_many_tags", "a contact would carry more than 100 tags", None);
                }
                (_, Some("contacts_valued_tags_limit")) => {
                    return Self::invalid(
                        "too_many_valued_tags",
                        "a contact would carry more than 50 valued tags",
                        None,
                    );
                }
                // Text Postgres cannot store (a NUL): the extractors refuse it first,
                // so this is the safety net for a path that forgot.
                (Some("22021" | "22P05"), _) => {
                    return Self::invalid(
                        "invalid_text",
                        "a text value contains a character that cannot be stored (such as NUL)",
                        None,
                    );
                }
                // Deadlock or serialization failure: nothing was written, a retry is safe.
                (Some("40P01" | "40001"), _) => {
                    return Self::Conflict {
                        code: "concurrent_update",
                        message: "another request changed the same contacts at the same time; nothing was written, \
                                  retry the request"
                            .into(),
                    };
                }
                _ => {}
            }
        }
        Self::Internal(e.into())
    }
}

/// A 5xx cause, carried to [`log_server_errors`] in the response extensions.
#[derive(Clone)]
struct ServerErrorReport(Arc<anyhow::Error>);

/// A refusal's stable code, carried to [`log_server_errors`].
#[derive(Clone)]
struct Refusal(String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error) = self.status_and_detail();
        let code = error.code.clone();
        let mut response = (status, Json(ErrorBody { error })).into_response();
        // Only API-key refusals: a webhook's 401 (bad signature) is not about a bearer key.
        if matches!(self, Self::Unauthorized { .. }) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        match self {
            Self::Internal(e) | Self::Cloud { cause: e, .. } => {
                response.extensions_mut().insert(ServerErrorReport(Arc::new(e)));
            }
            _ => {
                response.extensions_mut().insert(Refusal(code));
            }
        }
        response
    }
}

/// Middleware: logs each answered error once, where the request span is
/// known: a 5xx at `error` with its cause chain (as text: no backtrace, even
/// with `RUST_BACKTRACE` set), a refusal at `info` with its status and code,
/// one line each.
pub async fn log_server_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(ServerErrorReport(e)) = response.extensions().get::<ServerErrorReport>() {
        tracing::error!(error.cause_chain = %format!("{e:#}"), "request failed");
    } else if let Some(Refusal(code)) = response.extensions().get::<Refusal>() {
        tracing::info!(status = response.status().as_u16(), code = %code, "request refused");
    }
    response
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => Self::invalid("invalid_body", e.body_text(), None),
            JsonRejection::JsonSyntaxError(e) => Self::bad_request("malformed_json", e.body_text()),
            JsonRejection::MissingJsonContentType(_) => Self::Invalid {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code: "unsupported_media_type",
                message: "expected `Content-Type: application/json`".into(),
                field: None,
            },
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::TooLarge { limit: None },
            other => Self::bad_request("unreadable_body", other.body_text()),
        }
    }
}
