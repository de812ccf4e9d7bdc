//! What every page shares: the frame (who is signed in, the CSRF token, the
//! assets), rendering, the error page, and how times and states read.

use askama::Template;
use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use store::campaigns::CampaignRecord;

use super::{
    assets,
    i18n::{self, Lang},
    session::Signed,
};

/// The page frame's data.
#[derive(Debug, Clone)]
pub struct Frame {
    pub email: String,
    pub admin: bool,
    pub csrf: String,
    /// The navigation entry of this page (`campaigns`, ...).
    pub section: &'static str,
    /// What the last action said (a redirect's notice).
    pub notice: Option<String>,
    pub css: String,
    pub confirm_js: String,
    /// The page's language.
    pub lang: Lang,
}

impl Frame {
    pub fn new(signed: &Signed, section: &'static str, notice: Option<String>) -> Self {
        Self {
            email: signed.session.email.clone(),
            admin: signed.is_admin(),
            csrf: signed.session.csrf_token.clone(),
            section,
            notice,
            css: assets::url("console"),
            confirm_js: assets::url("confirm"),
            lang: i18n::lang(),
        }
    }

    /// The text of `key` in the page's language.
    pub fn t(&self, key: &str) -> String {
        self.lang.t(key)
    }

    /// The text of `key` with one argument.
    pub fn t1(&self, key: &str, name: &'static str, value: impl std::fmt::Display) -> String {
        self.lang.t1(key, name, value)
    }

    /// The text of `key` with two arguments.
    pub fn t2(
        &self,
        key: &str,
        a: &'static str,
        va: impl std::fmt::Display,
        b: &'static str,
        vb: impl std::fmt::Display,
    ) -> String {
        self.lang.t2(key, a, va, b, vb)
    }
}

/// Renders a page; a template that fails to render is a 500.
pub fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console page failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    code: &'a str,
    message: &'a str,
    status: u16,
    css: String,
    lang: Lang,
}

/// A page that says what went wrong, with its stable code.
pub fn error_page(status: StatusCode, code: &str, message: &str) -> Response {
    let mut response =
        render(&ErrorPage { code, message, status: status.as_u16(), css: assets::url("console"), lang: i18n::lang() });
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response
}

/// A time as the console shows it: to the second, with its time zone.
pub fn when(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// An optional time, or a dash.
pub fn maybe_when(at: &Option<DateTime<Utc>>) -> String {
    at.as_ref().map_or_else(|| "—".to_owned(), when)
}

/// The state badge of a campaign: its words (never only a colour) and the
/// class that colours it.
#[derive(Debug, Clone)]
pub struct Badge {
    pub label: String,
    pub class: &'static str,
}

pub fn badge(record: &CampaignRecord) -> Badge {
    use domain::campaign::Lifecycle;
    let (label, class) = match record.lifecycle() {
        Lifecycle::Editable if record.problems().is_empty() => (i18n::t("badge-ready"), "ready"),
        Lifecycle::Editable => (i18n::t("badge-draft"), "draft"),
        Lifecycle::Scheduled => (i18n::t("badge-scheduled"), "scheduled"),
        Lifecycle::Active => match &record.pause_reason {
            Some(reason) if record.paused_at.is_some() => {
                (i18n::lang().t1("badge-paused-because", "reason", reason), "paused")
            }
            _ if record.paused_at.is_some() => (i18n::t("badge-paused"), "paused"),
            _ => (i18n::t("badge-active"), "active"),
        },
        Lifecycle::Finished => (i18n::t("badge-finished"), "finished"),
    };
    Badge { label, class }
}
