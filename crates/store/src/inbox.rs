//! Inbox cases: while a contact has an open case an agent is attending them,
//! and campaigns do not message them (checked at send time).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::OrgId;

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct InboxCase {
    pub id: i64,
    pub contact_id: i64,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

/// Opens a case for the contact, or returns the one already open (opening is
/// idempotent, also under concurrent calls: the conflict arm returns the row
/// that won). `None` if the organization has no such contact.
pub async fn open(
    db: impl PgExecutor<'_>,
    org: OrgId,
    contact_id: i64,
    note: Option<&str>,
) -> sqlx::Result<Option<InboxCase>> {
    sqlx::query_as!(
        InboxCase,
        r#"insert into inbox_cases (org_id, contact_id, note)
           select $1, id, $3 from contacts where org_id = $1 and id = $2
           on conflict (contact_id) where closed_at is null
               do update set note = coalesce(inbox_cases.note, excluded.note)
           returning id, contact_id, opened_at, closed_at, note"#,
        org.0,
        contact_id,
        note
    )
    .fetch_optional(db)
    .await
}

/// Closes the contact's open case and returns it; `None` if none was open.
pub async fn close(db: impl PgExecutor<'_>, org: OrgId, contact_id: i64) -> sqlx::Result<Option<InboxCase>> {
    sqlx::query_as!(
        InboxCase,
        r#"update inbox_cases set closed_at = now()
           where org_id = $1 and contact_id = $2 and closed_at is null
           returning id, contact_id, opened_at, closed_at, note"#,
        org.0,
        contact_id
    )
    .fetch_optional(db)
    .await
}
