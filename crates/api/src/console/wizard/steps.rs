//! The wizard's editing steps: the page of each, and saving it.

use std::collections::BTreeMap;

use askama::Template;
use axum::{
    Form,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::CookieJar;
use domain::campaign::{Binding, Component, DeliveryPolicy, Kind, QuietHours, Source, SupportCapacity, TimeOfDay};
use serde::Deserialize;
use store::{OrgId, bot_flows, campaigns, campaigns::CampaignRecord, numbers, templates};

use super::{ProblemLink, Step, StepLink, audience, preview, progress};
use crate::{
    console::{
        assets, i18n,
        pages::{Frame, render},
        session::{self, Rejection, Signed},
    },
    error::ApiError,
    routes::campaigns::{
        crud,
        input::{AudienceInput, CampaignInput},
    },
    state::AppState,
};

/// A choice of a `<select>`.
#[derive(Debug, Clone)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// One placeholder's binding control.
#[derive(Debug, Clone)]
pub struct Placeholder {
    /// The form-field stem: `body.1`, `header.1`.
    pub stem: String,
    /// How the operator reads it: `{{1}} in the body`.
    pub label: String,
    /// `text`, `contact_name` or `valued_tag`.
    pub kind: String,
    pub value: String,
    pub key: String,
}

/// A refused save: what the API code said, and the field it is about.
#[derive(Debug, Clone)]
pub struct FieldError {
    pub message: String,
    pub code: String,
    /// The id of the page's input it links to.
    pub anchor: &'static str,
}

#[derive(Template)]
#[template(path = "console/wizard.html")]
struct WizardPage {
    frame: Frame,
    /// `None` on the "New campaign" page (nothing saved yet).
    id: Option<i64>,
    /// The same, for the step list.
    wizard_id: Option<i64>,
    name: String,
    test: bool,
    step: &'static str,
    step_title: String,
    steps: Vec<StepLink>,
    problems: Vec<ProblemLink>,
    error: Option<FieldError>,
    numbers: Vec<Choice>,
    // audience
    tags: String,
    valued_tags: String,
    match_any: bool,
    /// A "Retry failed" campaign: how many contacts its fixed audience lists.
    fixed: Option<i32>,
    count: i64,
    test_phones: String,
    audience_js: String,
    // message
    templates: Vec<Choice>,
    placeholders: Vec<Placeholder>,
    keys: Vec<String>,
    header_format: String,
    header_media: String,
    preview: Option<preview::Preview>,
    // bot
    flows: Vec<Choice>,
    pace: String,
    at_least_once: bool,
    replies_per_hour: String,
    max_open_cases: String,
    send_from: String,
    send_until: String,
}

fn choices<T>(items: &[T], selected: Option<i64>, f: impl Fn(&T) -> (i64, String)) -> Vec<Choice> {
    items
        .iter()
        .map(|item| {
            let (id, label) = f(item);
            Choice { value: id.to_string(), label, selected: selected == Some(id) }
        })
        .collect()
}

/// Where a field error links to on the page.
fn anchor(field: &str) -> &'static str {
    let root = field.split(['.', '[']).next().unwrap_or_default();
    match root {
        "name" => "name",
        "number_id" => "number",
        "audience" if field.contains("valued_tags") => "valued_tags",
        "audience" => "tags",
        "test_phones" => "test_phones",
        "template_id" => "template",
        "bindings" => "bindings",
        "header_media_id" => "media",
        "bot_flow_id" => "bot_flow",
        "pace_per_second" => "pace",
        "support_capacity" => "support_capacity",
        "quiet_hours" => "quiet_hours",
        _ => "main",
    }
}

impl FieldError {
    fn from_api(e: ApiError) -> Result<Self, Rejection> {
        let field = match &e {
            ApiError::Invalid { field, .. } => field.clone().unwrap_or_default(),
            _ => String::new(),
        };
        if let ApiError::Internal(_) = e {
            return Err(Rejection::Failed(e));
        }
        let (_, code, message) = e.describe();
        Ok(Self { message, code, anchor: anchor(&field) })
    }
}

/// The tags of a text field: separated by commas, spaces or new lines.
pub(super) fn split_list(value: &str) -> Vec<String> {
    value.split([',', ' ', '\n', '\r', ';']).map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()
}

/// `key=value` lines (or comma-separated pairs).
pub(super) fn split_pairs(value: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for pair in value.split(['\n', ',']).map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(ApiError::invalid(
                "invalid_valued_tag_filter",
                format!("{pair:?} is not key=value: write one valued tag per line, like plan=gold"),
                Some("audience.valued_tags".into()),
            ));
        };
        out.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(out)
}

/// The page of a step, with what is saved (or, after a refused save, what was typed where it matters).
async fn page(
    state: &AppState,
    signed: &Signed,
    record: Option<&CampaignRecord>,
    step: Step,
    notice: Option<String>,
    error: Option<FieldError>,
    new_test: bool,
) -> Result<Response, Rejection> {
    let org = signed.org();
    let (steps, problems) = match record {
        Some(r) => progress(r, step),
        None => (vec![], vec![]),
    };
    let mut page = WizardPage {
        frame: Frame::new(signed, "campaigns", notice),
        id: record.map(|r| r.id),
        wizard_id: record.map(|r| r.id),
        name: record.map(|r| r.name.clone()).unwrap_or_default(),
        test: record.map_or(new_test, |r| r.kind() == Kind::Test),
        step: step.slug(),
        step_title: step.title(),
        steps,
        problems,
        error,
        numbers: vec![],
        tags: String::new(),
        valued_tags: String::new(),
        match_any: false,
        fixed: None,
        count: 0,
        test_phones: String::new(),
        audience_js: assets::url("audience-count"),
        templates: vec![],
        placeholders: vec![],
        keys: vec![],
        header_format: String::new(),
        header_media: String::new(),
        preview: None,
        flows: vec![],
        pace: String::new(),
        replies_per_hour: String::new(),
        max_open_cases: String::new(),
        send_from: String::new(),
        send_until: String::new(),
        at_least_once: false,
    };
    match step {
        Step::Basics => {
            let list = numbers::list(&state.pg, org).await?;
            page.numbers = choices(&list, record.and_then(|r| r.number_id), |n| {
                (
                    n.id,
                    format!(
                        "{} ({})",
                        n.display_number,
                        n.verified_name.clone().unwrap_or_else(|| i18n::t("wizard-number-unverified-name"))
                    ),
                )
            });
        }
        Step::Audience => {
            if let Some(r) = record {
                page.tags = r.audience_tags.join(", ");
                page.valued_tags = r
                    .audience_valued_tags
                    .as_object()
                    .map(|m| {
                        m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
                    .join("\n");
                page.match_any = r.audience_match == "any";
                page.fixed = r.audience_contacts;
                page.test_phones = r.test_phones.join("\n");
                page.count = audience::of_record(state, org, r).await?;
            }
        }
        Step::Message => {
            if let Some(r) = record {
                message_step(state, org, r, &mut page).await?;
            }
        }
        Step::Bot => {
            let list = bot_flows::list(&state.pg, org).await?;
            page.flows = choices(&list, record.and_then(|r| r.bot_flow_id), |f| (f.id, f.name.clone()));
            page.pace = record.and_then(|r| r.pace_per_second).map(|p| p.to_string()).unwrap_or_default();
            page.at_least_once = record.is_some_and(|r| r.delivery_policy == DeliveryPolicy::AtLeastOnce.as_str());
            let rules = record.map(CampaignRecord::delivery_rules).unwrap_or_default();
            let text = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
            page.replies_per_hour = text(rules.support_capacity.and_then(|c| c.replies_per_hour));
            page.max_open_cases = text(rules.support_capacity.and_then(|c| c.max_open_cases));
            page.send_from = rules.quiet_hours.map(|q| q.send_from.to_string()).unwrap_or_default();
            page.send_until = rules.quiet_hours.map(|q| q.send_until.to_string()).unwrap_or_default();
        }
        Step::Review => unreachable!("the review has its own page"),
    }
    let status = if page.error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok((status, render(&page)).into_response())
}

async fn message_step(
    state: &AppState,
    org: OrgId,
    r: &CampaignRecord,
    page: &mut WizardPage,
) -> Result<(), Rejection> {
    let usable: Vec<templates::Template> = templates::list(&state.pg, org, &templates::TemplateFilter::default())
        .await?
        .into_iter()
        .filter(|t| t.usable || Some(t.id) == r.template_id)
        .collect();
    page.templates = choices(&usable, r.template_id, |t| {
        (
            t.id,
            format!(
                "{} ({}, {})",
                t.name,
                t.language,
                t.category.clone().unwrap_or_else(|| i18n::t("wizard-template-no-category"))
            ),
        )
    });
    let bindings = r.bindings();
    let bound = |component: Component, param: &str| {
        bindings.iter().find(|b| b.component == component && b.param == param).map(|b| &b.source)
    };
    let mut placeholders = Vec::new();
    for (component, params) in [
        (Component::Header, r.template_header_params.clone().unwrap_or_default()),
        (Component::Body, r.template_body_params.clone().unwrap_or_default()),
    ] {
        for param in params {
            let (kind, value, key) = match bound(component, &param) {
                Some(Source::Text { value }) => ("text", value.clone(), String::new()),
                Some(Source::ContactName) => ("contact_name", String::new(), String::new()),
                Some(Source::ValuedTag { key }) => ("valued_tag", String::new(), key.as_str().to_owned()),
                None => ("text", String::new(), String::new()),
            };
            let token = format!("{{{{{param}}}}}");
            let (place, label) = if component == Component::Header {
                ("header", i18n::lang().t1("wizard-placeholder-in-header", "placeholder", token))
            } else {
                ("body", i18n::lang().t1("wizard-placeholder-in-body", "placeholder", token))
            };
            placeholders.push(Placeholder {
                stem: format!("{place}.{param}"),
                label,
                kind: kind.to_owned(),
                value,
                key,
            });
        }
    }
    page.placeholders = placeholders;
    page.keys = audience::valued_tag_keys(state, org).await?;
    page.header_format = r.template_header_format.clone().unwrap_or_default();
    if let Some(media) = r.header_media_id {
        page.header_media = store::media::get(&state.pg, org, media)
            .await?
            .map(|m| {
                format!("{} ({})", m.filename.unwrap_or_else(|| i18n::t("wizard-header-media-unnamed")), m.mime_type)
            })
            .unwrap_or_default();
    }
    if let Some(template) = usable.iter().find(|t| Some(t.id) == r.template_id) {
        page.preview = preview::for_campaign(state, org, r, template).await?;
    }
    Ok(())
}

async fn load(state: &AppState, org: OrgId, id: i64) -> Result<CampaignRecord, Rejection> {
    Ok(campaigns::get(&state.pg, org, id).await?.ok_or(ApiError::NotFound { what: "campaign" })?)
}

#[derive(Debug, Default, Deserialize)]
pub struct NewQuery {
    kind: Option<String>,
}

/// "New campaign": the basic settings, before anything is saved.
pub async fn new_form(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<NewQuery>,
) -> Result<Response, Rejection> {
    // The kind is chosen on the page; the Test tab preselects it.
    page(&state, &signed, None, Step::Basics, None, None, q.kind.as_deref() == Some("test")).await
}

/// The form fields, as posted (bindings are named by placeholder, so a list of pairs).
type Fields = Vec<(String, String)>;

fn field<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The session's CSRF token, then every field's text (no NUL or other
/// invisible control characters).
fn csrf(signed: &Signed, fields: &Fields) -> Result<(), Rejection> {
    signed.check_csrf(field(fields, "csrf").unwrap_or_default())?;
    for (name, value) in fields {
        crate::text::check_line(name, "field name")?;
        crate::text::check(value, name)?;
    }
    Ok(())
}

/// An optional id field: empty is "none".
fn optional_id(fields: &Fields, name: &str, api_field: &str) -> Result<Option<i64>, ApiError> {
    match field(fields, name).map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            ApiError::invalid(
                "invalid_choice",
                format!("{name} must be one of the listed choices"),
                Some(api_field.into()),
            )
        }),
    }
}

/// Creates the campaign from the "New campaign" page and goes on to its audience.
pub async fn create(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> Result<Response, Rejection> {
    csrf(&signed, &fields)?;
    let built = (|| {
        let kind = match field(&fields, "kind") {
            Some("test") => Kind::Test,
            _ => Kind::Real,
        };
        Ok::<_, ApiError>(CampaignInput {
            kind: Some(kind),
            name: Some(field(&fields, "name").unwrap_or_default().to_owned()),
            number_id: Some(optional_id(&fields, "number_id", "number_id")?),
            ..CampaignInput::default()
        })
    })();
    let result = match built {
        Ok(input) => crud::create_campaign(&state, signed.org(), input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(id) => {
            let to = format!("/console/campaigns/{id}/edit/audience");
            Ok(session::redirect_with_notice(jar, &headers, &i18n::t("wizard-saved-as-draft"), &to))
        }
        Err(e) => {
            let test = field(&fields, "kind") == Some("test");
            page(&state, &signed, None, Step::Basics, None, Some(FieldError::from_api(e)?), test).await
        }
    }
}

/// A step of a campaign's wizard.
pub async fn step(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    Path((id, step)): Path<(i64, String)>,
) -> Result<Response, Rejection> {
    let step = Step::parse(&step).ok_or(ApiError::NotFound { what: "wizard step" })?;
    if step == Step::Review {
        return Ok(Redirect::to(&format!("/console/campaigns/{id}/review")).into_response());
    }
    let record = load(&state, signed.org(), id).await?;
    let (jar, notice) = session::take_notice(jar);
    Ok((jar, page(&state, &signed, Some(&record), step, notice, None, false).await?).into_response())
}

/// What a step's form changes.
fn input_of(step: Step, record: &CampaignRecord, fields: &Fields) -> Result<CampaignInput, ApiError> {
    let mut input = CampaignInput::default();
    match step {
        Step::Basics => {
            input.name = Some(field(fields, "name").unwrap_or_default().to_owned());
            input.number_id = Some(optional_id(fields, "number_id", "number_id")?);
        }
        // A "Retry failed" campaign's audience is its fixed list: nothing to change.
        Step::Audience if record.audience_contacts.is_some() => {}
        Step::Audience if record.kind() == Kind::Test => {
            input.test_phones = Some(split_list(field(fields, "test_phones").unwrap_or_default()));
        }
        Step::Audience => {
            input.audience = Some(AudienceInput {
                tags: split_list(field(fields, "tags").unwrap_or_default()),
                valued_tags: split_pairs(field(fields, "valued_tags").unwrap_or_default())?,
                match_mode: Some(field(fields, "match").unwrap_or("all").to_owned()),
            });
        }
        Step::Message => {
            let template = optional_id(fields, "template_id", "template_id")?;
            input.template_id = Some(template);
            if template != record.template_id {
                // Another template has other placeholders: bound afresh.
                input.bindings = Some(vec![]);
                input.header_media_id = Some(None);
            } else {
                input.bindings = Some(bindings_of(record, fields)?);
            }
        }
        Step::Bot => {
            input.bot_flow_id = Some(optional_id(fields, "bot_flow_id", "bot_flow_id")?);
            let pace = field(fields, "pace_per_second").map(str::trim).filter(|p| !p.is_empty());
            input.pace_per_second = Some(
                pace.map(|p| {
                    p.parse::<f64>().map_err(|_| {
                        ApiError::invalid(
                            "invalid_pace",
                            "contacts per second must be a number, like 20 or 0.5",
                            Some("pace_per_second".into()),
                        )
                    })
                })
                .transpose()?,
            );
            input.delivery_policy = Some(if field(fields, "delivery_policy") == Some("at_least_once") {
                DeliveryPolicy::AtLeastOnce
            } else {
                DeliveryPolicy::AtMostOnce
            });
            input.support_capacity = Some(support_capacity(fields)?);
            input.quiet_hours = Some(quiet_hours(fields)?);
        }
        Step::Review => {}
    }
    Ok(input)
}

/// The support team's capacity the bot step's two fields give; both empty: none.
fn support_capacity(fields: &Fields) -> Result<Option<SupportCapacity>, ApiError> {
    let number = |name: &str| -> Result<Option<u32>, ApiError> {
        match field(fields, name).map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::invalid(
                    "invalid_support_capacity",
                    format!("{} must be a whole number, like 120", name.replace('_', " ")),
                    Some("support_capacity".into()),
                )
            }),
        }
    };
    let (replies_per_hour, max_open_cases) = (number("replies_per_hour")?, number("max_open_cases")?);
    Ok((replies_per_hour.is_some() || max_open_cases.is_some())
        .then_some(SupportCapacity { replies_per_hour, max_open_cases }))
}

/// The quiet hours the bot step's two times give; both empty: none.
fn quiet_hours(fields: &Fields) -> Result<Option<QuietHours>, ApiError> {
    let time = |name: &str| field(fields, name).map(str::trim).filter(|v| !v.is_empty());
    match (time("send_from"), time("send_until")) {
        (None, None) => Ok(None),
        (Some(from), Some(until)) => {
            let parse = |t: &str| {
                t.parse::<TimeOfDay>()
                    .map_err(|e| ApiError::invalid("invalid_quiet_hours", e, Some("quiet_hours".into())))
            };
            Ok(Some(QuietHours { send_from: parse(from)?, send_until: parse(until)? }))
        }
        _ => Err(ApiError::invalid(
            "invalid_quiet_hours",
            "quiet hours need both the time sending starts and the time it stops",
            Some("quiet_hours".into()),
        )),
    }
}

/// The bindings the message step's controls describe, for the template saved.
fn bindings_of(record: &CampaignRecord, fields: &Fields) -> Result<Vec<Binding>, ApiError> {
    let mut out = Vec::new();
    for (component, params) in [
        (Component::Header, record.template_header_params.clone().unwrap_or_default()),
        (Component::Body, record.template_body_params.clone().unwrap_or_default()),
    ] {
        for param in params {
            let stem = format!("{}.{param}", component.as_str());
            let value = field(fields, &format!("{stem}.value")).unwrap_or_default().trim().to_owned();
            let key = field(fields, &format!("{stem}.key")).unwrap_or_default().trim();
            let source = match field(fields, &format!("{stem}.kind")) {
                Some("contact_name") => Source::ContactName,
                Some("valued_tag") if key.is_empty() => continue,
                Some("valued_tag") => Source::ValuedTag {
                    key: domain::ValuedTagKey::parse(key)
                        .map_err(|e| ApiError::domain(&e, format!("bindings.{stem}.key")))?,
                },
                _ if value.is_empty() => continue,
                _ => Source::Text { value },
            };
            out.push(Binding { component, param: param.clone(), source });
        }
    }
    Ok(out)
}

/// Saves a step; "Save and continue" goes to the next one.
pub async fn save(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    headers: HeaderMap,
    Path((id, step)): Path<(i64, String)>,
    Form(fields): Form<Fields>,
) -> Result<Response, Rejection> {
    let step = Step::parse(&step).ok_or(ApiError::NotFound { what: "wizard step" })?;
    csrf(&signed, &fields)?;
    let org = signed.org();
    let record = load(&state, org, id).await?;
    let saved = match input_of(step, &record, &fields) {
        Ok(input) => crud::update_campaign(&state, org, id, input).await,
        Err(e) => Err(e),
    };
    if let Err(e) = saved {
        let error = FieldError::from_api(e)?;
        return page(&state, &signed, Some(&record), step, None, Some(error), false).await;
    }
    let changed_template = step == Step::Message
        && optional_id(&fields, "template_id", "template_id").ok().flatten() != record.template_id;
    let to = if field(&fields, "then") == Some("next") && !changed_template { step.next() } else { step };
    let text = if changed_template { i18n::t("wizard-template-saved") } else { i18n::t("wizard-saved") };
    let url = if to == Step::Review {
        format!("/console/campaigns/{id}/review")
    } else {
        format!("/console/campaigns/{id}/edit/{}", to.slug())
    };
    Ok(session::redirect_with_notice(jar, &headers, &text, &url))
}
