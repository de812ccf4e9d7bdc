//! Settings: the account's language, the organization's numbers (as Meta
//! verified them, tier and quality), templates (with Sync), bot flows,
//! opt-out keywords, and for admins its accounts and API keys (managed in
//! [`super::accounts`]).

use askama::Template;
use axum::{
    Form,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use store::{api_keys, bot_flows, numbers, operators, orgs, templates};

use super::{
    i18n::{self, Lang},
    pages::{Frame, maybe_when, render, when},
    session::{self, Rejection, Signed},
};
use crate::{error::ApiError, routes::templates::sync, state::AppState};

#[derive(Debug)]
struct NumberRow {
    display: String,
    name: String,
    tier: String,
    quality: String,
    throughput: i32,
    verified_at: String,
}

#[derive(Debug)]
struct TemplateRow {
    name: String,
    language: String,
    status: String,
    category: String,
    placeholders: String,
    header: String,
    usable: bool,
}

#[derive(Debug)]
struct AccountRow {
    id: i64,
    email: String,
    role: String,
    disabled: bool,
    /// The signed-in operator's own account (not disabled from here).
    own: bool,
}

#[derive(Debug)]
struct KeyRow {
    id: i64,
    name: String,
    prefix: String,
    scopes: String,
    created_at: String,
    last_used_at: String,
    state: String,
    revoked: bool,
}

#[derive(Template)]
#[template(path = "console/settings.html")]
struct SettingsPage {
    frame: Frame,
    numbers: Vec<NumberRow>,
    templates: Vec<TemplateRow>,
    flows: Vec<(String, String)>,
    keywords: String,
    /// The account's language choice: `""` (the browser's), `en` or `es`.
    locale: String,
    languages: Vec<(&'static str, &'static str)>,
    accounts: Vec<AccountRow>,
    keys: Vec<KeyRow>,
}

pub async fn page(State(state): State<AppState>, signed: Signed, jar: CookieJar) -> Result<Response, Rejection> {
    let org = signed.org();
    let numbers = numbers::list(&state.pg, org)
        .await?
        .into_iter()
        .map(|n| NumberRow {
            display: n.display_number,
            name: n.verified_name.unwrap_or_else(|| "—".into()),
            tier: n.messaging_tier.unwrap_or_else(|| i18n::t("settings-unknown")),
            quality: n.quality_rating.unwrap_or_else(|| "UNKNOWN".into()),
            throughput: n.throughput_per_sec,
            verified_at: maybe_when(&n.verified_at),
        })
        .collect();
    let templates = templates::list(&state.pg, org, &templates::TemplateFilter::default())
        .await?
        .into_iter()
        .map(|t| {
            let mut params: Vec<String> = t.header_params.iter().map(|p| format!("header {{{{{p}}}}}")).collect();
            params.extend(t.body_params.iter().map(|p| format!("{{{{{p}}}}}")));
            TemplateRow {
                status: match &t.missing_since {
                    Some(at) => i18n::lang().t2("settings-template-missing", "status", &t.status, "since", when(at)),
                    None => t.status.clone(),
                },
                name: t.name,
                language: t.language,
                category: t.category.unwrap_or_else(|| "—".into()),
                placeholders: if params.is_empty() { i18n::t("settings-none") } else { params.join(", ") },
                header: t.header_format.unwrap_or_else(|| i18n::t("settings-none")),
                usable: t.usable,
            }
        })
        .collect();
    let flows = bot_flows::list(&state.pg, org)
        .await?
        .into_iter()
        .map(|f| {
            // The host only: a path may carry a token of the bot's.
            let host = url::Url::parse(&f.endpoint_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| "—".into());
            (f.name, host)
        })
        .collect();
    let keywords = orgs::settings(&state.pg, org).await?.map(|s| s.opt_out_keywords.join(", ")).unwrap_or_default();
    let (accounts, keys) = if signed.is_admin() {
        let accounts = operators::list(&state.pg, org)
            .await?
            .into_iter()
            .map(|o| AccountRow {
                own: o.id == signed.session.operator_id,
                id: o.id,
                email: o.email,
                role: o.role,
                disabled: o.disabled_at.is_some(),
            })
            .collect();
        let keys = api_keys::list(&state.pg, org)
            .await?
            .into_iter()
            .map(|k| KeyRow {
                id: k.id,
                revoked: k.revoked_at.is_some(),
                name: k.name,
                prefix: k.prefix,
                scopes: k.scopes.join(", "),
                created_at: when(&k.created_at),
                last_used_at: maybe_when(&k.last_used_at),
                state: match &k.revoked_at {
                    Some(at) => i18n::lang().t1("settings-key-revoked-at", "at", when(at)),
                    None => i18n::t("settings-active"),
                },
            })
            .collect();
        (accounts, keys)
    } else {
        (vec![], vec![])
    };
    let (jar, notice) = session::take_notice(jar);
    let page = SettingsPage {
        frame: Frame::new(&signed, "settings", notice),
        numbers,
        templates,
        flows,
        keywords,
        locale: signed.session.locale.clone().unwrap_or_default(),
        languages: Lang::ALL.iter().map(|l| (l.code(), l.autonym())).collect(),
        accounts,
        keys,
    };
    Ok((jar, render(&page)).into_response())
}

/// "Sync templates": reads every template of the organization's WABAs from Meta.
pub async fn sync_templates(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    headers: HeaderMap,
    Form(form): Form<session::CsrfForm>,
) -> Result<Response, Rejection> {
    signed.check_csrf(&form.csrf)?;
    let text = match sync::sync_org(&state, signed.org(), None).await {
        Ok(report) => {
            let (added, updated, unchanged, missing) = report
                .wabas
                .iter()
                .fold((0, 0, 0, 0), |t, w| (t.0 + w.added, t.1 + w.updated, t.2 + w.unchanged, t.3 + w.missing.len()));
            i18n::lang().args(
                "settings-templates-synced",
                &[
                    ("added", added.to_string()),
                    ("updated", updated.to_string()),
                    ("unchanged", unchanged.to_string()),
                    ("missing", missing.to_string()),
                ],
            )
        }
        Err(e) => session::refusal(e)?,
    };
    Ok(session::redirect_with_notice(jar, &headers, &text, "/console/settings#templates"))
}

#[derive(Debug, Deserialize)]
pub struct LanguageForm {
    csrf: String,
    /// `en`, `es`, or empty for the browser's language.
    locale: String,
}

/// The account's language: one the console speaks, or the browser's.
pub async fn set_language(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    headers: HeaderMap,
    Form(form): Form<LanguageForm>,
) -> Result<Response, Rejection> {
    signed.check_csrf(&form.csrf)?;
    let locale = match form.locale.as_str() {
        "" => None,
        code => Some(Lang::parse(code).ok_or_else(|| {
            ApiError::invalid("invalid_locale", "the language must be en, es or empty", Some("locale".into()))
        })?),
    };
    operators::set_locale(&state.pg, signed.session.operator_id, locale.map(Lang::code)).await?;
    // The notice is in the language chosen.
    i18n::set(Lang::of(locale.map(Lang::code), &headers));
    Ok(session::redirect_with_notice(jar, &headers, &i18n::t("settings-language-saved"), "/console/settings#language"))
}
