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
