//! Settings: the organization's numbers (as Meta verified them, tier and
//! quality), templates (with Sync), bot flows, opt-out keywords, and for
//! admins its accounts and API keys.

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
    pages::{Frame, maybe_when, render, when},
    session::{self, Rejection, Signed},
};
use crate::{routes::templates::sync, state::AppState};

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
struct KeyRow {
    name: String,
    prefix: String,
    scopes: String,
    created_at: String,
    last_used_at: String,
    state: String,
}

#[derive(Template)]
#[template(path = "console/settings.html")]
struct SettingsPage {
    frame: Frame,
    numbers: Vec<NumberRow>,
    templates: Vec<TemplateRow>,
    flows: Vec<(String, String)>,
    keywords: String,
    accounts: Vec<(String, String, String)>,
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
            tier: n.messaging_tier.unwrap_or_else(|| "unknown".into()),
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
                    Some(at) => format!("{} (no longer listed by Meta since {})", t.status, when(at)),
                    None => t.status.clone(),
                },
                name: t.name,
                language: t.language,
                category: t.category.unwrap_or_else(|| "—".into()),
                placeholders: if params.is_empty() { "none".into() } else { params.join(", ") },
                header: t.header_format.unwrap_or_else(|| "none".into()),
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
            .map(|o| {
                let state = if o.disabled_at.is_some() { "Disabled" } else { "Active" };
                (o.email, o.role, state.to_owned())
            })
            .collect();
        let keys = api_keys::list(&state.pg, org)
            .await?
            .into_iter()
            .map(|k| KeyRow {
                name: k.name,
                prefix: k.prefix,
                scopes: k.scopes.join(", "),
                created_at: when(&k.created_at),
                last_used_at: maybe_when(&k.last_used_at),
                state: match &k.revoked_at {
                    Some(at) => format!("Revoked {}", when(at)),
                    None => "Active".into(),
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
        accounts,
        keys,
    };
    Ok((jar, render(&page)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// "Sync templates": reads every template of the organization's WABAs from Meta.
pub async fn sync_templates(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Rejection> {
    signed.check_csrf(&form.csrf)?;
    let text = match sync::sync_org(&state, signed.org(), None).await {
        Ok(report) => {
            let (added, updated, unchanged, missing) = report
                .wabas
                .iter()
                .fold((0, 0, 0, 0), |t, w| (t.0 + w.added, t.1 + w.updated, t.2 + w.unchanged, t.3 + w.missing.len()));
            format!(
                "Templates synced from Meta: {added} new, {updated} changed, {unchanged} unchanged, {missing} no longer listed."
            )
        }
        Err(e) => session::refusal(e)?,
    };
    Ok(session::redirect_with_notice(jar, &headers, &text, "/console/settings#templates"))
}
