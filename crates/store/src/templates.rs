//! Templates synced from Meta, per WABA. A sync upserts what Meta lists and
//! marks what it no longer lists as missing: campaigns may point at those
//! rows, and nothing disappears without the user seeing it.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use crate::OrgId;

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Template {
    pub id: i64,
    pub waba_id: String,
    pub meta_template_id: Option<String>,
    pub name: String,
    pub language: String,
    /// Meta's status: APPROVED, PAUSED, DISABLED, PENDING, REJECTED, ...
    pub status: String,
    /// MARKETING, UTILITY or AUTHENTICATION.
    pub category: Option<String>,
    /// POSITIONAL (`{{1}}`) or NAMED (`{{first_name}}`).
    pub parameter_format: String,
    /// The body's placeholder names in order of first use: `["1", "2"]` or `["first_name"]`.
    pub body_params: Vec<String>,
    /// TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION; none without a header.
    pub header_format: Option<String>,
    /// A TEXT header's placeholder names.
    pub header_params: Vec<String>,
    /// The components exactly as Meta lists them.
    #[schema(value_type = Vec<Object>)]
    pub components: serde_json::Value,
    /// Set when the last sync no longer found the template at Meta.
    pub missing_since: Option<DateTime<Utc>>,
    pub synced_at: DateTime<Utc>,
    /// APPROVED and not missing: only these can be chosen by a campaign.
    pub usable: bool,
}

/// One template as Meta listed it, ready to store.
#[derive(Debug, Clone)]
pub struct SyncedTemplate {
    pub meta_template_id: String,
    pub name: String,
    pub language: String,
    pub status: String,
    pub category: Option<String>,
    /// `POSITIONAL` or `NAMED`.
    pub parameter_format: &'static str,
    pub body_param_names: Vec<String>,
    pub header_format: Option<String>,
    pub header_param_names: Vec<String>,
    pub components: serde_json::Value,
}

/// What a sync did to one WABA's templates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncCounts {
    pub added: u32,
    pub updated: u32,
    pub unchanged: u32,
    /// Every template of the WABA that Meta no longer lists, as (name, language).
    pub missing: Vec<(String, String)>,
}

/// Optional filters of [`list`]; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct TemplateFilter<'a> {
    pub name: Option<&'a str>,
    pub language: Option<&'a str>,
    pub status: Option<&'a str>,
    pub waba_id: Option<&'a str>,
}

pub async fn list(db: impl PgExecutor<'_>, org: OrgId, filter: &TemplateFilter<'_>) -> sqlx::Result<Vec<Template>> {
    sqlx::query_as!(
        Template,
        r#"select id, waba_id, meta_template_id, name, language, status, category, parameter_format,
                  body_param_names as body_params, header_format, header_param_names as header_params, components,
                  missing_since, synced_at, (status = 'APPROVED' and missing_since is null) as "usable!"
           from templates
           where org_id = $1 and ($2::text is null or name = $2) and ($3::text is null or language = $3)
             and ($4::text is null or status = $4) and ($5::text is null or waba_id = $5)
           order by name, language, waba_id, id"#,
        org.0,
        filter.name,
        filter.language,
        filter.status,
        filter.waba_id
    )
    .fetch_all(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, org: OrgId, id: i64) -> sqlx::Result<Option<Template>> {
    sqlx::query_as!(
        Template,
        r#"select id, waba_id, meta_template_id, name, language, status, category, parameter_format,
                  body_param_names as body_params, header_format, header_param_names as header_params, components,
                  missing_since, synced_at, (status = 'APPROVED' and missing_since is null) as "usable!"
           from templates where org_id = $1 and id = $2"#,
        org.0,
        id
    )
    .fetch_optional(db)
    .await
}

/// Stores a complete listing of one WABA, in the caller's transaction: upserts
/// every listed template (`updated_at` moves only when something changed) and
/// marks the others missing. Concurrent syncs of the same WABA queue up.
pub async fn sync_waba(
    tx: &mut PgConnection,
    org: OrgId,
    waba_id: &str,
    listed: &[SyncedTemplate],
) -> sqlx::Result<SyncCounts> {
    sqlx::query_scalar!(
        r#"select 1 as "locked!" from pg_advisory_xact_lock(hashtextextended('templates.sync:' || $1::bigint || ':' || $2, 0))"#,
        org.0,
        waba_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let mut counts = SyncCounts::default();
    for t in listed {
        match upsert(&mut *tx, org, waba_id, t).await? {
            Some(true) => counts.added += 1,
            Some(false) => counts.updated += 1,
            None => counts.unchanged += 1,
        }
    }
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    let languages: Vec<&str> = listed.iter().map(|t| t.language.as_str()).collect();
    sqlx::query!(
        r#"update templates set synced_at = now()
           where org_id = $1 and waba_id = $2
             and (name, language) in (select * from unnest($3::text[], $4::text[]))"#,
        org.0,
        waba_id,
        &names as &[&str],
        &languages as &[&str]
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        r#"update templates set missing_since = now(), updated_at = now()
           where org_id = $1 and waba_id = $2 and missing_since is null
             and (name, language) not in (select * from unnest($3::text[], $4::text[]))"#,
        org.0,
        waba_id,
        &names as &[&str],
        &languages as &[&str]
    )
    .execute(&mut *tx)
    .await?;
    counts.missing = sqlx::query!(
        r#"select name, language from templates
           where org_id = $1 and waba_id = $2 and missing_since is not null order by name, language"#,
        org.0,
        waba_id
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| (r.name, r.language))
    .collect();
    Ok(counts)
}

/// `Some(true)` when inserted, `Some(false)` when changed, `None` when it was
/// already stored as listed (the conditional update then touches nothing).
async fn upsert(tx: &mut PgConnection, org: OrgId, waba_id: &str, t: &SyncedTemplate) -> sqlx::Result<Option<bool>> {
    let row = sqlx::query_scalar!(
        r#"insert into templates as t (org_id, waba_id, meta_template_id, name, language, status, category,
                                       parameter_format, body_param_count, body_param_names, header_format,
                                       header_param_count, header_param_names, components, synced_at, missing_since)
           values ($1, $2, $3, $4, $5, $6, $7, $8, cardinality($9::text[]), $9, $10, cardinality($11::text[]), $11,
                   $12, now(), null)
           on conflict (org_id, waba_id, name, language) do update set
               meta_template_id = excluded.meta_template_id, status = excluded.status,
               category = excluded.category, parameter_format = excluded.parameter_format,
               body_param_count = excluded.body_param_count, body_param_names = excluded.body_param_names,
               header_format = excluded.header_format, header_param_count = excluded.header_param_count,
               header_param_names = excluded.header_param_names, components = excluded.components,
               missing_since = null, updated_at = now()
           where (t.meta_template_id, t.status, t.category, t.parameter_format, t.body_param_names,
                  t.header_format, t.header_param_names, t.components, t.missing_since is null)
                 is distinct from
                 (excluded.meta_template_id, excluded.status, excluded.category, excluded.parameter_format,
                  excluded.body_param_names, excluded.header_format, excluded.header_param_names,
                  excluded.components, true)
           returning (xmax = 0) as "inserted!""#,
        org.0,
        waba_id,
        t.meta_template_id,
        t.name,
        t.language,
        t.status,
        t.category,
        t.parameter_format,
        &t.body_param_names,
        t.header_format,
        &t.header_param_names,
        t.components
    )
    .fetch_optional(tx)
    .await?;
    Ok(row)
}

/// What a template status webhook changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusChange {
    /// Our templates with that Meta id.
    pub templates: u64,
    /// Campaigns paused because the template can no longer be sent.
    pub paused: Vec<i64>,
    /// Campaigns resumed because the template is approved again.
    pub resumed: Vec<i64>,
}

/// Applies a `message_template_status_update` webhook: the template's status
/// and reason, then every scheduled or active campaign using it is paused
/// (with a readable reason and the stable code `template_<status>`) when the
/// template can no longer be sent, or resumed when Meta approves it again
/// and our pause was the template's. `FLAGGED` (a quality warning) only
/// records the reason.
///
/// Only the templates of `waba_id` owned by the organization of the number
/// `signer` (whose app secret verified the webhook, and which is on that
/// WABA) change: a number of another organization, even one registered on
/// the same WABA id, changes nothing.
pub async fn apply_status_update(
    tx: &mut sqlx::PgConnection,
    waba_id: &str,
    signer: &str,
    meta_template_id: &str,
    event: &str,
    reason: Option<&str>,
) -> sqlx::Result<StatusChange> {
    let event = event.to_ascii_uppercase();
    let status = match event.as_str() {
        "FLAGGED" => None,
        "REINSTATED" => Some("APPROVED"),
        other => Some(other),
    };
    let reason = reason.filter(|r| !r.is_empty() && *r != "NONE");
    let ids = sqlx::query_scalar!(
        r#"update templates set status = coalesce($2, status),
                  status_reason = case when $2::text is null then coalesce($3, status_reason) else $3 end,
                  updated_at = now()
           where meta_template_id = $1 and waba_id = $4
             and org_id = (select org_id from wa_numbers where phone_number_id = $5 and waba_id = $4)
           returning id"#,
        meta_template_id,
        status,
        reason,
        waba_id,
        signer
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut change = StatusChange { templates: ids.len() as u64, ..StatusChange::default() };
    match status {
        Some("APPROVED") => {
            change.resumed = sqlx::query_scalar!(
                r#"update campaigns set paused_at = null, pause_reason = null, pause_code = null, updated_at = now()
                   where template_id = any($1) and lifecycle in ('scheduled', 'active')
                     and paused_at is not null and pause_code like 'template\_%'
                   returning id"#,
                &ids
            )
            .fetch_all(&mut *tx)
            .await?;
        }
        Some(blocked @ ("PAUSED" | "DISABLED" | "REJECTED" | "PENDING_DELETION" | "DELETED" | "ARCHIVED")) => {
            let code = format!("template_{}", blocked.to_ascii_lowercase());
            let text = match reason {
                Some(r) => format!("Meta set the template to {blocked} ({r}); sending stopped"),
                None => format!("Meta set the template to {blocked}; sending stopped"),
            };
            change.paused = sqlx::query_scalar!(
                r#"update campaigns set paused_at = now(), pause_reason = $2, pause_code = $3, updated_at = now()
                   where template_id = any($1) and lifecycle in ('scheduled', 'active') and paused_at is null
                   returning id"#,
                &ids,
                text,
                code
            )
            .fetch_all(&mut *tx)
            .await?;
        }
        _ => {}
    }
    Ok(change)
}
