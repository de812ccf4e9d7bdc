//! API keys: random bearer tokens, stored as SHA-256 hashes.
//!
//! A key looks like `wce_<43 base64url chars>` (256 bits of randomness). Only
//! its hash and a short display prefix are stored; the full key is shown once,
//! when it is created.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgExecutor;

use crate::OrgId;

/// The scope that allows managing API keys (and later, operator actions).
pub const SCOPE_ADMIN: &str = "admin";
const KEY_PREFIX: &str = "wce_";

/// A newly created key: `secret` is the only copy of the full key (and is
/// left out of `Debug`).
pub struct NewKey {
    pub key: ApiKey,
    pub secret: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey").field("key", &self.key).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Who is calling, once a bearer key has been checked.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org: OrgId,
    pub key_id: i64,
    pub scopes: Vec<String>,
}

impl Caller {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Why a presented key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRejection {
    Unknown,
    Revoked,
}

pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub async fn create(db: impl PgExecutor<'_>, org: OrgId, name: &str, scopes: &[String]) -> sqlx::Result<NewKey> {
    let secret = generate_secret();
    let prefix: String = secret.chars().take(KEY_PREFIX.len() + 6).collect();
    let key = sqlx::query_as!(
        ApiKey,
        r#"insert into api_keys (org_id, name, prefix, key_hash, scopes) values ($1, $2, $3, $4, $5)
           returning id, name, prefix, scopes, created_at, last_used_at, revoked_at"#,
        org.0,
        name,
        prefix,
        hash(&secret),
        scopes
    )
    .fetch_one(db)
    .await?;
    Ok(NewKey { key, secret })
}

/// Checks a presented key in one round trip, and records when it was last
/// used (at most once a minute, so reads stay cheap).
pub async fn authenticate(db: impl PgExecutor<'_>, secret: &str) -> sqlx::Result<Result<Caller, KeyRejection>> {
    if !secret.starts_with(KEY_PREFIX) {
        return Ok(Err(KeyRejection::Unknown));
    }
    let row = sqlx::query!(
        r#"with k as (select id, org_id, scopes, revoked_at from api_keys where key_hash = $1),
                touch as (update api_keys set last_used_at = now()
                          where id = (select id from k) and revoked_at is null
                            and (last_used_at is null or last_used_at < now() - interval '1 minute'))
           select id as "id!", org_id as "org_id!", scopes as "scopes!", revoked_at from k"#,
        hash(secret)
    )
    .fetch_optional(db)
    .await?;
    Ok(match row {
        None => Err(KeyRejection::Unknown),
        Some(r) if r.revoked_at.is_some() => Err(KeyRejection::Revoked),
        Some(r) => Ok(Caller { org: OrgId(r.org_id), key_id: r.id, scopes: r.scopes }),
    })
}

pub async fn list(db: impl PgExecutor<'_>, org: OrgId) -> sqlx::Result<Vec<ApiKey>> {
    sqlx::query_as!(
        ApiKey,
        r#"select id, name, prefix, scopes, created_at, last_used_at, revoked_at
           from api_keys where org_id = $1 order by id"#,
        org.0
    )
    .fetch_all(db)
    .await
}

/// What revoking a key did.
#[derive(Debug, Clone)]
pub enum Revoke {
    Revoked(ApiKey),
    /// The organization has no such key.
    NotFound,
    /// It is the organization's last active admin key: revoking it would
    /// leave nobody able to manage the organization's keys.
    LastAdmin,
}

/// Revokes a key of the organization; revoking twice keeps the first
/// revocation time. The last active admin key is never revoked: the
/// organization's active admin keys are locked first, so two concurrent
/// revocations cannot both see the other key as the one that stays.
pub async fn revoke(db: &sqlx::PgPool, org: OrgId, id: i64) -> sqlx::Result<Revoke> {
    let mut tx = db.begin().await?;
    let revoked = sqlx::query_as!(
        ApiKey,
        r#"with admins as (
               select id from api_keys
               where org_id = $1 and revoked_at is null and $3 = any(scopes)
               for update
           )
           update api_keys k set revoked_at = coalesce(k.revoked_at, now())
           where k.org_id = $1 and k.id = $2
             and (k.revoked_at is not null or not ($3 = any(k.scopes))
                  or exists (select 1 from admins a where a.id <> $2))
           returning k.id, k.name, k.prefix, k.scopes, k.created_at, k.last_used_at, k.revoked_at"#,
        org.0,
        id,
        SCOPE_ADMIN
    )
    .fetch_optional(&mut *tx)
    .await?;
    let outcome = match revoked {
        Some(key) => Revoke::Revoked(key),
        None => {
            let exists = sqlx::query_scalar!(
                r#"select exists (select 1 from api_keys where org_id = $1 and id = $2) as "e!""#,
                org.0,
                id
            )
            .fetch_one(&mut *tx)
            .await?;
            if exists { Revoke::LastAdmin } else { Revoke::NotFound }
        }
    };
    tx.commit().await?;
    Ok(outcome)
}
