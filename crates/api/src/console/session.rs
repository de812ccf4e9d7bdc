//! Who is signed in: the session cookie, the CSRF token every form carries,
//! and the one-shot notice a redirect leaves for the next page.

use axum::{
    extract::{FromRequestParts, OriginalUri},
    http::{HeaderMap, request::Parts},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use store::operators::{self, Role, Session};
use subtle::ConstantTimeEq;

use crate::{error::ApiError, state::AppState};

/// The session cookie: a random token, HttpOnly, SameSite=Lax, Secure
/// when the console is reached over HTTPS.
pub const SESSION_COOKIE: &str = "wce_session";
/// Set by the sign-in page, echoed by its form (a sign-in cannot be forged
/// from another site either).
pub const SIGN_IN_COOKIE: &str = "wce_sign_in";
/// A notice for the next page a redirect leads to (percent-encoded text,
/// removed by the page that shows it).
const NOTICE_COOKIE: &str = "wce_notice";

/// Whether the browser reached us over HTTPS (directly or through a proxy
/// that says so): the cookies are then `Secure`.
pub fn https(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

pub fn cookie(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((name, value)).path("/console").http_only(true).same_site(SameSite::Lax).secure(secure).build()
}

/// Removes a cookie set by [`cookie`].
pub fn removal(name: &'static str) -> Cookie<'static> {
    let mut gone = Cookie::build((name, "")).path("/console").build();
    gone.make_removal();
    gone
}

/// A signed-in operator. Pages take one; without a live session the
/// browser is sent to the sign-in page (and back here after it).
#[derive(Debug, Clone)]
pub struct Signed {
    pub session: Session,
    pub token: String,
}

impl Signed {
    pub fn org(&self) -> store::OrgId {
        self.session.org
    }

    pub fn is_admin(&self) -> bool {
        self.session.role == Role::Admin
    }

    /// Refuses (403 `admin_only`) an operator who is not an admin of the organization.
    pub fn require_admin(&self) -> Result<(), Rejection> {
        if self.is_admin() {
            return Ok(());
        }
        Err(Rejection::Failed(ApiError::Invalid {
            status: axum::http::StatusCode::FORBIDDEN,
            code: "admin_only",
            message: "only an admin of the organization can do this".into(),
            field: None,
        }))
    }

    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, presented: &str) -> Result<(), Rejection> {
        if bool::from(presented.as_bytes().ct_eq(self.session.csrf_token.as_bytes())) {
            Ok(())
        } else {
            Err(Rejection::Csrf)
        }
    }
}

/// Why a console request did not reach its page.
#[derive(Debug)]
pub enum Rejection {
    /// Not signed in: to the sign-in page, then back to `next`.
    SignIn {
        next: String,
    },
    /// A form without this session's CSRF token (403).
    Csrf,
    Failed(ApiError),
}

impl From<ApiError> for Rejection {
    fn from(e: ApiError) -> Self {
        Self::Failed(e)
    }
}

impl From<sqlx::Error> for Rejection {
    fn from(e: sqlx::Error) -> Self {
        Self::Failed(e.into())
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn { next } => {
                let next = url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>();
                Redirect::to(&format!("/console/sign-in?next={next}")).into_response()
            }
            Self::Csrf => super::pages::error_page(
                axum::http::StatusCode::FORBIDDEN,
                "csrf_token_mismatch",
                &super::i18n::t("csrf-refused"),
            ),
            Self::Failed(e) => {
                let (status, code, message) = e.describe();
                let page = super::pages::error_page(status, &code, &message);
                if let ApiError::Internal(_) = e {
                    // Logged like the API's 500s, by `log_server_errors`.
                    let mut logged = e.into_response();
                    *logged.body_mut() = page.into_body();
                    logged.headers_mut().insert(
                        axum::http::header::CONTENT_TYPE,
                        axum::http::HeaderValue::from_static("text/html; charset=utf-8"),
                    );
                    return logged;
                }
                page
            }
        }
    }
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let next = parts.extensions.get::<OriginalUri>().map_or_else(|| parts.uri.to_string(), |uri| uri.0.to_string());
        // Only a GET comes back to where it was; a form post goes to the list.
        let next = if parts.method == axum::http::Method::GET { next } else { "/console/campaigns".to_owned() };
        let Some(token) = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
            return Err(Rejection::SignIn { next });
        };
        match operators::session(&state.pg, &token).await? {
            Some(session) => {
                super::i18n::set(super::i18n::Lang::of(session.locale.as_deref(), &parts.headers));
                Ok(Self { session, token })
            }
            None => Err(Rejection::SignIn { next }),
        }
    }
}

/// A form that carries only the session's CSRF token (an action button).
#[derive(Debug, serde::Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

/// The notice of an action the API code refused ("Not done: … (code)");
/// a server error is an error page instead.
pub fn refusal(e: ApiError) -> Result<String, Rejection> {
    if let ApiError::Internal(_) = e {
        return Err(Rejection::Failed(e));
    }
    let (_, code, message) = e.describe();
    Ok(super::i18n::lang().t2("not-done", "message", message, "code", code))
}

/// Leaves `text` for the next page the browser shows.
pub fn notice(jar: CookieJar, text: &str, secure: bool) -> CookieJar {
    let encoded = url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    jar.add(cookie(NOTICE_COOKIE, encoded, secure))
}

/// A redirect to `to` that leaves `text` for the page it leads to: how
/// every console action answers.
pub fn redirect_with_notice(jar: CookieJar, headers: &HeaderMap, text: &str, to: &str) -> Response {
    (notice(jar, text, https(headers)), Redirect::to(to)).into_response()
}

/// A multipart form (file uploads) that could not be read.
pub fn unreadable_form(e: axum::extract::multipart::MultipartError) -> Rejection {
    Rejection::Failed(ApiError::bad_request("unreadable_body", format!("the form could not be read: {e}")))
}

/// The notice a redirect left, taken (the next page will not show it again).
pub fn take_notice(jar: CookieJar) -> (CookieJar, Option<String>) {
    let text = jar.get(NOTICE_COOKIE).map(|c| {
        url::form_urlencoded::parse(format!("n={}", c.value()).as_bytes()).map(|(_, v)| v.into_owned()).collect()
    });
    match text {
        Some(text) => (jar.add(removal(NOTICE_COOKIE)), Some(text)),
        None => (jar, None),
    }
}
