//! WhatsApp Cloud numbers. The access token and app secret are stored
//! encrypted ([`crate::crypto::Cipher`]) and never leave this module in a
//! listing: [`Number`] has no secret fields.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::{OrgId, crypto::Cipher};

/// The unique constraint on Meta's phone number id.
pub const UNIQUE_PHONE_NUMBER_ID: &str = "wa_numbers_phone_number_id_key";

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Number {
    pub id: i64,
    pub phone_number_id: String,
    pub waba_id: String,
    /// As Meta shows it, in E.164.
    pub display_number: String,
    /// From Meta's throughput level: 80 (`STANDARD`) or 1,000.
    pub throughput_per_sec: i32,
    /// Meta's messaging-limit tier, e.g. `TIER_10K`: its business portfolio's,
    /// shared by every number of the portfolio.
    pub messaging_tier: Option<String>,
    /// The business portfolio that owns the number's WABA (Meta's
    /// `owner_business_info.id`; `waba:<id>` when Meta did not say).
    pub portfolio_id: String,
    /// When the tier was last read from Meta (on registration, periodically,
    /// and after a `business_capability_update` webhook).
    pub tier_checked_at: Option<DateTime<Utc>>,
    /// The business name Meta approved for the number.
    pub verified_name: Option<String>,
    /// `GREEN`, `YELLOW`, `RED` or `UNKNOWN`.
    pub quality_rating: Option<String>,
    /// When these fields were last read from Meta.
    pub verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What Meta says about a number (read with its own token when it is
/// registered, or its token or WABA change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaNumber {
    /// E.164.
    pub display_number: String,
    pub verified_name: Option<String>,
    pub quality_rating: Option<String>,
    pub messaging_tier: Option<String>,
    pub throughput_per_sec: i32,
    /// See [`Number::portfolio_id`].
    pub portfolio_id: String,
}

/// What registering a number needs; the secrets arrive in plain text and are
/// encrypted before they touch the database. `Debug` leaves them out.
pub struct NewNumber<'a> {
    pub phone_number_id: &'a str,
    pub waba_id: &'a str,
    pub access_token: &'a str,
    pub app_secret: &'a str,
    pub meta: &'a MetaNumber,
}

/// A partial update; `None` leaves a field as it is. `Debug` leaves secrets out.
#[derive(Default)]
pub struct NumberChanges<'a> {
    pub waba_id: Option<&'a str>,
    pub access_token: Option<&'a str>,
    pub app_secret: Option<&'a str>,
    /// Meta's answer, when the change was verified with Meta.
    pub meta: Option<&'a MetaNumber>,
}

impl std::fmt::Debug for NewNumber<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewNumber")
            .field("phone_number_id", &self.phone_number_id)
            .field("waba_id", &self.waba_id)
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for NumberChanges<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NumberChanges")
            .field("waba_id", &self.waba_id)
            .field("meta", &self.meta)
            .field("access_token_changed", &self.access_token.is_some())
            .field("app_secret_changed", &self.app_secret.is_some())
            .finish()
    }
}

/// The encryption contexts of a number's secrets (see [`Cipher`]).
fn token_context(org: OrgId) -> String {
    format!("wa_numbers.access_token:org={}", org.0)
}

fn secret_context(org: OrgId) -> String {
    format!("wa_numbers.app_secret:org={}", org.0)
}

pub async fn create(db: impl PgExecutor<'_>, cipher: &Cipher, org: OrgId, new: &NewNumber<'_>) -> sqlx::Result<Number> {
    sqlx::query_as!(
        Number,
        r#"insert into wa_numbers (org_id, phone_number_id, waba_id, display_number, access_token_enc,
                                   app_secret_enc, throughput_per_sec, messaging_tier, verified_name,
                                   quality_rating, verified_at, portfolio_id, tier_checked_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now(), $11, now())
           returning id, phone_number_id, waba_id, display_number, throughput_per_sec, messaging_tier,
                     portfolio_id, tier_checked_at, verified_name, quality_rating, verified_at, created_at,
                     updated_at"#,
        org.0,
        new.phone_number_id,
        new.waba_id,
        new.meta.display_number,
        cipher.encrypt(&token_context(org), new.access_token),
        cipher.encrypt(&secret_context(org), new.app_secret),
        new.meta.throughput_per_sec,
        new.meta.messaging_tier,
        new.meta.verified_name,
        new.meta.quality_rating,
        new.meta.portfolio_id
    )
    .fetch_one(db)
    .await
}

pub async fn list(db: impl PgExecutor<'_>, org: OrgId) -> sqlx::Result<Vec<Number>> {
    sqlx::query_as!(
        Number,
        r#"select id, phone_number_id, waba_id, display_number, throughput_per_sec, messaging_tier,
                  portfolio_id, tier_checked_at, verified_name, quality_rating, verified_at, created_at,
                  updated_at
           from wa_numbers where org_id = $1 order by id"#,
        org.0
    )
    .fetch_all(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, org: OrgId, id: i64) -> sqlx::Result<Option<Number>> {
    sqlx::query_as!(
        Number,
        r#"select id, phone_number_id, waba_id, display_number, throughput_per_sec, messaging_tier,
                  portfolio_id, tier_checked_at, verified_name, quality_rating, verified_at, created_at,
                  updated_at
           from wa_numbers where org_id = $1 and id = $2"#,
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
    changes: &NumberChanges<'_>,
) -> sqlx::Result<Option<Number>> {
    sqlx::query_as!(
        Number,
        r#"update wa_numbers set
               waba_id = coalesce($3, waba_id),
               access_token_enc = coalesce($4, access_token_enc),
               app_secret_enc = coalesce($5, app_secret_enc),
               display_number = case when $6 then $7 else display_number end,
               throughput_per_sec = case when $6 then $8 else throughput_per_sec end,
               messaging_tier = case when $6 then $9 else messaging_tier end,
               verified_name = case when $6 then $10 else verified_name end,
               quality_rating = case when $6 then $11 else quality_rating end,
               verified_at = case when $6 then now() else verified_at end,
               portfolio_id = case when $6 then $12 else portfolio_id end,
               tier_checked_at = case when $6 then now() else tier_checked_at end,
               updated_at = now()
           where org_id = $1 and id = $2
           returning id, phone_number_id, waba_id, display_number, throughput_per_sec, messaging_tier,
                     portfolio_id, tier_checked_at, verified_name, quality_rating, verified_at, created_at,
                     updated_at"#,
        org.0,
        id,
        changes.waba_id,
        changes.access_token.map(|t| cipher.encrypt(&token_context(org), t)),
        changes.app_secret.map(|s| cipher.encrypt(&secret_context(org), s)),
        changes.meta.is_some(),
        changes.meta.map(|m| m.display_number.as_str()),
        changes.meta.map(|m| m.throughput_per_sec),
        changes.meta.and_then(|m| m.messaging_tier.as_deref()),
        changes.meta.and_then(|m| m.verified_name.as_deref()),
        changes.meta.and_then(|m| m.quality_rating.as_deref()),
        changes.meta.map(|m| m.portfolio_id.as_str())
    )
    .fetch_optional(db)
    .await
}

/// A number whose messaging tier is due to be read from Meta again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierCheck {
    pub org_id: i64,
    pub id: i64,
    pub phone_number_id: String,
    /// Encrypted: [`decrypt_access_token`].
    pub access_token_enc: Vec<u8>,
}

/// Up to `limit` numbers whose tier was never read, was read longer than
/// `every` ago, or was marked stale by a webhook; each is stamped so another
/// worker does not read it at the same time (a failed read is tried again
/// after `every`).
pub async fn claim_tier_checks(
    db: impl PgExecutor<'_>,
    every: std::time::Duration,
    limit: i64,
) -> sqlx::Result<Vec<TierCheck>> {
    sqlx::query_as!(
        TierCheck,
        r#"with due as (
               select id from wa_numbers
               where tier_checked_at is null or tier_checked_at < now() - make_interval(secs => $1)
               order by tier_checked_at nulls first
               limit $2
               for update skip locked
           )
           update wa_numbers n set tier_checked_at = now()
           from due where n.id = due.id
           returning n.org_id, n.id, n.phone_number_id, n.access_token_enc"#,
        every.as_secs_f64(),
        limit
    )
    .fetch_all(db)
    .await
}

/// Marks a number's tier for reading from Meta soon; returns its portfolio.
pub async fn tier_stale(db: impl PgExecutor<'_>, phone_number_id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        r#"update wa_numbers set tier_checked_at = null
           where phone_number_id = $1 returning portfolio_id"#,
        phone_number_id
    )
    .fetch_optional(db)
    .await
}

/// Records the tier Meta reported for a number; returns whether it changed.
pub async fn set_tier(db: impl PgExecutor<'_>, id: i64, tier: Option<&str>) -> sqlx::Result<bool> {
    let changed = sqlx::query_scalar!(
        r#"update wa_numbers set messaging_tier = $2, tier_checked_at = now(),
                  updated_at = case when messaging_tier is distinct from $2 then now() else updated_at end
           where id = $1
           returning true as "changed!""#,
        id,
        tier
    )
    .fetch_optional(db)
    .await?;
    Ok(changed.is_some())
}

/// A `business_capability_update` for a WABA, verified with the secret of
/// `signer` (a phone number id): the tier of every number of the signer's
/// organization in the same portfolio as that WABA is set (when the webhook
/// named one) and read again from Meta soon. Returns how many numbers.
pub async fn capability_changed(
    db: impl PgExecutor<'_>,
    signer: &str,
    waba_id: &str,
    tier: Option<&str>,
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        r#"update wa_numbers n set messaging_tier = coalesce($3, n.messaging_tier), tier_checked_at = null,
                  updated_at = now()
           from wa_numbers s
           where s.phone_number_id = $1 and s.waba_id = $2 and n.org_id = s.org_id
             and (n.waba_id = $2 or n.portfolio_id = s.portfolio_id)"#,
        signer,
        waba_id,
        tier
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// A WABA of the organization and the number whose token is used for its
/// management calls (template listing): the oldest number on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WabaNumber {
    pub waba_id: String,
    pub number_id: i64,
}

/// Every distinct WABA of the organization's numbers, in WABA order.
pub async fn wabas(db: impl PgExecutor<'_>, org: OrgId) -> sqlx::Result<Vec<WabaNumber>> {
    sqlx::query_as!(
        WabaNumber,
        r#"select distinct on (waba_id) waba_id, id as number_id
           from wa_numbers where org_id = $1 order by waba_id, id"#,
        org.0
    )
    .fetch_all(db)
    .await
}

/// Deletes a number; `false` if there was none. Fails with a foreign-key
/// violation while a campaign still uses it.
pub async fn delete(db: impl PgExecutor<'_>, org: OrgId, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query!("delete from wa_numbers where org_id = $1 and id = $2", org.0, id).execute(db).await?;
    Ok(done.rows_affected() == 1)
}

/// The decrypted credentials of a number, for the Cloud API client and the
/// webhook signature check. Kept out of [`Number`] so they cannot be
/// serialised by accident.
#[derive(Clone)]
pub struct Credentials {
    pub access_token: String,
    pub app_secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials([redacted])")
    }
}

/// Decrypts a number's stored access token (`wa_numbers.access_token_enc`),
/// for callers that read the column in a query of their own.
pub fn decrypt_access_token(cipher: &Cipher, org: OrgId, stored: &[u8]) -> Result<String, crate::crypto::CipherError> {
    cipher.decrypt(&token_context(org), stored)
}

pub async fn credentials(
    db: impl PgExecutor<'_>,
    cipher: &Cipher,
    org: OrgId,
    id: i64,
) -> Result<Option<Credentials>, CredentialsError> {
    let row = sqlx::query!(
        "select access_token_enc, app_secret_enc from wa_numbers where org_id = $1 and id = $2",
        org.0,
        id
    )
    .fetch_optional(db)
    .await?;
    row.map(|r| {
        Ok(Credentials {
            access_token: cipher.decrypt(&token_context(org), &r.access_token_enc)?,
            app_secret: cipher.decrypt(&secret_context(org), &r.app_secret_enc)?,
        })
    })
    .transpose()
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Cipher(#[from] crate::crypto::CipherError),
}

/// A registered number's app secret, decrypted, for the webhook signature
/// check. `Debug` leaves the secret out.
#[derive(Clone)]
pub struct WebhookSecret {
    pub phone_number_id: String,
    pub waba_id: String,
    pub app_secret: String,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSecret")
            .field("phone_number_id", &self.phone_number_id)
            .field("waba_id", &self.waba_id)
            .finish_non_exhaustive()
    }
}

/// The app secrets of the numbers with these Meta phone number ids, and of
/// every number on these WABAs, oldest number first.
///
/// The one number query not scoped by organization: a webhook arrives with
/// Meta's ids only. Each secret still decrypts only in its own
/// organization's context.
pub async fn webhook_secrets(
    db: impl PgExecutor<'_>,
    cipher: &Cipher,
    phone_number_ids: &[String],
    waba_ids: &[String],
) -> Result<Vec<WebhookSecret>, CredentialsError> {
    let rows = sqlx::query!(
        r#"select org_id, phone_number_id, waba_id, app_secret_enc from wa_numbers
           where phone_number_id = any($1) or waba_id = any($2)
           order by id"#,
        phone_number_ids,
        waba_ids
    )
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(WebhookSecret {
                app_secret: cipher.decrypt(&secret_context(OrgId(r.org_id)), &r.app_secret_enc)?,
                phone_number_id: r.phone_number_id,
                waba_id: r.waba_id,
            })
        })
        .collect()
}
