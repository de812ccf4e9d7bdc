//! Responses of the media, template-listing and phone-number endpoints.
//!
//! Everything optional is optional here too, and unknown enum values land in
//! an `Other` variant: Meta adds fields and values without a version bump.

mod phone_number;

use serde::{Deserialize, Deserializer};

pub use phone_number::{
    HIGH_THROUGHPUT, PhoneNumberFields, PhoneNumberInfo, PhoneNumberPage, STANDARD_THROUGHPUT, Throughput,
};

/// `GET /{waba_id}?fields=owner_business_info`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WabaOwner {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub owner_business_info: Option<BusinessInfo>,
}

/// A business portfolio as Meta names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BusinessInfo {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /{phone_number_id}/media` → `{"id": ..}`. The id expires after 30 days.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MediaUpload {
    pub id: String,
}

/// `GET /{media_id}`: a download URL valid for 5 minutes, fetched with the
/// same bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MediaUrl {
    pub url: String,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    /// Meta sends it as a string; numbers are accepted as well.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub file_size: Option<u64>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub messaging_product: Option<String>,
}

fn lenient_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(u64),
        Text(String),
    }
    Ok(match Option::<Either>::deserialize(deserializer)? {
        None => None,
        Some(Either::Number(n)) => Some(n),
        Some(Either::Text(s)) => Some(s.parse().map_err(serde::de::Error::custom)?),
    })
}

/// One page of `GET /{waba_id}/message_templates`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TemplatePage {
    #[serde(default)]
    pub data: Vec<TemplateInfo>,
    #[serde(default)]
    pub paging: Option<Paging>,
}

impl TemplatePage {
    /// The cursor for the next page, or `None` on the last page. Graph only
    /// includes `paging.next` when there is more to read.
    pub fn next_cursor(&self) -> Option<&str> {
        self.paging.as_ref()?.next_cursor()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Paging {
    #[serde(default)]
    pub cursors: Option<Cursors>,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub previous: Option<String>,
}

impl Paging {
    /// `cursors.after`, but only while `next` says there is another page.
    pub fn next_cursor(&self) -> Option<&str> {
        self.next.as_ref()?;
        self.cursors.as_ref()?.after.as_deref()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Cursors {
    #[serde(default)]
    pub before: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
}

/// One listed template: the typed fields, and the object exactly as Meta sent
/// it in `raw` (statuses and component keys Meta adds later are kept there,
/// where the typed fields can only say `Other` or drop them).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub struct TemplateInfo {
    pub id: String,
    pub name: String,
    pub language: String,
    pub status: TemplateStatus,
    pub category: Option<TemplateCategory>,
    /// `POSITIONAL` when absent, per Meta.
    pub parameter_format: Option<ParameterFormat>,
    pub components: Vec<TemplateComponent>,
    pub raw: serde_json::Value,
}

impl TemplateInfo {
    /// A string field of the raw object, e.g. `status` as Meta spelled it.
    pub fn raw_str(&self, field: &str) -> Option<&str> {
        self.raw.get(field).and_then(serde_json::Value::as_str)
    }
}

/// The typed view of a listed template, read from the raw object.
#[derive(Deserialize)]
struct TemplateFields {
    id: String,
    name: String,
    language: String,
    status: TemplateStatus,
    #[serde(default)]
    category: Option<TemplateCategory>,
    #[serde(default)]
    parameter_format: Option<ParameterFormat>,
    #[serde(default)]
    components: Vec<TemplateComponent>,
}

impl TryFrom<serde_json::Value> for TemplateInfo {
    type Error = serde_json::Error;

    fn try_from(raw: serde_json::Value) -> Result<Self, Self::Error> {
        let f = TemplateFields::deserialize(&raw)?;
        Ok(Self {
            id: f.id,
            name: f.name,
            language: f.language,
            status: f.status,
            category: f.category,
            parameter_format: f.parameter_format,
            components: f.components,
            raw,
        })
    }
}

/// Only `Approved` templates can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TemplateStatus {
    Approved,
    Pending,
    Rejected,
    Paused,
    Disabled,
    InAppeal,
    PendingDeletion,
    LimitExceeded,
    Archived,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TemplateCategory {
    Marketing,
    Utility,
    Authentication,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ParameterFormat {
    Positional,
    Named,
    #[serde(other)]
    Other,
}

/// A template component as defined (not as sent): `HEADER`, `BODY`, `FOOTER`
/// or `BUTTONS`. `example` is kept raw since its keys vary by format.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TemplateComponent {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub buttons: Vec<TemplateButton>,
    #[serde(default)]
    pub example: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TemplateButton {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_metas_template_listing_example() {
        let body = r#"{"data":[
          {"name":"2023_april_promo","parameter_format":"POSITIONAL","language":"en_US","status":"APPROVED",
           "category":"MARKETING","id":"920070352646140","previous_category":"ACCOUNT_UPDATE",
           "components":[
             {"type":"HEADER","format":"TEXT","text":"Fall Sale"},
             {"type":"BODY","text":"Hi {{1}}, our Fall Sale is on! Use promo code {{2}}",
              "example":{"body_text":[["Mark","FALL25"]]}},
             {"type":"FOOTER","text":"Not interested? Tap Stop promotions"},
             {"type":"BUTTONS","buttons":[{"type":"QUICK_REPLY","text":"Stop promotions"}]}]},
          {"name":"welcome","language":"en","status":"SOMETHING_NEW","category":"NEW_CATEGORY","id":"2",
           "parameter_format":"NAMED"}],
         "paging":{"cursors":{"before":"MAZDZD","after":"MjQZD"},"next":"https://graph.facebook.com/x?after=MjQZD"}}"#;
        let page: TemplatePage = serde_json::from_str(body).expect("parses");
        let t = &page.data[0];
        assert_eq!(
            (t.id.as_str(), t.name.as_str(), t.language.as_str()),
            ("920070352646140", "2023_april_promo", "en_US")
        );
        assert_eq!(
            (t.status, t.category, t.parameter_format),
            (TemplateStatus::Approved, Some(TemplateCategory::Marketing), Some(ParameterFormat::Positional))
        );
        assert_eq!(t.components.len(), 4);
        assert_eq!(t.components[3].buttons[0].kind, "QUICK_REPLY");
        assert!(t.components[1].example.is_some());
        let u = &page.data[1];
        assert_eq!(
            (u.status, u.category, u.parameter_format),
            (TemplateStatus::Other, Some(TemplateCategory::Other), Some(ParameterFormat::Named))
        );
        assert_eq!(page.next_cursor(), Some("MjQZD"));
        assert_eq!(u.raw_str("status"), Some("SOMETHING_NEW"), "the raw object keeps what the enums cannot");
        assert_eq!(t.raw["components"][3]["buttons"][0]["text"], "Stop promotions");
    }

    #[test]
    fn last_page_has_no_next_cursor() {
        let page: TemplatePage =
            serde_json::from_str(r#"{"data":[],"paging":{"cursors":{"before":"A","after":"B"}}}"#).expect("parses");
        assert_eq!(page.next_cursor(), None);
        let bare: TemplatePage = serde_json::from_str("{}").expect("parses");
        assert_eq!((bare.data.len(), bare.next_cursor()), (0, None));
    }

    #[test]
    fn parses_media_responses() {
        let up: MediaUpload = serde_json::from_str(r#"{"id":"1037543291543636"}"#).expect("parses");
        assert_eq!(up.id, "1037543291543636");
        let url: MediaUrl = serde_json::from_str(
            r#"{"messaging_product":"whatsapp","url":"https://lookaside.fbsbx.com/x","mime_type":"image/jpeg",
                "sha256":"abc","file_size":"303833","id":"1"}"#,
        )
        .expect("parses");
        assert_eq!(url.file_size, Some(303833));
        let numeric: MediaUrl = serde_json::from_str(r#"{"url":"u","file_size":12}"#).expect("parses");
        assert_eq!((numeric.file_size, numeric.mime_type), (Some(12), None));
    }
}
