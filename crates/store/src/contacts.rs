//! Contacts: bulk upsert by phone, lookups, tag edits, deletion.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, types::Json};

use crate::OrgId;

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Contact {
    pub id: i64,
    pub phone: String,
    pub wa_id: Option<String>,
    pub name: Option<String>,
    pub tags: Vec<String>,
    /// Serialises as a plain JSON object `{key: value}`.
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub valued_tags: Json<BTreeMap<String, String>>,
    /// The contact's IANA time zone, if set; quiet hours use it (else the phone's country's).
    pub time_zone: Option<String>,
    /// When the open inbox case was opened, if an agent is attending the contact.
    pub inbox_case_opened_at: Option<DateTime<Utc>>,
    pub opted_out: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One contact to upsert, already validated by the domain types.
#[derive(Debug, Clone)]
pub struct ContactUpsert {
    pub phone: domain::Phone,
    pub wa_id: Option<String>,
    pub name: Option<String>,
    pub tags: domain::TagList,
    pub valued_tags: domain::ValuedTags,
    /// A checked IANA time zone name; `None` keeps the stored one.
    pub time_zone: Option<String>,
}

/// A batch of upserts laid out column-wise, the shape `unnest` wants: one
/// statement writes the whole batch. A batch holds at most `max_rows` rows and
/// never the same phone twice (`ON CONFLICT` cannot touch a row twice in one
/// statement), so a repeated phone starts the next batch and later rows are
/// applied after earlier ones.
#[derive(Debug)]
pub struct UpsertBatch {
    max_rows: usize,
    seen: HashSet<String>,
    phones: Vec<String>,
    wa_ids: Vec<Option<String>>,
    names: Vec<Option<String>>,
    /// Tags joined with `;` (a character tags can never contain).
    tags: Vec<String>,
    valued_tags: Vec<Json<BTreeMap<String, String>>>,
    time_zones: Vec<Option<String>>,
}

impl UpsertBatch {
    pub fn new(max_rows: usize) -> Self {
        let n = max_rows;
        Self {
            max_rows,
            seen: HashSet::with_capacity(n),
            phones: Vec::with_capacity(n),
            wa_ids: Vec::with_capacity(n),
            names: Vec::with_capacity(n),
            tags: Vec::with_capacity(n),
            valued_tags: Vec::with_capacity(n),
            time_zones: Vec::with_capacity(n),
        }
    }

    /// Adds a contact. When it cannot join this batch (the batch is full, or
    /// already holds its phone), the contact starts a fresh batch and the
    /// finished one is returned: write it before the one now being filled.
    #[must_use = "a returned batch must be written"]
    pub fn add(&mut self, c: ContactUpsert) -> Option<UpsertBatch> {
        let full = self.len() >= self.max_rows || self.seen.contains(c.phone.as_e164());
        let max_rows = self.max_rows;
        let finished = full.then(|| std::mem::replace(self, Self::new(max_rows)));
        self.seen.insert(c.phone.as_e164().to_owned());
        self.phones.push(c.phone.into_string());
        self.wa_ids.push(c.wa_id);
        self.names.push(c.name);
        self.tags.push(c.tags.to_strings().join(";"));
        self.valued_tags.push(Json(c.valued_tags.to_map()));
        self.time_zones.push(c.time_zone);
        finished
    }

    pub fn len(&self) -> usize {
        self.phones.len()
    }

    pub fn is_empty(&self) -> bool {
        self.phones.is_empty()
    }
}

/// How many rows an upsert created and how many it updated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct UpsertCounts {
    pub created: i64,
    pub updated: i64,
}

impl std::ops::AddAssign for UpsertCounts {
    fn add_assign(&mut self, rhs: Self) {
        self.created += rhs.created;
        self.updated += rhs.updated;
    }
}

/// Upserts a batch by phone. An existing contact keeps its tags and gains the
/// new ones, gets the new valued tags (a key present in both takes the new
/// value), and keeps its name and WhatsApp id unless new ones are given.
pub async fn upsert_batch(conn: &mut PgConnection, org: OrgId, batch: &UpsertBatch) -> sqlx::Result<UpsertCounts> {
    if batch.is_empty() {
        return Ok(UpsertCounts::default());
    }
    let row = sqlx::query!(
        r#"with up as (
               insert into contacts as c (org_id, phone, wa_id, name, tags, valued_tags, time_zone)
               select $1, phone, wa_id, name, coalesce(string_to_array(nullif(tags, ''), ';'), '{}'), valued_tags,
                      time_zone
               from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::text[])
                    as u(phone, wa_id, name, tags, valued_tags, time_zone)
               on conflict (org_id, phone) do update set
                   wa_id = coalesce(excluded.wa_id, c.wa_id),
                   time_zone = coalesce(excluded.time_zone, c.time_zone),
                   name = coalesce(excluded.name, c.name),
                   tags = case when excluded.tags <@ c.tags then c.tags
                               else array(select distinct t from unnest(c.tags || excluded.tags) t order by t) end,
                   valued_tags = c.valued_tags || excluded.valued_tags,
                   updated_at = now()
               returning (xmax = 0) as created
           )
           select count(*) filter (where created) as "created!", count(*) filter (where not created) as "updated!"
           from up"#,
        org.0,
        &batch.phones,
        &batch.wa_ids as &[Option<String>],
        &batch.names as &[Option<String>],
        &batch.tags,
        &batch.valued_tags as &[Json<BTreeMap<String, String>>],
        &batch.time_zones as &[Option<String>],
    )
    .fetch_one(conn)
    .await?;
    Ok(UpsertCounts { created: row.created, updated: row.updated })
}

/// Upserts contacts in order, splitting them into batches of at most
/// `batch_rows` without repeated phones: when a phone repeats, the later row
/// is applied after the earlier one (its tags add up, its values win).
pub async fn upsert_all(
    conn: &mut PgConnection,
    org: OrgId,
    contacts: impl IntoIterator<Item = ContactUpsert>,
    batch_rows: usize,
) -> sqlx::Result<UpsertCounts> {
    let mut counts = UpsertCounts::default();
    let mut batch = UpsertBatch::new(batch_rows);
    for contact in contacts {
        if let Some(finished) = batch.add(contact) {
            counts += upsert_batch(conn, org, &finished).await?;
        }
    }
    counts += upsert_batch(conn, org, &batch).await?;
    Ok(counts)
}

pub async fn get(db: impl PgExecutor<'_>, org: OrgId, id: i64) -> sqlx::Result<Option<Contact>> {
    sqlx::query_as!(
        Contact,
        r#"select c.id, c.phone, c.wa_id, c.name, c.tags,
                  c.valued_tags as "valued_tags: Json<BTreeMap<String, String>>", c.time_zone,
                  (select opened_at from inbox_cases i where i.contact_id = c.id and i.closed_at is null)
                      as inbox_case_opened_at,
                  exists(select 1 from opt_outs o where o.org_id = c.org_id and o.phone = c.phone) as "opted_out!",
                  c.created_at, c.updated_at
           from contacts c where c.org_id = $1 and c.id = $2"#,
        org.0,
        id
    )
    .fetch_optional(db)
    .await
}

/// Which contacts to list, in phone order: all `tags` and all `valued_tags`
/// must match.
#[derive(Debug, Default)]
pub struct ContactFilter {
    pub tags: Vec<String>,
    pub valued_tags: BTreeMap<String, String>,
    /// Only contacts whose phone or name contains this text (case-insensitive).
    pub q: Option<String>,
    /// Only contacts whose phone sorts after this one (cursor pagination).
    pub after_phone: Option<String>,
    pub limit: i64,
}

pub async fn list(db: impl PgExecutor<'_>, org: OrgId, filter: &ContactFilter) -> sqlx::Result<Vec<Contact>> {
    sqlx::query_as!(
        Contact,
        r#"select c.id, c.phone, c.wa_id, c.name, c.tags,
                  c.valued_tags as "valued_tags: Json<BTreeMap<String, String>>", c.time_zone,
                  (select opened_at from inbox_cases i where i.contact_id = c.id and i.closed_at is null)
                      as inbox_case_opened_at,
                  exists(select 1 from opt_outs o where o.org_id = c.org_id and o.phone = c.phone) as "opted_out!",
                  c.created_at, c.updated_at
           from contacts c
           where c.org_id = $1 and c.phone > coalesce($2, '')
             and (cardinality($3::text[]) = 0 or c.tags @> $3)
             and ($4::jsonb = '{}' or c.valued_tags @> $4)
             and ($6::text is null or c.phone like $6 or c.name ilike $6)
           order by c.phone
           limit $5"#,
        org.0,
        filter.after_phone,
        &filter.tags,
        Json(&filter.valued_tags) as _,
        filter.limit,
        filter.q.as_deref().map(|q| format!("%{}%", q.replace(['%', '_', '\\'], "")))
    )
    .fetch_all(db)
    .await
}

/// One campaign a contact was a recipient of, newest first.
#[derive(Debug, Clone)]
pub struct ContactCampaign {
    pub campaign_id: i64,
    pub name: String,
    pub kind: String,
    /// The recipient's ledger state (`delivered`, `failed`, ...).
    pub state: String,
    pub replied: bool,
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    pub planned_at: DateTime<Utc>,
}

/// The campaigns the contact was in (at most `limit`, newest first).
pub async fn campaigns_of(
    db: impl PgExecutor<'_>,
    org: OrgId,
    contact_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<ContactCampaign>> {
    sqlx::query_as!(
        ContactCampaign,
        r#"select r.campaign_id, cp.name, cp.kind, r.state, r.replied_at is not null as "replied!",
                  r.reason_code, r.reason, r.planned_at
           from recipients r join campaigns cp on cp.id = r.campaign_id and cp.org_id = r.org_id
           where r.org_id = $1 and r.contact_id = $2
           order by r.planned_at desc, r.campaign_id desc
           limit $3"#,
        org.0,
        contact_id,
        limit
    )
    .fetch_all(db)
    .await
}

/// Adds tags to a contact; returns its id, or `None` if there is no such contact.
pub async fn add_tags(db: impl PgExecutor<'_>, org: OrgId, id: i64, tags: &[String]) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        r#"update contacts set tags = array(select distinct t from unnest(tags || $3::text[]) t order by t),
                               updated_at = now()
           where org_id = $1 and id = $2 returning id"#,
        org.0,
        id,
        tags
    )
    .fetch_optional(db)
    .await
}

pub async fn remove_tag(db: impl PgExecutor<'_>, org: OrgId, id: i64, tag: &str) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        "update contacts set tags = array_remove(tags, $3), updated_at = now() where org_id = $1 and id = $2 returning id",
        org.0,
        id,
        tag
    )
    .fetch_optional(db)
    .await
}

pub async fn set_valued_tag(
    db: impl PgExecutor<'_>,
    org: OrgId,
    id: i64,
    key: &domain::ValuedTagKey,
    value: &domain::ValuedTagValue,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        r#"update contacts set valued_tags = valued_tags || jsonb_build_object($3::text, $4::text), updated_at = now()
           where org_id = $1 and id = $2 returning id"#,
        org.0,
        id,
        key.as_str(),
        value.as_str()
    )
    .fetch_optional(db)
    .await
}

pub async fn remove_valued_tag(db: impl PgExecutor<'_>, org: OrgId, id: i64, key: &str) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        "update contacts set valued_tags = valued_tags - $3::text, updated_at = now() where org_id = $1 and id = $2 returning id",
        org.0,
        id,
        key
    )
    .fetch_optional(db)
    .await
}

/// Deletes a contact for good; `false` if there was none. Its ledger rows in
/// past campaigns stay (reports keep the phone), its engagement and inbox
/// cases go with it.
pub async fn delete(db: impl PgExecutor<'_>, org: OrgId, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query!("delete from contacts where org_id = $1 and id = $2", org.0, id).execute(db).await?;
    Ok(done.rows_affected() == 1)
}
