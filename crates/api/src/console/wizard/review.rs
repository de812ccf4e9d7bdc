//! The review step: everything the campaign will do, the forecast (who will
//! be sent to, who will not and why, how long it takes), and the ways on:
//! Save as Ready, Send a test, Start now, Schedule.

use askama::Template;
use axum::{
    Form,
    extract::{Path, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use axum_extra::extract::cookie::CookieJar;
use chrono::{NaiveDate, NaiveTime, TimeDelta, Utc};
use domain::campaign::{Kind, Lifecycle};
use serde::Deserialize;
use store::{bot_flows, campaigns, numbers, templates};

use super::{ProblemLink, Step, StepLink, preview, progress};
use crate::{
    console::{
        i18n,
        pages::{Frame, render, when},
        session::{self, Rejection, Signed},
    },
    error::ApiError,
    routes::campaigns::{forecast, lifecycle, test_send as tests},
    state::AppState,
};

/// One line of the summary: what was chosen on a step.
#[derive(Debug, Clone)]
struct Line {
    label: String,
    value: String,
    step: &'static str,
}

#[derive(Debug, Clone)]
struct Exclusion {
    reason: String,
    code: String,
    count: i64,
    sample: String,
}

#[derive(Debug, Clone)]
struct ForecastView {
    audience: i64,
    will_send: i64,
    excluded: i64,
    exclusions: Vec<Exclusion>,
    pace: String,
    eta: String,
    finishes_at: String,
    /// What the delivery limits add: (label, value).
    limits: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "console/review.html")]
struct ReviewPage {
    frame: Frame,
    id: i64,
    wizard_id: Option<i64>,
    name: String,
    test: bool,
    editable: bool,
    steps: Vec<StepLink>,
    problems: Vec<ProblemLink>,
    lines: Vec<Line>,
    preview: Option<preview::Preview>,
    forecast: Option<ForecastView>,
    /// Tomorrow, as the schedule form's default date.
    default_date: String,
}

fn duration(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, _) => format!("{m} min {s} s"),
        _ => format!("{h} h {m} min"),
    }
}

pub async fn review(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    Path(id): Path<i64>,
) -> Result<Response, Rejection> {
    let org = signed.org();
    let r = campaigns::get(&state.pg, org, id).await?.ok_or(ApiError::NotFound { what: "campaign" })?;
    let (steps, problems) = progress(&r, Step::Review);
    let number = match r.number_id {
        Some(n) => numbers::get(&state.pg, org, n).await?.map(|n| n.display_number),
        None => None,
    };
    let flow = match r.bot_flow_id {
        Some(f) => bot_flows::get(&state.pg, org, f).await?.map(|f| f.name),
        None => None,
    };
    let template = match r.template_id {
        Some(t) => templates::get(&state.pg, org, t).await?,
        None => None,
    };
    let lang = i18n::lang();
    let none = || lang.t("review-not-chosen");
    let audience = if r.kind() == Kind::Test {
        // The phones follow the words (a lone phone is no argument: it would read as a number).
        if r.test_phones.is_empty() {
            none()
        } else {
            format!("{} {}", lang.t("review-audience-test-phones"), r.test_phones.join(", "))
        }
    } else if let Some(fixed) = r.audience_contacts {
        lang.t1("review-audience-fixed", "count", fixed)
    } else {
        let tag = lang.t("review-audience-tag");
        let mut terms: Vec<String> = r.audience_tags.iter().map(|t| format!("{tag} {t}")).collect();
        if let Some(m) = r.audience_valued_tags.as_object() {
            terms.extend(m.iter().map(|(k, v)| format!("{k} = {}", v.as_str().unwrap_or_default())));
        }
        if terms.is_empty() {
            none()
        } else {
            let joiner =
                if r.audience_match == "any" { lang.t("review-audience-or") } else { lang.t("review-audience-and") };
            lang.t1("review-audience-contacts-with", "terms", terms.join(&format!(" {joiner} ")))
        }
    };
    let lines = vec![
        Line { label: lang.t("review-line-name"), value: r.name.clone(), step: "basics" },
        Line { label: lang.t("review-line-number"), value: number.unwrap_or_else(none), step: "basics" },
        Line { label: lang.t("review-line-audience"), value: audience, step: "audience" },
        Line {
            label: lang.t("review-line-template"),
            value: template.as_ref().map_or_else(none, |t| format!("{} ({}), {}", t.name, t.language, t.status)),
            step: "message",
        },
        Line { label: lang.t("review-line-bot-flow"), value: flow.unwrap_or_else(none), step: "bot" },
        Line {
            label: lang.t("review-pace"),
            value: r.pace_per_second.map_or_else(
                || lang.t1("review-pace-default", "pace", state.settings.launch_pace_per_second),
                |p| lang.t1("review-pace-per-second", "pace", p),
            ),
            step: "bot",
        },
    ];
    let rules = r.delivery_rules();
    let mut lines = lines;
    if let Some(c) = rules.support_capacity {
        let mut parts = Vec::new();
        if let Some(n) = c.replies_per_hour {
            parts.push(lang.t1("review-capacity-replies", "count", n));
        }
        if let Some(n) = c.max_open_cases {
            parts.push(lang.t1("review-capacity-cases", "count", n));
        }
        lines.push(Line { label: lang.t("review-line-capacity"), value: parts.join(", "), step: "bot" });
    }
    if let Some(q) = rules.quiet_hours {
        lines.push(Line {
            label: lang.t("review-line-quiet"),
            value: lang.t2("review-quiet-window", "from", q.send_from, "until", q.send_until),
            step: "bot",
        });
    }
    let preview = match &template {
        Some(t) => preview::for_campaign(&state, org, &r, t).await?,
        None => None,
    };
    let editable = r.lifecycle() == Lifecycle::Editable;
    let forecast = if problems.is_empty() && matches!(r.lifecycle(), Lifecycle::Editable | Lifecycle::Scheduled) {
        let f = forecast::compute(&state, org, id).await?;
        let limits = forecast_limits(lang, &f);
        Some(ForecastView {
            audience: f.audience,
            will_send: f.will_send,
            excluded: f.excluded,
            exclusions: f
                .exclusions
                .into_iter()
                .map(|e| Exclusion {
                    sample: e.sample.iter().map(|s| s.phone.clone()).collect::<Vec<_>>().join(", "),
                    reason: e.reason,
                    code: e.code,
                    count: e.count,
                })
                .collect(),
            pace: if f.pace.limited_by_number {
                lang.t1("review-forecast-pace-limited", "pace", format!("{:.2}", f.pace.contacts_per_second))
            } else {
                lang.t1("review-forecast-pace", "pace", format!("{:.2}", f.pace.contacts_per_second))
            },
            eta: duration(f.eta_seconds),
            finishes_at: when(&f.finishes_at),
            limits,
        })
    } else {
        None
    };
    let (jar, notice) = session::take_notice(jar);
    let page = ReviewPage {
        frame: Frame::new(&signed, "campaigns", notice),
        id,
        wizard_id: Some(id),
        name: r.name.clone(),
        test: r.kind() == Kind::Test,
        editable,
        steps,
        problems,
        lines,
        preview,
        forecast,
        default_date: (Utc::now() + TimeDelta::days(1)).format("%Y-%m-%d").to_string(),
    };
    Ok((jar, render(&page)).into_response())
}

/// The forecast's messaging-limit and quiet-hours lines.
fn forecast_limits(lang: i18n::Lang, f: &forecast::Forecast) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(m) = &f.messaging_limit
        && let (Some(limit), Some(windows)) = (m.now.limit, m.windows_needed)
    {
        let tier = m.now.tier.clone().unwrap_or_else(|| "?".into());
        let mut value = lang.args(
            "review-limit-value",
            &[("used", m.now.used.to_string()), ("limit", limit.to_string()), ("tier", tier)],
        );
        if windows > 1 {
            value.push_str(&format!(
                " {}",
                lang.t1("review-limit-days", "days", format!("{:.1}", m.days_needed.unwrap_or_default()))
            ));
        }
        out.push((lang.t("review-limit"), value));
    }
    if let Some(q) = &f.quiet_hours {
        let zones: Vec<String> = q
            .zones
            .iter()
            .take(8)
            .map(|z| {
                let state = if z.open_now { lang.t("review-quiet-open") } else { lang.t("review-quiet-closed") };
                format!("{} {} ({state})", z.contacts, z.time_zone)
            })
            .collect();
        out.push((lang.t("review-line-quiet"), zones.join(", ")));
    }
    out
}

/// "Save as Ready": a complete campaign goes to the list as Ready to launch;
/// an incomplete one stays on the review, which lists what is missing.
pub async fn ready(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<session::CsrfForm>,
) -> Result<Response, Rejection> {
    signed.check_csrf(&form.csrf)?;
    let r = campaigns::get(&state.pg, signed.org(), id).await?.ok_or(ApiError::NotFound { what: "campaign" })?;
    let problems = r.problems();
    if problems.is_empty() {
        let list = if r.kind() == Kind::Test { "/console/campaigns?kind=test" } else { "/console/campaigns" };
        return Ok(session::redirect_with_notice(
            jar,
            &headers,
            &i18n::lang().t1("review-ready-notice", "name", &r.name),
            list,
        ));
    }
    let missing = problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; ");
    Ok(session::redirect_with_notice(
        jar,
        &headers,
        &i18n::lang().t1("review-not-ready-notice", "problems", missing),
        &format!("/console/campaigns/{id}/review"),
    ))
}

#[derive(Debug, Deserialize)]
pub struct TestForm {
    csrf: String,
    #[serde(default)]
    test_phones: String,
}

/// "Send a test": the message to a few contacts' phones, as a new test
/// campaign whose page the browser goes to.
pub async fn test_send(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<TestForm>,
) -> Result<Response, Rejection> {
    signed.check_csrf(&form.csrf)?;
    crate::text::check(&form.test_phones, "test_phones")?;
    let phones = super::steps::split_list(&form.test_phones);
    match tests::send_test(&state, signed.org(), id, &phones).await {
        Ok(test) => Ok(session::redirect_with_notice(
            jar,
            &headers,
            &i18n::t("review-test-sent"),
            &format!("/console/campaigns/{test}"),
        )),
        Err(e) => Ok(session::redirect_with_notice(
            jar,
            &headers,
            &session::refusal(e)?,
            &format!("/console/campaigns/{id}/review"),
        )),
    }
}

#[derive(Debug, Deserialize)]
pub struct ScheduleForm {
    csrf: String,
    #[serde(default)]
    /// `YYYY-MM-DD`, in UTC.
    date: String,
    /// `HH:MM`, in UTC.
    #[serde(default)]
    time: String,
    #[serde(default)]
    contacts_per_hour: String,
}

/// "Schedule": a date and time (UTC, as the form says) and a pace in contacts per hour.
pub async fn schedule(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<ScheduleForm>,
) -> Result<Response, Rejection> {
    signed.check_csrf(&form.csrf)?;
    campaigns::get(&state.pg, signed.org(), id).await?.ok_or(ApiError::NotFound { what: "campaign" })?;
    let invalid = |code, message: &str, field: &str| ApiError::invalid(code, message, Some(field.to_owned()));
    let parsed = NaiveDate::parse_from_str(form.date.trim(), "%Y-%m-%d")
        .map_err(|_| invalid("invalid_date", "the date must be written YYYY-MM-DD", "date"))
        .and_then(|d| {
            let t = NaiveTime::parse_from_str(form.time.trim(), "%H:%M")
                .map_err(|_| invalid("invalid_time", "the time must be written HH:MM (24-hour, UTC)", "time"))?;
            Ok(d.and_time(t).and_utc())
        })
        .and_then(|at| {
            let per_hour = form.contacts_per_hour.trim().parse::<i64>().map_err(|_| {
                invalid("invalid_pace", "contacts per hour must be a whole number", "contacts_per_hour")
            })?;
            Ok((at, per_hour))
        });
    let done = match parsed {
        Ok((at, per_hour)) => lifecycle::schedule_at(&state, signed.org(), id, at, per_hour).await.map(|()| at),
        Err(e) => Err(e),
    };
    match done {
        Ok(at) => Ok(session::redirect_with_notice(
            jar,
            &headers,
            &i18n::lang().t1("review-scheduled-notice", "at", when(&at)),
            &format!("/console/campaigns/{id}"),
        )),
        Err(e) => Ok(session::redirect_with_notice(
            jar,
            &headers,
            &session::refusal(e)?,
            &format!("/console/campaigns/{id}/review"),
        )),
    }
}
