//! Contacts: the list (search, tag and valued-tag filters, pages), the CSV
//! import with its per-row error report, and a contact's page (tags, valued
//! tags, inbox case, opt-out, and the campaigns it was in with outcomes).

use askama::Template;
use axum::{
    body::Body,
    extract::{Multipart, Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use store::{
    contacts::{self, Contact, ContactFilter},
    recipient_list::Outcome,
};

use super::{
    i18n,
    pages::{Frame, maybe_when, render, when},
    session::{self, Rejection, Signed},
};
use crate::{
    error::{ApiError, RowError},
    routes::{campaigns::stats, contacts::import, contacts::read::tag_filter},
    state::AppState,
};

const PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    tag: Option<String>,
    valued_tag: Option<String>,
    after: Option<String>,
}

#[derive(Debug)]
struct Row {
    id: i64,
    phone: String,
    name: String,
    tags: String,
    valued_tags: String,
    status: String,
}

/// What the last import said, shown above the list.
#[derive(Debug)]
struct ImportReport {
    message: String,
    code: String,
    rows: Vec<RowError>,
}

#[derive(Template)]
#[template(path = "console/contacts.html")]
struct ListPage {
    frame: Frame,
    q: String,
    tag: String,
    valued_tag: String,
    rows: Vec<Row>,
    next: Option<String>,
    filtered: bool,
    report: Option<ImportReport>,
}

fn status(c: &Contact) -> String {
    let mut parts = Vec::new();
    if c.opted_out {
        parts.push(i18n::t("contacts-status-opted-out"));
    }
    if let Some(at) = &c.inbox_case_opened_at {
        parts.push(i18n::lang().t1("contacts-status-inbox-open", "at", when(at)));
    }
    if parts.is_empty() { "—".to_owned() } else { parts.join("; ") }
}

fn row(c: &Contact) -> Row {
    Row {
        id: c.id,
        phone: c.phone.clone(),
        name: c.name.clone().unwrap_or_else(|| "—".to_owned()),
        tags: c.tags.join(", "),
        valued_tags: c.valued_tags.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "),
        status: status(c),
    }
}

async fn list_page(
    state: &AppState,
    signed: &Signed,
    query: ListQuery,
    notice: Option<String>,
    report: Option<ImportReport>,
) -> Result<Response, Rejection> {
    let q = query.q.unwrap_or_default().trim().to_owned();
    let tag = query.tag.unwrap_or_default().trim().to_owned();
    let valued_tag = query.valued_tag.unwrap_or_default().trim().to_owned();
    for (value, name) in [(&q, "q"), (&tag, "tag"), (&valued_tag, "valued_tag")] {
        crate::text::check_line(value, name)?;
    }
    let tags: Vec<String> = tag.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect();
    let pairs: Vec<String> =
        valued_tag.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect();
    let (tags, valued_tags) = tag_filter(&tags, &pairs)?;
    let filter = ContactFilter {
        tags,
        valued_tags,
        q: Some(q.clone()).filter(|q| !q.is_empty()),
        after_phone: query.after.clone(),
        limit: PAGE + 1,
    };
    let found = contacts::list(&state.pg, signed.org(), &filter).await?;
    let more = found.len() as i64 > PAGE;
    let rows: Vec<Row> = found.iter().take(PAGE as usize).map(row).collect();
    let next = more.then(|| {
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("q", &q), ("tag", &tag), ("valued_tag", &valued_tag)] {
            if !v.is_empty() {
                url.append_pair(k, v);
            }
        }
        url.append_pair("after", &found[PAGE as usize - 1].phone);
        format!("/console/contacts?{}", url.finish())
    });
    let status = if report.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page = ListPage {
        frame: Frame::new(signed, "contacts", notice),
        filtered: !q.is_empty() || !tag.is_empty() || !valued_tag.is_empty(),
        q,
        tag,
        valued_tag,
        rows,
        next,
        report,
    };
    Ok((status, render(&page)).into_response())
}

pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    Query(query): Query<ListQuery>,
) -> Result<Response, Rejection> {
    let (jar, notice) = session::take_notice(jar);
    Ok((jar, list_page(&state, &signed, query, notice, None).await?).into_response())
}

/// Imports the uploaded CSV file (the API's import, all rows or none); on
/// success back to the list with a notice, else the list with the report.
pub async fn import_csv(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    headers: HeaderMap,
    mut form: Multipart,
) -> Result<Response, Rejection> {
    let limit = state.limits.csv_import_bytes;
    let mut csrf_checked = false;
    let mut file: Option<Vec<u8>> = None;
    while let Some(mut field) = form.next_field().await.map_err(session::unreadable_form)? {
        match field.name() {
            Some("csrf") => {
                signed.check_csrf(&field.text().await.map_err(session::unreadable_form)?)?;
                csrf_checked = true;
            }
            Some("file") if csrf_checked => {
                let mut content = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(session::unreadable_form)? {
                    if (content.len() + chunk.len()) as u64 > limit {
                        return Err(ApiError::TooLarge { limit: Some(limit) }.into());
                    }
                    content.extend_from_slice(&chunk);
                }
                file = Some(content);
            }
            _ => {}
        }
    }
    if !csrf_checked {
        return Err(Rejection::Csrf);
    }
    let result = match file.filter(|f| !f.is_empty()) {
        None => Err(ApiError::invalid("missing_file", "choose the CSV file to import", Some("file".into()))),
        Some(content) => import::import(&state, signed.org(), Body::from(content)).await,
    };
    match result {
        Ok(summary) => {
            let text = i18n::lang().args(
                "import-done",
                &[
                    ("rows", summary.rows.to_string()),
                    ("created", summary.created.to_string()),
                    ("updated", summary.updated.to_string()),
                ],
            );
            Ok(session::redirect_with_notice(jar, &headers, &text, "/console/contacts"))
        }
        Err(e @ ApiError::Internal(_)) => Err(e.into()),
        Err(e) => {
            let rows = match &e {
                ApiError::InvalidRows { rows, .. } => rows.clone(),
                _ => vec![],
            };
            let (_, code, message) = e.describe();
            let report =
                ImportReport { message: i18n::lang().t1("import-nothing-imported", "message", message), code, rows };
            list_page(&state, &signed, ListQuery::default(), None, Some(report)).await
        }
    }
}

#[derive(Debug)]
struct CampaignRow {
    id: i64,
    name: String,
    kind: String,
    outcome: String,
    reason: String,
    planned_at: String,
}

#[derive(Template)]
#[template(path = "console/contact.html")]
struct ContactPage {
    frame: Frame,
    contact: Row,
    created_at: String,
    inbox: String,
    opted_out: bool,
    valued: Vec<(String, String)>,
    campaigns: Vec<CampaignRow>,
}

pub async fn page(State(state): State<AppState>, signed: Signed, Path(id): Path<i64>) -> Result<Response, Rejection> {
    let org = signed.org();
    let c = contacts::get(&state.pg, org, id).await?.ok_or(ApiError::NotFound { what: "contact" })?;
    let campaigns = contacts::campaigns_of(&state.pg, org, id, 100)
        .await?
        .into_iter()
        .map(|r| CampaignRow {
            id: r.campaign_id,
            name: r.name,
            kind: if r.kind == "test" { i18n::t("contact-kind-test") } else { i18n::t("contact-kind-real") },
            outcome: super::campaign::outcome_label(Outcome::of(&r.state, r.replied)),
            reason: match (r.reason, r.reason_code) {
                (Some(text), Some(code)) => format!("{text} ({code})"),
                (None, Some(code)) => format!("{} ({code})", stats::reason_text(&code)),
                _ => String::new(),
            },
            planned_at: when(&r.planned_at),
        })
        .collect();
    let page = ContactPage {
        frame: Frame::new(&signed, "contacts", None),
        created_at: when(&c.created_at),
        inbox: maybe_when(&c.inbox_case_opened_at),
        opted_out: c.opted_out,
        valued: c.valued_tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        contact: row(&c),
        campaigns,
    };
    Ok(render(&page))
}
