//! Extractors whose rejections use the API's error body, and which check
//! every text they let through ([`crate::text`]): a JSON string, a query
//! value or a path segment holding a NUL, another control character or a
//! bidirectional override is a 422 naming it, before any handler runs.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, RawPathParams, Request, rejection::PathRejection},
    http::{StatusCode, request::Parts},
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{error::ApiError, text};

/// A JSON body (`Content-Type: application/json`), with our error body on
/// rejection; a value that does not fit `T` names its field.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<Value>::from_request(req, state).await?;
        typed(value).map(Self)
    }
}

/// Checks the text of a parsed body, then reads it as `T`.
fn typed<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    text::check_json(&value)?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = (path != ".").then_some(path);
        let message = match &field {
            Some(field) => format!("{field}: {}", e.inner()),
            None => e.inner().to_string(),
        };
        ApiError::invalid("invalid_body", message, field)
    })
}

/// `axum::extract::Path` with our error body on rejection; every segment's
/// text is checked first.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Ok(raw) = RawPathParams::from_request_parts(parts, state).await {
            for (name, value) in &raw {
                text::check(value, name)?;
            }
        }
        let axum::extract::Path(value) = axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request("invalid_path", rejection.body_text())
    }
}

/// The longest value a query parameter may have: every one the API takes
/// (a tag, a name, a cursor) is far shorter.
pub const MAX_QUERY_VALUE: usize = 2_048;

/// Query strings with repeated keys (`?tag=a&tag=b`), with our error body;
/// every key and value is checked first.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        for (key, value) in url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes()) {
            text::check(&key, "query")?;
            text::check(&value, &key)?;
            if value.chars().count() > MAX_QUERY_VALUE {
                return Err(ApiError::invalid(
                    "too_long",
                    format!("query parameter {key} is longer than {MAX_QUERY_VALUE} characters"),
                    Some(key.into_owned()),
                ));
            }
        }
        axum_extra::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

/// A JSON body that may be left out: an empty body gives `T::default()`.
/// Errors are those of [`ApiJson`].
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge { limit: None }
            } else {
                ApiError::bad_request("unreadable_body", e.body_text())
            }
        })?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        let value: Value =
            serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("malformed_json", e.to_string()))?;
        typed(value).map(Self)
    }
}
