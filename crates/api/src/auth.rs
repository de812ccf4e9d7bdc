//! Bearer API keys: `Authorization: Bearer wce_...`.

use axum::{extract::FromRequestParts, http::request::Parts};
use store::api_keys::{self, Caller, KeyRejection};

use crate::{error::ApiError, state::AppState};

/// The authenticated caller of a request. Every tenant route takes one.
#[derive(Debug, Clone)]
pub struct Auth(pub Caller);

impl Auth {
    pub fn org(&self) -> store::OrgId {
        self.0.org
    }

    /// Refuses the request with 403 unless the key has `scope`.
    pub fn require(&self, scope: &'static str) -> Result<(), ApiError> {
        if self.0.has_scope(scope) { Ok(()) } else { Err(ApiError::Forbidden(scope)) }
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Err(ApiError::Unauthorized {
                code: "missing_api_key",
                message: "send an API key as `Authorization: Bearer <key>`",
            });
        };
        // The scheme is case-insensitive (RFC 7235).
        let bearer =
            value.to_str().ok().and_then(|v| v.split_once(' ')).filter(|(s, _)| s.eq_ignore_ascii_case("bearer"));
        let Some(secret) = bearer.map(|(_, key)| key.trim()) else {
            return Err(ApiError::Unauthorized {
                code: "malformed_authorization",
                message: "the Authorization header must be `Bearer <key>`",
            });
        };
        match api_keys::authenticate(&state.pg, secret).await? {
            Ok(caller) => Ok(Self(caller)),
            Err(KeyRejection::Unknown) => {
                Err(ApiError::Unauthorized { code: "invalid_api_key", message: "this API key is not valid" })
            }
            Err(KeyRejection::Revoked) => {
                Err(ApiError::Unauthorized { code: "revoked_api_key", message: "this API key has been revoked" })
            }
        }
    }
}
