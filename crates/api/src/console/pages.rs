//! What every page shares: the frame (who is signed in, the CSRF token, the
//! assets), rendering, the error page, and how times and states read.

use askama::Template;
use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use store::campaigns::CampaignRecord;

use super::{assets, session::Signed};

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
        }
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
}

/// A page that says what went wrong, with its stable code.
pub fn error_page(status: StatusCode, code: &str, message: &str) -> Response {
    let mut response = render(&ErrorPage { code, message, status: status.as_u16(), css: assets::url("console") });
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
        Lifecycle::Editable if record.problems().is_empty() => ("Ready to launch".to_owned(), "ready"),
        Lifecycle::Editable => ("Draft".to_owned(), "draft"),
        Lifecycle::Scheduled => ("Scheduled".to_owned(), "scheduled"),
        Lifecycle::Active => match &record.pause_reason {
            Some(reason) if record.paused_at.is_some() => (format!("Paused: {reason}"), "paused"),
            _ if record.paused_at.is_some() => ("Paused".to_owned(), "paused"),
            _ => ("Active".to_owned(), "active"),
        },
        Lifecycle::Finished => ("Finished".to_owned(), "finished"),
    };
    Badge { label, class }
}
