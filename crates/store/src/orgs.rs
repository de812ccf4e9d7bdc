//! Organizations (tenants).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::OrgId;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Organization {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

pub async fn create(db: impl PgExecutor<'_>, name: &str) -> sqlx::Result<Organization> {
    sqlx::query_as!(Organization, "insert into organizations (name) values ($1) returning id, name, created_at", name)
        .fetch_one(db)
        .await
}

pub async fn get(db: impl PgExecutor<'_>, org: OrgId) -> sqlx::Result<Option<Organization>> {
    sqlx::query_as!(Organization, "select id, name, created_at from organizations where id = $1", org.0)
        .fetch_optional(db)
        .await
}

/// What an organization configures for itself: where replies from contacts
/// no campaign engages go, and the words that opt a contact out.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct OrganizationSettings {
    pub id: i64,
    pub name: String,
    /// The bot flow that receives messages from contacts no campaign engages; `null`: none (recorded as unattributed).
    pub default_bot_flow_id: Option<i64>,
    /// Upper-case words; a reply that is one of them opts the contact out of future campaigns.
    pub opt_out_keywords: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// A partial update; `None` leaves a field as it is, `Some(None)` clears the default bot flow.
#[derive(Debug, Default)]
pub struct SettingsChanges {
    pub default_bot_flow_id: Option<Option<i64>>,
    /// Already normalised (upper-cased, deduplicated).
    pub opt_out_keywords: Option<Vec<String>>,
}

/// The outcome of [`update_settings`].
#[derive(Debug, Clone)]
pub enum SettingsUpdate {
    Updated(OrganizationSettings),
    /// `default_bot_flow_id` is not a bot flow of this organization: nothing changed.
    UnknownBotFlow,
}

pub async fn settings(db: impl PgExecutor<'_>, org: OrgId) -> sqlx::Result<Option<OrganizationSettings>> {
    sqlx::query_as!(
        OrganizationSettings,
        "select id, name, default_bot_flow_id, opt_out_keywords, created_at from organizations where id = $1",
        org.0
    )
    .fetch_optional(db)
    .await
}

/// Changes the settings in one statement that also checks the bot flow is
/// the organization's, so a flow of another tenant can never be set.
pub async fn update_settings(
    db: impl PgExecutor<'_>,
    org: OrgId,
    changes: &SettingsChanges,
) -> sqlx::Result<SettingsUpdate> {
    let flow = changes.default_bot_flow_id.flatten();
    let row = sqlx::query_as!(
        OrganizationSettings,
        r#"update organizations set
               default_bot_flow_id = case when $2 then $3 else default_bot_flow_id end,
               opt_out_keywords = coalesce($4, opt_out_keywords)
           where id = $1
             and ($3::bigint is null or exists (select 1 from bot_flows where org_id = $1 and id = $3))
           returning id, name, default_bot_flow_id, opt_out_keywords, created_at"#,
        org.0,
        changes.default_bot_flow_id.is_some(),
        flow,
        changes.opt_out_keywords.as_deref()
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map_or(SettingsUpdate::UnknownBotFlow, SettingsUpdate::Updated))
}
