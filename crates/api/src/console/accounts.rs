//! What an admin manages in Settings: the organization's console accounts
//! (create one with a one-time password, disable or enable it) and its API
//! keys (create one, shown once; revoke). Refusals are error pages with
//! their stable code (422 for a bad field, 409 for a conflict).

use askama::Template;
use axum::{
    Form,
    extract::{Path, State},
    http::HeaderMap,
    response::Response,
};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use store::{
    api_keys::{self, SCOPE_ADMIN},
    operators::{self, Disable, Role},
};

use super::{
    i18n,
    pages::{Frame, render},
    session::{self, Rejection, Signed},
};
use crate::{error::ApiError, state::AppState};

/// A secret shown once, right after it was made (never stored in clear,
/// never put in a cookie or a URL).
#[derive(Template)]
#[template(path = "console/secret.html")]
struct SecretPage {
    frame: Frame,
    title: String,
    what: String,
    secret: String,
    back: &'static str,
}

fn shown_once(signed: &Signed, title: String, what: String, secret: String, back: &'static str) -> Response {
    // Like every console page it is sent `no-store` (`security_headers`): never kept by the browser.
    render(&SecretPage { frame: Frame::new(signed, "settings", None), title, what, secret, back })
}

#[derive(Deserialize)]
pub struct NewAccount {
    csrf: String,
    email: String,
    role: String,
}

/// Creates an account of the organization with a random password, shown once.
pub async fn create_account(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<NewAccount>,
) -> Result<Response, Rejection> {
    signed.check_csrf(&form.csrf)?;
    signed.require_admin()?;
    let email = operators::parse_email(&form.email)
        .map_err(|e| ApiError::invalid("invalid_email", format!("email must be {e}"), Some("email".into())))?;
    let role = Role::parse(&form.role)
        .ok_or_else(|| ApiError::invalid("invalid_role", "role must be admin or operator", Some("role".into())))?;
    let password = operators::generate_password();
    let hash = {
        let password = password.clone();
        tokio::task::spawn_blocking(move || operators::hash_password(&password))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?
    };
    match operators::create(&state.pg, signed.org(), &email, role, &hash).await {
        Ok(_) => Ok(shown_once(
            &signed,
            i18n::t("accounts-created-title"),
            i18n::lang().t1("accounts-created-text", "email", &email),
            password,
            "/console/settings#accounts",
        )),
        Err(operators::CreateError::EmailTaken) => Err(ApiError::Conflict {
            code: "email_taken",
            message: format!("an account with the email {email} already exists"),
        }
        .into()),
        Err(operators::CreateError::Db(e)) => Err(e.into()),
    }
}

/// Disables or enables an account (`/console/accounts/{account}/{disable|enable}`).
pub async fn set_account(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    headers: HeaderMap,
    Path((account, action)): Path<(i64, String)>,
    Form(form): Form<session::CsrfForm>,
) -> Result<Response, Rejection> {
    let disabled = match action.as_str() {
        "disable" => true,
        "enable" => false,
        _ => return Err(ApiError::NotFound { what: "route" }.into()),
    };
    signed.check_csrf(&form.csrf)?;
    signed.require_admin()?;
    if disabled && account == signed.session.operator_id {
        return Err(ApiError::Conflict {
            code: "own_account",
            message: "you cannot disable your own account; another admin can".into(),
        }
        .into());
    }
    let text = match operators::set_disabled(&state.pg, signed.org(), account, disabled).await? {
        Disable::Done if disabled => i18n::t("accounts-disabled"),
        Disable::Done => i18n::t("accounts-enabled"),
        Disable::NotFound => return Err(ApiError::NotFound { what: "account" }.into()),
        Disable::LastAdmin => {
            return Err(ApiError::Conflict {
                code: "last_admin",
                message: "this is the organization's last active admin; make another account admin first".into(),
            }
            .into());
        }
    };
    Ok(session::redirect_with_notice(jar, &headers, &text, "/console/settings#accounts"))
}

#[derive(Deserialize)]
pub struct NewKey {
    csrf: String,
    name: String,
    /// The checkbox "may manage keys and accounts" (`admin` scope).
    admin: Option<String>,
}

/// Creates an API key of the organization, shown once.
pub async fn create_key(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<NewKey>,
) -> Result<Response, Rejection> {
    signed.check_csrf(&form.csrf)?;
    signed.require_admin()?;
    let name = crate::routes::check_name(&form.name)?;
    let scopes = if form.admin.is_some() { vec![SCOPE_ADMIN.to_owned()] } else { vec![] };
    let new = api_keys::create(&state.pg, signed.org(), name, &scopes).await?;
    Ok(shown_once(
        &signed,
        i18n::t("keys-created-title"),
        i18n::lang().t1("keys-created-text", "name", &new.key.name),
        new.secret,
        "/console/settings#api-keys",
    ))
}

/// Revokes an API key at once (`/console/api-keys/{key}/revoke`).
pub async fn revoke_key(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    headers: HeaderMap,
    Path(key): Path<i64>,
    Form(form): Form<session::CsrfForm>,
) -> Result<Response, Rejection> {
    signed.check_csrf(&form.csrf)?;
    signed.require_admin()?;
    let revoked = crate::routes::api_keys::revoke_key(&state, signed.org(), key).await?;
    let text = i18n::lang().t1("keys-revoked", "name", &revoked.name);
    Ok(session::redirect_with_notice(jar, &headers, &text, "/console/settings#api-keys"))
}
