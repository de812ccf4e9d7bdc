//! Bot flows: the endpoints campaign replies are forwarded to. The signing
//! secret is write-only: stored encrypted, out of [`BotFlow`], and only
//! [`secret`] (for the reply worker) decrypts it.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};

use crate::{
    OrgId,
    crypto::{Cipher, CipherError},
    in_use::{CampaignRef, Removal},
};

/// The unique constraint on (org_id, name).
pub const UNIQUE_NAME: &str = "bot_flows_org_id_name_key";

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct BotFlow {
    pub id: i64,
    pub name: String,
    pub endpoint_url: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new flow; `Debug` leaves the secret out.
pub struct NewBotFlow<'a> {
    pub name: &'a str,
    pub endpoint_url: &'a str,
    pub secret: &'a str,
}

/// A partial update; `None` leaves a field as it is. `Debug` leaves the secret out.
#[derive(Default)]
pub struct BotFlowChanges<'a> {
    pub name: Option<&'a str>,
    pub endpoint_url: Option<&'a str>,
    pub secret: Option<&'a str>,
}

impl std::fmt::Debug for NewBotFlow<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewBotFlow")
            .field("name", &self.name)
            .field("endpoint_url", &self.endpoint_url)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for BotFlowChanges<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotFlowChanges")
            .field("name", &self.name)
            .field("endpoint_url", &self.endpoint_url)
            .field("secret_changed", &self.secret.is_some())
            .finish()
    }
}

/// The encryption context of a flow's secret (see [`Cipher`]).
fn secret_context(org: OrgId) -> String {
    format!("bot_flows.secret:org={}", org.0)
}

pub async fn create(
    db: impl PgExecutor<'_>,
    cipher: &Cipher,
    org: OrgId,
    new: &NewBotFlow<'_>,
) -> sqlx::Result<BotFlow> {
    sqlx::query_as!(
        BotFlow,
        r#"insert into bot_flows (org_id, name, endpoint_url, secret_enc) values ($1, $2, $3, $4)
           returning id, name, endpoint_url, created_at, updated_at"#,
        org.0,
        new.name,
        new.endpoint_url,
        cipher.encrypt(&secret_context(org), new.secret)
    )
    .fetch_one(db)
    .await
}

pub async fn list(db: impl PgExecutor<'_>, org: OrgId) -> sqlx::Result<Vec<BotFlow>> {
    sqlx::query_as!(
        BotFlow,
        "select id, name, endpoint_url, created_at, updated_at from bot_flows where org_id = $1 order by name, id",
        org.0
    )
    .fetch_all(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, org: OrgId, id: i64) -> sqlx::Result<Option<BotFlow>> {
    sqlx::query_as!(
        BotFlow,
        "select id, name, endpoint_url, created_at, updated_at from bot_flows where org_id = $1 and id = $2",
        org.0,
        id
    )
    .fetch_optional(db)
    .await
}

pub async fn update(
    db: impl PgExecutor<'_>,
    cipher: &Cipher,
    org: OrgId,
    id: i64,
    changes: &BotFlowChanges<'_>,
) -> sqlx::Result<Option<BotFlow>> {
    sqlx::query_as!(
        BotFlow,
        r#"update bot_flows set
               name = coalesce($3, name),
               endpoint_url = coalesce($4, endpoint_url),
               secret_enc = coalesce($5, secret_enc),
               updated_at = now()
           where org_id = $1 and id = $2
           returning id, name, endpoint_url, created_at, updated_at"#,
        org.0,
        id,
        changes.name,
        changes.endpoint_url,
        changes.secret.map(|s| cipher.encrypt(&secret_context(org), s))
    )
    .fetch_optional(db)
    .await
}

/// Deletes a flow unless an active or scheduled campaign uses it; in the same
/// transaction the other campaigns that pointed at it lose it (they become
/// Draft again).
pub async fn delete(pg: &PgPool, org: OrgId, id: i64) -> sqlx::Result<Removal> {
    let mut tx = pg.begin().await?;
    // Locking the flow first makes a concurrent campaign edit that points at
    // it wait for us, then fail its foreign-key check.
    let found = sqlx::query_scalar!("select id from bot_flows where org_id = $1 and id = $2 for update", org.0, id)
        .fetch_optional(&mut *tx)
        .await?;
    if found.is_none() {
        return Ok(Removal::NotFound);
    }
    let users = sqlx::query_as!(
        CampaignRef,
        r#"select id, name, lifecycle from campaigns where org_id = $1 and bot_flow_id = $2 order by id for update"#,
        org.0,
        id
    )
    .fetch_all(&mut *tx)
    .await?;
    let blocking: Vec<CampaignRef> = users.into_iter().filter(CampaignRef::is_running).collect();
    if !blocking.is_empty() {
        return Ok(Removal::InUse(blocking));
    }
    sqlx::query!(
        "update campaigns set bot_flow_id = null, updated_at = now() where org_id = $1 and bot_flow_id = $2",
        org.0,
        id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("delete from bot_flows where org_id = $1 and id = $2", org.0, id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(Removal::Deleted)
}

/// The decrypted signing secret of a flow, for the reply worker only.
pub async fn secret(
    db: impl PgExecutor<'_>,
    cipher: &Cipher,
    org: OrgId,
    id: i64,
) -> Result<Option<String>, SecretError> {
    let stored = sqlx::query_scalar!("select secret_enc from bot_flows where org_id = $1 and id = $2", org.0, id)
        .fetch_optional(db)
        .await?;
    Ok(stored.map(|enc| decrypt_secret(cipher, org, &enc)).transpose()?)
}

/// Decrypts a flow's `secret_enc` read with other columns.
pub fn decrypt_secret(cipher: &Cipher, org: OrgId, secret_enc: &[u8]) -> Result<String, CipherError> {
    cipher.decrypt(&secret_context(org), secret_enc)
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Cipher(#[from] CipherError),
}
