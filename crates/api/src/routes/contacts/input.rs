//! Turning untrusted contact fields into a validated [`ContactUpsert`];
//! shared by the JSON bulk upsert and the CSV import.

use std::collections::BTreeMap;

use domain::{Phone, TagList, ValuedTags};
use serde::Deserialize;
use store::contacts::ContactUpsert;
use utoipa::ToSchema;

/// Longest contact name, in characters.
const MAX_NAME_CHARS: usize = 200;

/// One contact as the API receives it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    /// E.164 with the country code, e.g. `+34612345678`.
    pub phone: String,
    /// Display name; used by the "contact name" template binding.
    #[serde(default)]
    pub name: Option<String>,
    /// The WhatsApp id (digits), when known.
    #[serde(default)]
    pub wa_id: Option<String>,
    /// Tags to add (existing tags are kept).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Valued tags to set (`{"customer_id": "123"}`); other keys are kept.
    #[serde(default)]
    pub valued_tags: BTreeMap<String, String>,
    /// IANA time zone (e.g. `America/Bogota`) for quiet hours; absent keeps
    /// the stored one, and without one the phone's country's is used.
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// Why one field of one contact was refused.
#[derive(Debug, Clone)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    fn domain(field: &str, e: &domain::DomainError) -> Self {
        Self { field: field.to_owned(), code: e.code(), message: e.to_string() }
    }
}

impl ContactInput {
    pub fn validate(&self) -> Result<ContactUpsert, FieldError> {
        validate_parts(
            &self.phone,
            self.name.as_deref(),
            self.wa_id.as_deref(),
            self.time_zone.as_deref(),
            || TagList::parse(self.tags.iter().map(String::as_str)),
            || ValuedTags::parse(self.valued_tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        )
    }
}

/// Validates the parts of a contact; tags and valued tags are parsed by the
/// caller's closures so CSV cells and JSON arrays share these rules.
pub fn validate_parts(
    phone: &str,
    name: Option<&str>,
    wa_id: Option<&str>,
    time_zone: Option<&str>,
    tags: impl FnOnce() -> Result<TagList, domain::DomainError>,
    valued_tags: impl FnOnce() -> Result<ValuedTags, domain::DomainError>,
) -> Result<ContactUpsert, FieldError> {
    let phone = Phone::parse(phone).map_err(|e| FieldError::domain("phone", &e))?;
    let name = parse_name(name)?;
    let wa_id = parse_wa_id(wa_id)?;
    let tags = tags().map_err(|e| FieldError::domain("tags", &e))?;
    let valued_tags = valued_tags().map_err(|e| FieldError::domain("valued_tags", &e))?;
    let time_zone = match time_zone.map(str::trim).filter(|z| !z.is_empty()) {
        Some(zone) => Some(
            domain::campaign::parse_time_zone(zone)
                .map_err(|e| FieldError { field: "time_zone".into(), code: e.code(), message: e.to_string() })?
                .name()
                .to_owned(),
        ),
        None => None,
    };
    Ok(ContactUpsert { phone, wa_id, name, tags, valued_tags, time_zone })
}

fn parse_name(name: Option<&str>) -> Result<Option<String>, FieldError> {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    let fail = |message: &str| FieldError { field: "name".into(), code: "invalid_name", message: message.into() };
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(fail("the name is longer than 200 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(fail("the name contains control characters"));
    }
    Ok(Some(name.to_owned()))
}

fn parse_wa_id(wa_id: Option<&str>) -> Result<Option<String>, FieldError> {
    let Some(wa_id) = wa_id.map(str::trim).filter(|w| !w.is_empty()) else {
        return Ok(None);
    };
    if !(5..=20).contains(&wa_id.len()) || !wa_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError {
            field: "wa_id".into(),
            code: "invalid_wa_id",
            message: format!("invalid WhatsApp id {wa_id:?}: expected 5 to 20 digits"),
        });
    }
    Ok(Some(wa_id.to_owned()))
}
