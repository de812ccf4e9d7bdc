//! The campaign fields an operator sends, and their checks. The same body
//! creates a campaign (POST) and changes one (PATCH): absent fields are left
//! alone, `null` clears an optional one. Values that are wrong in themselves
//! are refused (422); a campaign that is merely incomplete is saved as a
//! Draft that says what is missing.

use std::collections::BTreeMap;

use domain::{
    Phone, Tag, ValuedTagKey, ValuedTagValue,
    campaign::{Binding, DeliveryPolicy, Kind, QuietHours, SupportCapacity, check_pace_per_second},
};
use serde::Deserialize;
use store::{
    OrgId,
    campaigns::{self, CampaignChanges},
};
use utoipa::ToSchema;

use crate::{
    error::{ApiError, ApiResult},
    routes::{check_name, double_option},
};

/// Most audience tags (and, separately, valued tags) in one campaign.
const MAX_AUDIENCE_TERMS: usize = 50;
/// Most test phones in one test campaign.
pub const MAX_TEST_PHONES: usize = 50;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignInput {
    /// `real` (default) or `test`; only when creating.
    #[schema(value_type = Option<String>)]
    pub kind: Option<Kind>,
    /// 1 to 200 characters; required when creating.
    pub name: Option<String>,
    /// The WhatsApp Cloud number to send from.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub number_id: Option<Option<i64>>,
    /// Real campaigns: who receives it.
    pub audience: Option<AudienceInput>,
    /// Test campaigns: the phones of existing contacts (at most 50).
    pub test_phones: Option<Vec<String>>,
    /// An APPROVED template (its id picks the language too).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub template_id: Option<Option<i64>>,
    /// One per placeholder: `{"param": "1", "kind": "text", "value": "..."}`,
    /// `{"param": "2", "kind": "contact_name"}`, `{"param": "3", "kind": "valued_tag", "key": "customer_id"}`;
    /// add `"component": "header"` for a TEXT header's placeholder.
    #[schema(value_type = Option<Vec<Object>>)]
    pub bindings: Option<Vec<Binding>>,
    /// The uploaded image or video for a media header (`/v1/media`).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub header_media_id: Option<Option<i64>>,
    /// The bot flow that handles replies.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub bot_flow_id: Option<Option<i64>>,
    /// Contacts per second for "launch now" (default 20).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<f64>)]
    pub pace_per_second: Option<Option<f64>>,
    /// `at_most_once` (default) or `at_least_once`: what to do with a send whose outcome is unknown.
    #[schema(value_type = Option<String>)]
    pub delivery_policy: Option<DeliveryPolicy>,
    /// Reply-aware pacing: the support team's capacity (`replies_per_hour`
    /// and/or `max_open_cases`); the send pace adapts so the replies stay
    /// within it, never above the configured pace. `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<SupportCapacity>)]
    pub support_capacity: Option<Option<SupportCapacity>>,
    /// Send only inside this daily window of each contact's local time (the
    /// contact's `time_zone`, else its phone's country's). `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<QuietHours>)]
    pub quiet_hours: Option<Option<QuietHours>>,
}

/// `{"tags": ["vip"], "valued_tags": {"plan": "gold"}, "match": "all"}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AudienceInput {
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub valued_tags: BTreeMap<String, String>,
    /// `all` (default: every tag and valued tag) or `any` (at least one).
    #[serde(default, rename = "match")]
    pub match_mode: Option<String>,
}

fn invalid(code: &'static str, message: impl Into<String>, field: &str) -> ApiError {
    ApiError::invalid(code, message, Some(field.to_owned()))
}

impl CampaignInput {
    /// Checks every given field of a campaign of `kind` and turns it into a
    /// store update. Looks up the ids it points at within `org`.
    pub async fn into_changes(self, pg: &store::PgPool, org: OrgId, kind: Kind) -> ApiResult<CampaignChanges> {
        check_references(pg, org, &self).await?;
        let mut changes = CampaignChanges {
            name: self.name.as_deref().map(check_name).transpose()?.map(str::to_owned),
            ..Default::default()
        };
        if let Some(audience) = self.audience {
            if kind == Kind::Test {
                return Err(invalid(
                    "audience_not_for_test",
                    "test campaigns target test_phones, not an audience",
                    "audience",
                ));
            }
            changes.audience = Some(audience.check()?);
        }
        if let Some(phones) = self.test_phones {
            if kind == Kind::Real {
                return Err(invalid(
                    "test_phones_not_for_real",
                    "only test campaigns have test_phones; real campaigns target an audience",
                    "test_phones",
                ));
            }
            changes.test_contact_ids = Some(test_contacts(pg, org, &phones).await?);
        }
        if let Some(bindings) = &self.bindings {
            Binding::check_list(bindings).map_err(|e| invalid(e.code(), e.to_string(), &e.field()))?;
            changes.bindings = Some(serde_json::to_value(bindings).map_err(anyhow::Error::from)?);
        }
        if let Some(Some(pace)) = self.pace_per_second {
            check_pace_per_second(pace).map_err(|e| invalid("invalid_pace", e.to_string(), "pace_per_second"))?;
        }
        changes.number_id = self.number_id;
        changes.template_id = self.template_id;
        changes.header_media_id = self.header_media_id;
        changes.bot_flow_id = self.bot_flow_id;
        changes.pace_per_second = self.pace_per_second;
        changes.delivery_policy = self.delivery_policy.map(|p| p.as_str().to_owned());
        let mut set = serde_json::Map::new();
        match self.support_capacity {
            Some(Some(capacity)) => {
                let capacity = capacity.check().map_err(|e| invalid(e.code(), e.to_string(), "support_capacity"))?;
                set.insert("support_capacity".into(), serde_json::to_value(capacity).map_err(anyhow::Error::from)?);
            }
            Some(None) => changes.delivery_rules_cleared.push("support_capacity".into()),
            None => {}
        }
        match self.quiet_hours {
            Some(Some(quiet)) => {
                let quiet = quiet.check().map_err(|e| invalid(e.code(), e.to_string(), "quiet_hours"))?;
                set.insert("quiet_hours".into(), serde_json::to_value(quiet).map_err(anyhow::Error::from)?);
            }
            Some(None) => changes.delivery_rules_cleared.push("quiet_hours".into()),
            None => {}
        }
        if !set.is_empty() {
            changes.delivery_rules_set = Some(serde_json::Value::Object(set));
        }
        Ok(changes)
    }
}

impl AudienceInput {
    pub(crate) fn check(self) -> ApiResult<(Vec<String>, serde_json::Value, String)> {
        if self.tags.len() > MAX_AUDIENCE_TERMS || self.valued_tags.len() > MAX_AUDIENCE_TERMS {
            return Err(invalid(
                "audience_too_large",
                format!("an audience has at most {MAX_AUDIENCE_TERMS} tags and {MAX_AUDIENCE_TERMS} valued tags"),
                "audience",
            ));
        }
        let mut tags = Vec::with_capacity(self.tags.len());
        for (i, raw) in self.tags.iter().enumerate() {
            let tag = Tag::parse(raw).map_err(|e| ApiError::domain(&e, format!("audience.tags[{i}]")))?;
            if !tags.contains(&tag.as_str().to_owned()) {
                tags.push(tag.as_str().to_owned());
            }
        }
        let mut valued = serde_json::Map::new();
        for (raw_key, raw_value) in &self.valued_tags {
            let field = format!("audience.valued_tags.{raw_key}");
            let key = ValuedTagKey::parse(raw_key).map_err(|e| ApiError::domain(&e, field.clone()))?;
            let value = ValuedTagValue::parse(&key, raw_value).map_err(|e| ApiError::domain(&e, field))?;
            valued.insert(key.as_str().to_owned(), value.as_str().into());
        }
        let mode = match self.match_mode.as_deref() {
            None | Some("all") => "all",
            Some("any") => "any",
            Some(other) => {
                return Err(invalid(
                    "invalid_match",
                    format!("audience.match must be \"all\" or \"any\", not {other:?}"),
                    "audience.match",
                ));
            }
        };
        Ok((tags, serde_json::Value::Object(valued), mode.to_owned()))
    }
}

/// The contact ids of the test phones; every phone must be a contact.
pub(crate) async fn test_contacts(pg: &store::PgPool, org: OrgId, phones: &[String]) -> ApiResult<Vec<i64>> {
    if phones.len() > MAX_TEST_PHONES {
        return Err(invalid(
            "too_many_test_phones",
            format!("a test campaign has at most {MAX_TEST_PHONES} test phones"),
            "test_phones",
        ));
    }
    let mut e164 = Vec::with_capacity(phones.len());
    for (i, raw) in phones.iter().enumerate() {
        let phone = Phone::parse(raw).map_err(|e| ApiError::domain(&e, format!("test_phones[{i}]")))?;
        if !e164.contains(&phone.as_e164().to_owned()) {
            e164.push(phone.into_string());
        }
    }
    let (ids, missing) = campaigns::resolve_test_phones(pg, org, &e164).await?;
    if !missing.is_empty() {
        return Err(invalid(
            "unknown_test_phones",
            format!("test phones must already be contacts; not contacts: {}", missing.join(", ")),
            "test_phones",
        ));
    }
    Ok(ids)
}

/// Every id given must be the organization's; a template must be sendable.
async fn check_references(pg: &store::PgPool, org: OrgId, input: &CampaignInput) -> ApiResult<()> {
    let (number, template, media, flow) = (
        input.number_id.flatten(),
        input.template_id.flatten(),
        input.header_media_id.flatten(),
        input.bot_flow_id.flatten(),
    );
    if number.is_none() && template.is_none() && media.is_none() && flow.is_none() {
        return Ok(());
    }
    let found = campaigns::check_references(pg, org, number, template, media, flow).await?;
    let unknown = |what: &str, field: &str, id: i64| {
        invalid("unknown_reference", format!("{what} {id} does not exist in this organization"), field)
    };
    if let Some(id) = number.filter(|_| !found.number) {
        return Err(unknown("number", "number_id", id));
    }
    if let Some(id) = media.filter(|_| !found.header_media) {
        return Err(unknown("media", "header_media_id", id));
    }
    if let Some(id) = flow.filter(|_| !found.bot_flow) {
        return Err(unknown("bot flow", "bot_flow_id", id));
    }
    if let Some(id) = template {
        let Some(t) = found.template else { return Err(unknown("template", "template_id", id)) };
        if t.missing || t.status != "APPROVED" {
            let why = if t.missing { "no longer exists at Meta".to_owned() } else { format!("is {}", t.status) };
            return Err(invalid(
                "template_not_approved",
                format!("template {} ({}) {why}; only APPROVED templates can be chosen", t.name, t.language),
                "template_id",
            ));
        }
    }
    Ok(())
}
