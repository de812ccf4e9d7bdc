//! Header media: the bytes (kept so an expired Meta media id can be replaced
//! by uploading them again) and the current Meta media id with its expiry.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::{PgExecutor, PgPool};

use crate::{
    OrgId,
    in_use::{CampaignRef, Removal},
};

/// A media asset without its bytes.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct MediaAsset {
    pub id: i64,
    /// The number it was uploaded for: Meta media ids are usable by that number.
    pub number_id: i64,
    /// `image` or `video`.
    pub kind: String,
    pub mime_type: String,
    pub filename: Option<String>,
    pub size_bytes: i64,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    pub meta_media_id: Option<String>,
    pub meta_uploaded_at: Option<DateTime<Utc>>,
    /// Meta deletes uploaded media after 30 days; the id is useless after this.
    pub meta_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A file already accepted by Meta, to store.
#[derive(Debug)]
pub struct NewMedia<'a> {
    pub number_id: i64,
    pub kind: &'a str,
    pub mime_type: &'a str,
    pub filename: Option<&'a str>,
    pub content: &'a [u8],
    pub meta_media_id: &'a str,
}

/// What re-uploading a media needs.
pub struct MediaContent {
    pub number_id: i64,
    pub mime_type: String,
    pub filename: Option<String>,
    pub content: Vec<u8>,
}

impl std::fmt::Debug for MediaContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaContent")
            .field("number_id", &self.number_id)
            .field("mime_type", &self.mime_type)
            .field("bytes", &self.content.len())
            .finish_non_exhaustive()
    }
}

/// Stores a media and the Meta id it was just given (valid 30 days from now).
/// `None` when the number is not the organization's.
pub async fn create(db: impl PgExecutor<'_>, org: OrgId, new: &NewMedia<'_>) -> sqlx::Result<Option<MediaAsset>> {
    let sha256 = Sha256::digest(new.content);
    sqlx::query_as!(
        MediaAsset,
        r#"insert into media_assets (org_id, number_id, kind, mime_type, filename, size_bytes, sha256, content,
                                     meta_media_id, meta_uploaded_at, meta_expires_at)
           select $1, n.id, $3, $4, $5, $6, $7, $8, $9, now(), now() + interval '30 days'
           from wa_numbers n where n.org_id = $1 and n.id = $2
           returning id, number_id, kind, mime_type, filename, size_bytes, encode(sha256, 'hex') as "sha256!",
                     meta_media_id, meta_uploaded_at, meta_expires_at, created_at"#,
        org.0,
        new.number_id,
        new.kind,
        new.mime_type,
        new.filename,
        new.content.len() as i64,
        sha256.as_slice(),
        new.content,
        new.meta_media_id
    )
    .fetch_optional(db)
    .await
}

pub async fn list(db: impl PgExecutor<'_>, org: OrgId) -> sqlx::Result<Vec<MediaAsset>> {
    sqlx::query_as!(
        MediaAsset,
        r#"select id, number_id, kind, mime_type, filename, size_bytes, encode(sha256, 'hex') as "sha256!",
                  meta_media_id, meta_uploaded_at, meta_expires_at, created_at
           from media_assets where org_id = $1 order by id"#,
        org.0
    )
    .fetch_all(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, org: OrgId, id: i64) -> sqlx::Result<Option<MediaAsset>> {
    sqlx::query_as!(
        MediaAsset,
        r#"select id, number_id, kind, mime_type, filename, size_bytes, encode(sha256, 'hex') as "sha256!",
                  meta_media_id, meta_uploaded_at, meta_expires_at, created_at
           from media_assets where org_id = $1 and id = $2"#,
        org.0,
        id
    )
    .fetch_optional(db)
    .await
}

/// The stored bytes, to upload them again.
pub async fn content(db: impl PgExecutor<'_>, org: OrgId, id: i64) -> sqlx::Result<Option<MediaContent>> {
    sqlx::query_as!(
        MediaContent,
        "select number_id, mime_type, filename, content from media_assets where org_id = $1 and id = $2",
        org.0,
        id
    )
    .fetch_optional(db)
    .await
}

/// Records a new Meta id for the media, valid 30 days from now.
pub async fn record_upload(
    db: impl PgExecutor<'_>,
    org: OrgId,
    id: i64,
    meta_media_id: &str,
) -> sqlx::Result<Option<MediaAsset>> {
    sqlx::query_as!(
        MediaAsset,
        r#"update media_assets
           set meta_media_id = $3, meta_uploaded_at = now(), meta_expires_at = now() + interval '30 days'
           where org_id = $1 and id = $2
           returning id, number_id, kind, mime_type, filename, size_bytes, encode(sha256, 'hex') as "sha256!",
                     meta_media_id, meta_uploaded_at, meta_expires_at, created_at"#,
        org.0,
        id,
        meta_media_id
    )
    .fetch_optional(db)
    .await
}

/// Deletes a media unless an active or scheduled campaign uses it as its
/// header; in the same transaction the other campaigns lose the reference.
pub async fn delete(pg: &PgPool, org: OrgId, id: i64) -> sqlx::Result<Removal> {
    let mut tx = pg.begin().await?;
    // Locking the media first makes a concurrent campaign edit that points at
    // it wait for us, then fail its foreign-key check.
    let found = sqlx::query_scalar!("select id from media_assets where org_id = $1 and id = $2 for update", org.0, id)
        .fetch_optional(&mut *tx)
        .await?;
    if found.is_none() {
        return Ok(Removal::NotFound);
    }
    let users = sqlx::query_as!(
        CampaignRef,
        "select id, name, lifecycle from campaigns where org_id = $1 and header_media_id = $2 order by id for update",
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
        "update campaigns set header_media_id = null, updated_at = now() where org_id = $1 and header_media_id = $2",
        org.0,
        id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("delete from media_assets where org_id = $1 and id = $2", org.0, id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(Removal::Deleted)
}

/// The header media of a campaign whose Meta id is missing or expires
/// before `now + horizon`: `(org, media id)`, for the launch job to renew.
pub async fn stale_campaign_header(
    db: impl PgExecutor<'_>,
    campaign_id: i64,
    horizon: std::time::Duration,
) -> sqlx::Result<Option<(OrgId, i64)>> {
    let row = sqlx::query!(
        r#"select m.org_id, m.id from campaigns cp join media_assets m on m.id = cp.header_media_id
           where cp.id = $1
             and (m.meta_media_id is null or m.meta_expires_at is null
                  or m.meta_expires_at < now() + make_interval(secs => $2))"#,
        campaign_id,
        horizon.as_secs_f64()
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (OrgId(r.org_id), r.id)))
}
