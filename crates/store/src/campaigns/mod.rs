//! Campaigns: the stored fields, what they point at, and the lifecycle steps.
//!
//! A campaign is read as a [`CampaignRecord`]: its row joined with the
//! number, template and media it points at, which is everything the readiness
//! rules of [`domain::campaign`] need, in one query per page.

mod dispatch;
mod forecast;
mod lifecycle;
mod plan;
pub mod stats;
mod write;

use chrono::{DateTime, Utc};
use domain::campaign::{
    self, Audience, Binding, HeaderFormat, Kind, Lifecycle, MediaRef, Problem, Snapshot, TemplateRef,
};
use sqlx::PgExecutor;

pub use dispatch::{in_flight, launch_due, mark_fully_sent, queue_next, sending, stuck_launches};
pub use forecast::{ForecastGroup, SampleContact, forecast, sample_contacts};
pub use lifecycle::{FinishOutcome, OPERATOR_PAUSE, finish, launch, pause, resume, schedule, unschedule};
pub use plan::{LedgerCounts, PlanOutcome, plan};
pub use write::{
    CampaignChanges, ReferenceCheck, TemplateChoice, check_references, clone_as_draft, clone_as_test, delete, insert,
    lock, resolve_test_phones, retry_failed, retryable_failures, update,
};

use crate::OrgId;

/// A campaign with what it points at.
#[derive(Debug, Clone)]
pub struct CampaignRecord {
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub lifecycle: String,
    pub number_id: Option<i64>,
    pub number_waba_id: Option<String>,
    pub number_throughput_per_sec: Option<i32>,
    pub audience_tags: Vec<String>,
    pub audience_valued_tags: serde_json::Value,
    pub audience_match: String,
    /// A "Retry failed" campaign: how many contacts its fixed audience lists
    /// (instead of tags); `None` for an audience by tags.
    pub audience_contacts: Option<i32>,
    /// The campaign a "Retry failed" campaign retries.
    pub retry_of: Option<i64>,
    /// The phones of a test campaign's contacts that still exist, sorted.
    pub test_phones: Vec<String>,
    pub template_id: Option<i64>,
    pub template_name: Option<String>,
    pub template_language: Option<String>,
    pub template_waba_id: Option<String>,
    pub template_status: Option<String>,
    pub template_missing: Option<bool>,
    pub template_body_params: Option<Vec<String>>,
    pub template_header_format: Option<String>,
    pub template_header_params: Option<Vec<String>>,
    pub bindings: serde_json::Value,
    pub header_media_id: Option<i64>,
    pub media_kind: Option<String>,
    pub media_number_id: Option<i64>,
    pub bot_flow_id: Option<i64>,
    pub pace_per_second: Option<f64>,
    pub pace_per_hour: Option<i32>,
    pub delivery_policy: String,
    /// Support capacity and quiet hours ([`domain::campaign::DeliveryRules`]).
    pub delivery_rules: serde_json::Value,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub launched_at: Option<DateTime<Utc>>,
    pub planned_at: Option<DateTime<Utc>>,
    pub fully_sent_at: Option<DateTime<Utc>>,
    pub paused_at: Option<DateTime<Utc>>,
    pub pause_reason: Option<String>,
    /// The stable code of `pause_reason`.
    pub pause_code: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CampaignRecord {
    pub fn kind(&self) -> Kind {
        Kind::parse(&self.kind).unwrap_or(Kind::Real)
    }

    pub fn lifecycle(&self) -> Lifecycle {
        Lifecycle::parse(&self.lifecycle).unwrap_or(Lifecycle::Editable)
    }

    /// The stored delivery rules; the API only ever stores valid ones.
    pub fn delivery_rules(&self) -> domain::campaign::DeliveryRules {
        serde_json::from_value(self.delivery_rules.clone()).unwrap_or_default()
    }

    /// The stored bindings; the API only ever stores valid ones.
    pub fn bindings(&self) -> Vec<Binding> {
        serde_json::from_value(self.bindings.clone()).unwrap_or_default()
    }

    pub fn template_ref(&self) -> Option<TemplateRef> {
        Some(TemplateRef {
            name: self.template_name.clone()?,
            language: self.template_language.clone()?,
            waba_id: self.template_waba_id.clone()?,
            status: self.template_status.clone()?,
            missing: self.template_missing.unwrap_or(false),
            body_params: self.template_body_params.clone().unwrap_or_default(),
            header_format: self.template_header_format.as_deref().and_then(HeaderFormat::parse),
            header_params: self.template_header_params.clone().unwrap_or_default(),
        })
    }

    /// Why the campaign cannot launch yet (empty: Ready), checked against
    /// the current state of its template, number and media.
    pub fn problems(&self) -> Vec<Problem> {
        let template = self.template_ref();
        let bindings = self.bindings();
        let media =
            self.media_kind.clone().zip(self.media_number_id).map(|(kind, number_id)| MediaRef { kind, number_id });
        let valued_tags = self.audience_valued_tags.as_object().map_or(0, serde_json::Map::len);
        campaign::problems(&Snapshot {
            kind: self.kind(),
            number: self.number_id.zip(self.number_waba_id.as_deref()),
            audience: Audience {
                tags: self.audience_tags.len(),
                valued_tags,
                test_contacts: self.test_phones.len(),
                fixed_contacts: self.audience_contacts.map_or(0, |n| usize::try_from(n).unwrap_or(0)),
            },
            template: template.as_ref(),
            bindings: &bindings,
            header_media: media.as_ref(),
            has_bot_flow: self.bot_flow_id.is_some(),
        })
    }
}

/// Which campaigns to read: one by id, or a page of one kind in id order.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection<'a> {
    pub id: Option<i64>,
    pub kind: Option<&'a str>,
    /// Only these stored lifecycle steps.
    pub lifecycle: Option<&'a str>,
    /// Only campaigns whose name contains this text (case-insensitive).
    pub name_contains: Option<&'a str>,
    /// Ids after this one.
    pub after: Option<i64>,
    pub limit: i64,
}

pub async fn select(db: impl PgExecutor<'_>, org: OrgId, s: Selection<'_>) -> sqlx::Result<Vec<CampaignRecord>> {
    sqlx::query_as!(
        CampaignRecord,
        r#"select cp.id, cp.kind, cp.name, cp.lifecycle,
                  cp.number_id, n.waba_id as "number_waba_id?", n.throughput_per_sec as "number_throughput_per_sec?",
                  cp.audience_tags, cp.audience_valued_tags, cp.audience_match,
                  cardinality(cp.audience_contact_ids) as audience_contacts, cp.retry_of,
                  coalesce((select array_agg(c.phone order by c.phone) from contacts c
                            where c.org_id = cp.org_id and c.id = any(cp.test_contact_ids)), '{}') as "test_phones!",
                  cp.template_id, t.name as "template_name?", t.language as "template_language?",
                  t.waba_id as "template_waba_id?", t.status as "template_status?",
                  (t.missing_since is not null) as "template_missing?",
                  t.body_param_names as "template_body_params?", t.header_format as "template_header_format?",
                  t.header_param_names as "template_header_params?",
                  cp.bindings, cp.header_media_id, m.kind as "media_kind?", m.number_id as "media_number_id?",
                  cp.bot_flow_id, cp.pace_per_second, cp.pace_per_hour, cp.delivery_policy,
                  cp.delivery_rules,
                  cp.scheduled_at, cp.launched_at, cp.planned_at, cp.fully_sent_at, cp.paused_at, cp.pause_reason, cp.pause_code,
                  cp.finished_at, cp.created_at, cp.updated_at
           from campaigns cp
           left join wa_numbers n on n.id = cp.number_id
           left join templates t on t.id = cp.template_id
           left join media_assets m on m.id = cp.header_media_id
           where cp.org_id = $1
             and ($2::bigint is null or cp.id = $2)
             and ($3::text is null or cp.kind = $3)
             and ($4::text is null or cp.lifecycle = $4)
             and cp.id > coalesce($5::bigint, 0)
             and ($7::text is null or strpos(lower(cp.name), lower($7)) > 0)
           order by cp.id
           limit $6"#,
        org.0,
        s.id,
        s.kind,
        s.lifecycle,
        s.after,
        s.limit.max(1),
        s.name_contains,
    )
    .fetch_all(db)
    .await
}

/// One campaign of the organization.
pub async fn get(db: impl PgExecutor<'_>, org: OrgId, id: i64) -> sqlx::Result<Option<CampaignRecord>> {
    let mut rows = select(db, org, Selection { id: Some(id), limit: 1, ..Selection::default() }).await?;
    Ok(rows.pop())
}
