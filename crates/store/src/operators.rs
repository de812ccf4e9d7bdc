//! Operator accounts of the console, their sessions and sign-in throttling.
//!
//! Passwords are kept only as Argon2id PHC strings ([`hash_password`]); a
//! session cookie carries a random token of which only the SHA-256 is stored,
//! as for API keys.

use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use rand::RngCore;
use sqlx::PgExecutor;

use crate::OrgId;

/// A session lasts at most this long, however active.
pub const SESSION_LIFETIME_HOURS: i32 = 7 * 24;
/// A session unused for this long has ended.
pub const SESSION_IDLE_HOURS: i32 = 12;

/// What an operator may do: `Admin` also manages accounts and API keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Operator,
}

impl Role {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "admin" => Some(Self::Admin),
            "operator" => Some(Self::Operator),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Operator => "operator",
        }
    }
}

/// An account as the console lists it.
#[derive(Debug, Clone)]
pub struct Operator {
    pub id: i64,
    pub email: String,
    pub role: String,
    pub locale: Option<String>,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

/// Why an account could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The Argon2id PHC string of a password (with a random salt). CPU-heavy by
/// design: call it off the async executor (`spawn_blocking`).
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 with default parameters").to_string()
}

/// Whether `password` matches a stored PHC string (constant time in the
/// password). CPU-heavy, as [`hash_password`].
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

/// A random password for a new account, shown once: 16 base64url characters (96 bits).
pub fn generate_password() -> String {
    let mut bytes = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub async fn create(
    db: impl PgExecutor<'_>,
    org: OrgId,
    email: &str,
    role: Role,
    password_hash: &str,
) -> Result<i64, CreateError> {
    sqlx::query_scalar!(
        "insert into operators (org_id, email, role, password_hash) values ($1, $2, $3, $4) returning id",
        org.0,
        email,
        role.as_str(),
        password_hash
    )
    .fetch_one(db)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.constraint() == Some("operators_email") => CreateError::EmailTaken,
        _ => CreateError::Db(e),
    })
}

/// An account's email as stored (trimmed, in lower case), or why it is not one.
pub fn parse_email(raw: &str) -> Result<String, &'static str> {
    let email = raw.trim().to_lowercase();
    if email.len() < 3 || email.len() > 254 || !email.contains('@') || email.chars().any(|c| c.is_control() || c == ' ')
    {
        return Err("an email address, like ana@example.com");
    }
    Ok(email)
}

/// What [`set_disabled`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disable {
    Done,
    /// No such account in the organization.
    NotFound,
    /// It is the organization's last active admin: someone must manage accounts.
    LastAdmin,
}

/// Disables an account of the organization (ending its sessions) or enables
/// it again. The organization's last active admin is never disabled; the
/// organization's accounts are locked while this is checked, so two admins
/// disabling each other cannot both succeed.
pub async fn set_disabled(db: &crate::PgPool, org: OrgId, id: i64, disabled: bool) -> sqlx::Result<Disable> {
    let mut tx = db.begin().await?;
    let accounts = sqlx::query!(
        "select id, role, disabled_at is not null as \"disabled!\" from operators where org_id = $1 order by id for update",
        org.0
    )
    .fetch_all(&mut *tx)
    .await?;
    let Some(account) = accounts.iter().find(|a| a.id == id) else { return Ok(Disable::NotFound) };
    if disabled
        && account.role == Role::Admin.as_str()
        && !accounts.iter().any(|a| a.id != id && a.role == Role::Admin.as_str() && !a.disabled)
    {
        return Ok(Disable::LastAdmin);
    }
    sqlx::query!(
        "update operators set disabled_at = case when $3 then coalesce(disabled_at, now()) end where org_id = $1 and id = $2",
        org.0,
        id,
        disabled
    )
    .execute(&mut *tx)
    .await?;
    if disabled {
        sqlx::query!("delete from console_sessions where operator_id = $1", id).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(Disable::Done)
}

pub async fn list(db: impl PgExecutor<'_>, org: OrgId) -> sqlx::Result<Vec<Operator>> {
    sqlx::query_as!(
        Operator,
        "select id, email, role, locale, created_at, disabled_at from operators where org_id = $1 order by email",
        org.0
    )
    .fetch_all(db)
    .await
}

/// What a sign-in needs to know about an email's account.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub id: i64,
    pub password_hash: String,
    pub disabled: bool,
}

pub async fn credentials(db: impl PgExecutor<'_>, email: &str) -> sqlx::Result<Option<Credentials>> {
    sqlx::query_as!(
        Credentials,
        r#"select id, password_hash, disabled_at is not null as "disabled!" from operators where email = $1"#,
        email
    )
    .fetch_optional(db)
    .await
}

/// Failed sign-ins within the last `minutes`: for this email, and from this client.
pub async fn recent_failures(
    db: impl PgExecutor<'_>,
    email: &str,
    client: &str,
    minutes: i32,
) -> sqlx::Result<(i64, i64)> {
    let row = sqlx::query!(
        r#"select count(*) filter (where email = $1) as "email!", count(*) filter (where client = $2) as "client!"
           from sign_in_failures
           where at > now() - make_interval(mins => $3) and (email = $1 or client = $2)"#,
        email,
        client,
        minutes
    )
    .fetch_one(db)
    .await?;
    Ok((row.email, row.client))
}

/// Records a failed sign-in and forgets those older than `minutes`.
pub async fn record_failure(db: &crate::PgPool, email: &str, client: &str, minutes: i32) -> sqlx::Result<()> {
    sqlx::query!("insert into sign_in_failures (email, client) values ($1, $2)", email, client).execute(db).await?;
    sqlx::query!("delete from sign_in_failures where at < now() - make_interval(mins => $1)", minutes)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn clear_failures(db: impl PgExecutor<'_>, email: &str) -> sqlx::Result<()> {
    sqlx::query!("delete from sign_in_failures where email = $1", email).execute(db).await?;
    Ok(())
}

/// A new session: the cookie's token (the only copy) and the CSRF token its forms carry.
#[derive(Clone)]
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession").finish_non_exhaustive()
    }
}

/// 256 random bits, base64url: session and CSRF tokens.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub async fn start_session(db: impl PgExecutor<'_>, operator_id: i64) -> sqlx::Result<NewSession> {
    let session = NewSession { token: random_token(), csrf_token: random_token() };
    sqlx::query!(
        "insert into console_sessions (token_hash, operator_id, csrf_token, expires_at)
         values ($1, $2, $3, now() + make_interval(hours => $4))",
        crate::api_keys::hash(&session.token),
        operator_id,
        session.csrf_token,
        SESSION_LIFETIME_HOURS
    )
    .execute(db)
    .await?;
    Ok(session)
}

/// The signed-in operator of a live session.
#[derive(Clone)]
pub struct Session {
    pub operator_id: i64,
    pub org: OrgId,
    pub email: String,
    pub role: Role,
    pub locale: Option<String>,
    pub csrf_token: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("operator_id", &self.operator_id)
            .field("org", &self.org)
            .finish_non_exhaustive()
    }
}

/// The session a cookie's token names, if it is live (not expired, not idle
/// too long, its account not disabled); marks it used.
pub async fn session(db: impl PgExecutor<'_>, token: &str) -> sqlx::Result<Option<Session>> {
    let row = sqlx::query!(
        r#"update console_sessions s set last_seen_at = now()
           from operators o
           where s.token_hash = $1 and o.id = s.operator_id and o.disabled_at is null
             and s.expires_at > now() and s.last_seen_at > now() - make_interval(hours => $2)
           returning o.id, o.org_id, o.email, o.role, o.locale, s.csrf_token"#,
        crate::api_keys::hash(token),
        SESSION_IDLE_HOURS
    )
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(|r| {
        Some(Session {
            operator_id: r.id,
            org: OrgId(r.org_id),
            email: r.email,
            role: Role::parse(&r.role)?,
            locale: r.locale,
            csrf_token: r.csrf_token,
        })
    }))
}

/// Whether a session is still live, without marking it used (a long-lived
/// page stream checks it now and then).
pub async fn session_live(db: impl PgExecutor<'_>, token: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (
               select 1 from console_sessions s join operators o on o.id = s.operator_id
               where s.token_hash = $1 and o.disabled_at is null
                 and s.expires_at > now() and s.last_seen_at > now() - make_interval(hours => $2)) as "live!""#,
        crate::api_keys::hash(token),
        SESSION_IDLE_HOURS
    )
    .fetch_one(db)
    .await
}

pub async fn end_session(db: impl PgExecutor<'_>, token: &str) -> sqlx::Result<()> {
    sqlx::query!("delete from console_sessions where token_hash = $1", crate::api_keys::hash(token))
        .execute(db)
        .await?;
    Ok(())
}

/// Signs the operator out of every browser.
pub async fn end_all_sessions(db: impl PgExecutor<'_>, operator_id: i64) -> sqlx::Result<u64> {
    Ok(sqlx::query!("delete from console_sessions where operator_id = $1", operator_id)
        .execute(db)
        .await?
        .rows_affected())
}

/// Sets the account's console language (`None`: follow the browser).
pub async fn set_locale(db: impl PgExecutor<'_>, operator_id: i64, locale: Option<&str>) -> sqlx::Result<()> {
    sqlx::query!("update operators set locale = $2 where id = $1", operator_id, locale).execute(db).await?;
    Ok(())
}
