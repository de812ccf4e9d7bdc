//! A campaign as the API shows it: its fields, its derived state and, while
//! it is a Draft, every reason why.

use chrono::{DateTime, Utc};
use domain::campaign::{Kind, QuietHours, State, SupportCapacity};
use serde::Serialize;
use store::campaigns::CampaignRecord;
use utoipa::ToSchema;

use crate::error::ProblemBody;

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignView {
    pub id: i64,
    /// `real` or `test`.
    #[schema(value_type = String)]
    pub kind: Kind,
    pub name: String,
    /// `draft`, `ready`, `scheduled`, `active` or `finished`.
    #[schema(value_type = String)]
    pub state: State,
    /// Why it is a Draft (or why a scheduled campaign would not launch, e.g.
    /// its template was paused since): empty when nothing is wrong.
    pub problems: Vec<ProblemBody>,
    pub number_id: Option<i64>,
    /// The campaign whose failures this one retries ("Retry failed").
    pub retry_of: Option<i64>,
    /// Real campaigns: who receives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<AudienceView>,
    /// Test campaigns: the test contacts' phones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_phones: Option<Vec<String>>,
    pub template: Option<TemplateSummary>,
    #[schema(value_type = Vec<Object>)]
    pub bindings: serde_json::Value,
    pub header_media_id: Option<i64>,
    pub bot_flow_id: Option<i64>,
    /// Contacts per second for "launch now" (the default applies when null).
    pub pace_per_second: Option<f64>,
    pub schedule: Option<ScheduleView>,
    pub delivery_policy: String,
    /// Reply-aware pacing's support capacity, if set.
    pub support_capacity: Option<SupportCapacity>,
    /// The daily send window in each contact's local time, if set.
    pub quiet_hours: Option<QuietHours>,
    pub launched_at: Option<DateTime<Utc>>,
    pub fully_sent_at: Option<DateTime<Utc>>,
    pub paused_at: Option<DateTime<Utc>>,
    pub pause_reason: Option<String>,
    /// A stable code for `pause_reason`: a Meta error's (e.g. `access_token_expired`) or `template_paused`, `template_disabled`, ... when a template status webhook stopped it.
    pub pause_code: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AudienceView {
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub valued_tags: serde_json::Value,
    /// `all` or `any`.
    #[serde(rename = "match")]
    pub match_mode: String,
    /// A "Retry failed" campaign's audience is a fixed list of contacts
    /// instead of tags: how many it lists. Absent for an audience by tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contacts: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateSummary {
    pub id: i64,
    pub name: String,
    pub language: String,
    /// Meta's status at the last sync.
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleView {
    pub at: DateTime<Utc>,
    pub contacts_per_hour: i32,
}

impl From<CampaignRecord> for CampaignView {
    fn from(r: CampaignRecord) -> Self {
        let problems = r.problems();
        let state = State::derive(r.lifecycle(), &problems);
        let kind = r.kind();
        let rules = r.delivery_rules();
        let template = match (r.template_id, r.template_name, r.template_language, r.template_status) {
            (Some(id), Some(name), Some(language), Some(status)) => {
                Some(TemplateSummary { id, name, language, status })
            }
            _ => None,
        };
        let schedule = match (r.scheduled_at, r.pace_per_hour) {
            (Some(at), Some(contacts_per_hour)) => Some(ScheduleView { at, contacts_per_hour }),
            _ => None,
        };
        Self {
            id: r.id,
            kind,
            name: r.name,
            state,
            // Problems only matter until the campaign starts.
            problems: match state {
                State::Draft | State::Scheduled => problems.iter().map(ProblemBody::from).collect(),
                State::Ready | State::Active | State::Finished => vec![],
            },
            number_id: r.number_id,
            retry_of: r.retry_of,
            audience: (kind == Kind::Real).then_some(AudienceView {
                tags: r.audience_tags,
                valued_tags: r.audience_valued_tags,
                match_mode: r.audience_match,
                contacts: r.audience_contacts,
            }),
            test_phones: (kind == Kind::Test).then_some(r.test_phones),
            template,
            bindings: r.bindings,
            header_media_id: r.header_media_id,
            bot_flow_id: r.bot_flow_id,
            pace_per_second: r.pace_per_second,
            schedule,
            delivery_policy: r.delivery_policy,
            support_capacity: rules.support_capacity,
            quiet_hours: rules.quiet_hours,
            launched_at: r.launched_at,
            fully_sent_at: r.fully_sent_at,
            paused_at: r.paused_at,
            pause_reason: r.pause_reason,
            pause_code: r.pause_code,
            finished_at: r.finished_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}
