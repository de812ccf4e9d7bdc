//! Signing in and out. Failed sign-ins are throttled per email and per
//! client address; a wrong email and a wrong password read the same.

use std::net::SocketAddr;

use askama::Template;
use axum::{
    Extension, Form,
    extract::{ConnectInfo, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use store::operators;
use subtle::ConstantTimeEq;

use super::{
    assets,
    i18n::{self, Lang},
    pages::{error_page, render},
    session::{self, Rejection, SESSION_COOKIE, SIGN_IN_COOKIE, Signed},
};
use crate::{error::ApiError, state::AppState};

/// Failed sign-ins counted over this many minutes.
const THROTTLE_MINUTES: i32 = 15;
/// Most failed sign-ins per email in the window.
const MAX_FAILURES_PER_EMAIL: i64 = 5;
/// Most failed sign-ins per client address in the window.
const MAX_FAILURES_PER_CLIENT: i64 = 20;

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    css: String,
    token: String,
    next: String,
    email: String,
    error: Option<String>,
    notice: Option<String>,
    lang: Lang,
}

#[derive(Debug, Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// Only a path of the console is a place to come back to.
fn safe_next(next: Option<&str>) -> String {
    next.filter(|n| n.starts_with("/console/") && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or("/console/campaigns")
        .to_owned()
}

fn page(jar: CookieJar, headers: &HeaderMap, next: String, email: String, error: Option<String>) -> Response {
    let token = operators::random_token();
    let jar = jar.add(session::cookie(SIGN_IN_COOKIE, token.clone(), session::https(headers)));
    let (jar, notice) = session::take_notice(jar);
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let mut response =
        render(&SignInPage { css: assets::url("console"), token, next, email, error, notice, lang: i18n::lang() });
    *response.status_mut() = status;
    (jar, response).into_response()
}

pub async fn form(jar: CookieJar, headers: HeaderMap, Query(q): Query<Next>) -> Response {
    page(jar, &headers, safe_next(q.next.as_deref()), String::new(), None)
}

#[derive(Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
    token: String,
    next: Option<String>,
}

impl std::fmt::Debug for SignInForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInForm").field("email", &self.email).finish_non_exhaustive()
    }
}

pub async fn submit(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<SignInForm>,
) -> Result<Response, Rejection> {
    let next = safe_next(form.next.as_deref());
    let expected = jar.get(SIGN_IN_COOKIE).map(|c| c.value().to_owned()).unwrap_or_default();
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(form.token.as_bytes())) {
        return Err(Rejection::Csrf);
    }
    let email = form.email.trim().to_lowercase();
    if crate::text::check_line(&email, "email").is_err() || crate::text::check_line(&form.password, "password").is_err()
    {
        return Ok(page(jar, &headers, next, String::new(), Some(i18n::t("sign-in-unusable-characters"))));
    }
    let client = peer.map_or_else(|| "unknown".to_owned(), |Extension(ConnectInfo(addr))| addr.ip().to_string());
    let (by_email, by_client) = operators::recent_failures(&state.pg, &email, &client, THROTTLE_MINUTES).await?;
    if by_email >= MAX_FAILURES_PER_EMAIL || by_client >= MAX_FAILURES_PER_CLIENT {
        tracing::warn!("console sign-in throttled");
        return Ok(error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_sign_in_attempts",
            &i18n::lang().t1("sign-in-throttled", "minutes", THROTTLE_MINUTES),
        ));
    }
    let account = operators::credentials(&state.pg, &email).await?;
    let password = form.password;
    let phc = account.as_ref().map(|a| a.password_hash.clone());
    // Verified even for an unknown email (against a fixed hash), so both take as long.
    let matches = tokio::task::spawn_blocking(move || {
        let phc = phc.unwrap_or_else(|| DUMMY_HASH.clone());
        operators::verify_password(&password, &phc)
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    let account = match account {
        Some(a) if matches && !a.disabled => a,
        _ => {
            operators::record_failure(&state.pg, &email, &client, THROTTLE_MINUTES).await?;
            tracing::info!("console sign-in refused");
            return Ok(page(jar, &headers, next, email, Some(i18n::t("sign-in-refused"))));
        }
    };
    operators::clear_failures(&state.pg, &email).await?;
    let new = operators::start_session(&state.pg, account.id).await?;
    tracing::info!(operator.id = account.id, "console sign-in");
    let secure = session::https(&headers);
    let jar = jar.add(session::cookie(SESSION_COOKIE, new.token, secure)).add(session::removal(SIGN_IN_COOKIE));
    Ok((jar, Redirect::to(&next)).into_response())
}

/// A well-formed Argon2id hash of a random password, for unknown emails.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| operators::hash_password(&operators::generate_password()));

pub async fn sign_out(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    headers: HeaderMap,
    Form(form): Form<session::CsrfForm>,
) -> Result<Response, Rejection> {
    signed.check_csrf(&form.csrf)?;
    operators::end_session(&state.pg, &signed.token).await?;
    let jar =
        session::notice(jar.add(session::removal(SESSION_COOKIE)), &i18n::t("signed-out"), session::https(&headers));
    Ok((jar, Redirect::to("/console/sign-in")).into_response())
}

pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    headers: HeaderMap,
    Form(form): Form<session::CsrfForm>,
) -> Result<Response, Rejection> {
    signed.check_csrf(&form.csrf)?;
    let ended = operators::end_all_sessions(&state.pg, signed.session.operator_id).await?;
    tracing::info!(operator.id = signed.session.operator_id, sessions = ended, "console signed out everywhere");
    let jar = session::notice(
        jar.add(session::removal(SESSION_COOKIE)),
        &i18n::lang().t1("signed-out-everywhere", "count", ended),
        session::https(&headers),
    );
    Ok((jar, Redirect::to("/console/sign-in")).into_response())
}
