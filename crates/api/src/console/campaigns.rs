//! The campaign list (Real and Test tabs, search, state filter, pages) and
//! the lifecycle actions its rows and the campaign page post.

use askama::Template;
use axum::{
    Form,
    extract::{Path, Query, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use axum_extra::extract::cookie::CookieJar;
use domain::campaign::Lifecycle;
use serde::Deserialize;
use store::campaigns::{self, CampaignRecord, Selection};

use super::{
    i18n,
    pages::{Badge, Frame, badge, maybe_when, render},
    session::{self, Rejection, Signed},
};
use crate::{
    error::ApiError,
    routes::campaigns::{crud, lifecycle, retry},
    state::AppState,
};

const PAGE: usize = 25;

/// The states an operator filters by (the badge's class).
const STATES: [&str; 6] = ["draft", "ready", "scheduled", "active", "paused", "finished"];

/// A state's words, as its badge says it.
fn state_label(state: &str) -> String {
    i18n::t(match state {
        "draft" => "badge-draft",
        "ready" => "badge-ready",
        "scheduled" => "badge-scheduled",
        "active" => "badge-active",
        "paused" => "badge-paused",
        _ => "badge-finished",
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    kind: Option<String>,
    q: Option<String>,
    state: Option<String>,
    after: Option<i64>,
}

/// One row of the list, with the actions its state allows.
#[derive(Debug)]
struct Row {
    id: i64,
    name: String,
    badge: Badge,
    template: String,
    scheduled_at: String,
    can_start: bool,
    can_finish: bool,
    can_resume: bool,
    can_pause: bool,
    can_edit: bool,
    can_delete: bool,
}

#[derive(Template)]
#[template(path = "console/campaigns.html")]
struct ListPage {
    frame: Frame,
    test_tab: bool,
    q: String,
    state: String,
    states: Vec<(&'static str, String)>,
    rows: Vec<Row>,
    next: Option<String>,
    filtered: bool,
}

/// Whether the campaign's badge is the state filtered by (its class is the state's code).
fn matches_state(record: &CampaignRecord, state: &str) -> bool {
    badge(record).class == state
}

fn row(record: &CampaignRecord) -> Row {
    let lifecycle = record.lifecycle();
    let paused = record.paused_at.is_some();
    Row {
        id: record.id,
        name: record.name.clone(),
        badge: badge(record),
        template: match (&record.template_name, &record.template_language) {
            (Some(name), Some(language)) => format!("{name} ({language})"),
            _ => "—".to_owned(),
        },
        scheduled_at: maybe_when(&record.scheduled_at),
        can_start: lifecycle == Lifecycle::Editable && record.problems().is_empty(),
        can_finish: lifecycle == Lifecycle::Active,
        can_resume: lifecycle == Lifecycle::Active && paused,
        can_pause: lifecycle == Lifecycle::Active && !paused,
        can_edit: lifecycle == Lifecycle::Editable,
        can_delete: lifecycle != Lifecycle::Active,
    }
}

pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    Query(query): Query<ListQuery>,
) -> Result<Response, Rejection> {
    let test_tab = query.kind.as_deref() == Some("test");
    let q = query.q.unwrap_or_default().trim().to_owned();
    crate::text::check_line(&q, "q")?;
    let wanted = query.state.filter(|s| STATES.contains(&s.as_str()));
    let lifecycle = wanted.as_deref().map(|s| match s {
        "draft" | "ready" => "editable",
        "paused" => "active",
        other => other,
    });
    // Ready and Paused are read off the rows; read on until a page is full.
    let mut rows = Vec::new();
    let mut after = query.after;
    let mut more = false;
    loop {
        let batch = campaigns::select(
            &state.pg,
            signed.org(),
            Selection {
                kind: Some(if test_tab { "test" } else { "real" }),
                lifecycle,
                name_contains: Some(q.as_str()).filter(|q| !q.is_empty()),
                after,
                limit: 200,
                ..Selection::default()
            },
        )
        .await?;
        let full = batch.len() == 200;
        for record in &batch {
            after = Some(record.id);
            if wanted.as_deref().is_none_or(|s| matches_state(record, s)) {
                if rows.len() == PAGE {
                    more = true;
                    break;
                }
                rows.push(row(record));
            }
        }
        if more || !full {
            break;
        }
    }
    let next = more.then(|| {
        let last = rows.last().map_or(0, |r| r.id);
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        url.append_pair("kind", if test_tab { "test" } else { "real" });
        if !q.is_empty() {
            url.append_pair("q", &q);
        }
        if let Some(s) = &wanted {
            url.append_pair("state", s);
        }
        url.append_pair("after", &last.to_string());
        format!("/console/campaigns?{}", url.finish())
    });
    let (jar, notice) = session::take_notice(jar);
    let page = ListPage {
        frame: Frame::new(&signed, "campaigns", notice),
        test_tab,
        filtered: !q.is_empty() || wanted.is_some(),
        q,
        state: wanted.unwrap_or_default(),
        states: STATES.iter().map(|s| (*s, state_label(s))).collect(),
        rows,
        next,
    };
    Ok((jar, render(&page)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct ActionForm {
    csrf: String,
    /// Where to go back to (the list or the campaign page).
    back: Option<String>,
}

/// What a campaign's action buttons post to (`/console/campaigns/{id}/{action}`).
#[derive(Debug, Clone, Copy)]
enum Action {
    Start,
    Finish,
    Resume,
    /// Pause sending (an operator's pause, until Resume).
    Pause,
    /// "Clone into a new Draft".
    Clone,
    /// "Retry failed": a new Draft for the recipients worth retrying.
    RetryFailed,
    /// Delete for good (not while Active).
    Delete,
}

impl Action {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "start" => Some(Self::Start),
            "finish" => Some(Self::Finish),
            "resume" => Some(Self::Resume),
            "pause" => Some(Self::Pause),
            "clone" => Some(Self::Clone),
            "retry-failed" => Some(Self::RetryFailed),
            "delete" => Some(Self::Delete),
            _ => None,
        }
    }
}

/// Runs an action of a campaign through the code the API runs, and goes to
/// the page it leads to (`back`, else the campaign's; a clone's own page)
/// with a notice saying what happened, or why it could not.
pub async fn act(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    headers: HeaderMap,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<ActionForm>,
) -> Result<Response, Rejection> {
    let action = Action::parse(&action).ok_or(ApiError::NotFound { what: "route" })?;
    signed.check_csrf(&form.csrf)?;
    let org = signed.org();
    let back = form
        .back
        .as_deref()
        .filter(|b| b.starts_with("/console/") && !b.starts_with("//"))
        .map_or_else(|| format!("/console/campaigns/{id}"), str::to_owned);
    let done = match action {
        Action::Start => {
            lifecycle::start_now(&state, org, id, None).await.map(|()| (i18n::t("campaign-started"), back))
        }
        Action::Finish => {
            lifecycle::finish_active(&state, org, id).await.map(|()| (i18n::t("campaign-finished"), back))
        }
        Action::Resume => lifecycle::resume_paused(&state, org, id).await.map(|()| (i18n::t("campaign-resumed"), back)),
        Action::Pause => {
            lifecycle::pause_active(&state, org, id, None).await.map(|()| (i18n::t("campaign-paused-notice"), back))
        }
        Action::Delete => crud::delete_campaign(&state, org, id)
            .await
            .map(|()| (i18n::t("campaign-deleted"), "/console/campaigns".to_owned())),
        Action::Clone => crud::clone_campaign(&state, org, id, None)
            .await
            .map(|new| (i18n::t("campaign-cloned"), format!("/console/campaigns/{new}"))),
        Action::RetryFailed => retry::create_retry(&state, org, id, None).await.map(|(new, contacts)| {
            (i18n::lang().t1("campaign-retry-created", "count", contacts), format!("/console/campaigns/{new}/review"))
        }),
    };
    let (text, to) = match done {
        Ok((text, to)) => (text, to),
        Err(e) => (session::refusal(e)?, format!("/console/campaigns/{id}")),
    };
    Ok(session::redirect_with_notice(jar, &headers, &text, &to))
}
