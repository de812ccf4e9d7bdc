//! Webhook POST bodies: delivery statuses, inbound messages, errors and
//! template status updates.
//!
//! Meta adds fields, enum values and whole `field` kinds without a version
//! bump, and a rejected webhook is retried for up to 7 days. So parsing here
//! never fails on something new: unknown fields are ignored, unknown enum
//! values become `Other`/`Unknown`, unknown `field`s keep their raw JSON, and
//! anything Meta may omit is an `Option` or an empty `Vec`.

use serde::{Deserialize, Deserializer, de::Error as _};

use crate::error::WebhookError;

/// The whole POST body: `{object, entry[]}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WebhookPayload {
    /// `whatsapp_business_account`.
    pub object: String,
    #[serde(default)]
    pub entry: Vec<Entry>,
}

/// One WABA's batch of changes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Entry {
    /// The WhatsApp Business Account id.
    pub id: String,
    /// Present on some fields (e.g. template updates), absent on `messages`.
    #[serde(default)]
    pub time: Option<i64>,
    #[serde(default)]
    pub changes: Vec<Change>,
}

/// `{field, value}`, with `value` parsed according to `field`.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// `field: "messages"`: inbound messages, statuses and errors.
    Messages(Box<MessagesValue>),
    /// `field: "message_template_status_update"`.
    TemplateStatus(TemplateStatusUpdate),
    /// `field: "business_capability_update"`: the portfolio's messaging limit changed.
    Capability(CapabilityUpdate),
    /// Any other subscribed field, kept raw.
    Other { field: String, value: serde_json::Value },
}

impl<'de> Deserialize<'de> for Change {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            field: String,
            #[serde(default)]
            value: serde_json::Value,
        }
        let Raw { field, value } = Raw::deserialize(deserializer)?;
        Ok(match field.as_str() {
            "messages" => Change::Messages(Box::new(serde_json::from_value(value).map_err(D::Error::custom)?)),
            "message_template_status_update" => {
                Change::TemplateStatus(serde_json::from_value(value).map_err(D::Error::custom)?)
            }
            "business_capability_update" => {
                Change::Capability(serde_json::from_value(value).map_err(D::Error::custom)?)
            }
            _ => Change::Other { field, value },
        })
    }
}

/// The `value` of a `messages` change: either inbound `messages` (with
/// `contacts`) or `statuses`, plus optional system-level `errors`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MessagesValue {
    #[serde(default)]
    pub messaging_product: Option<String>,
    pub metadata: Metadata,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    #[serde(default)]
    pub messages: Vec<InboundMessage>,
    #[serde(default)]
    pub statuses: Vec<Status>,
    /// Errors not tied to one message (e.g. 130429 throughput).
    #[serde(default)]
    pub errors: Vec<WebhookError>,
}

/// Which business number the change is about.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Metadata {
    pub display_phone_number: String,
    pub phone_number_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Contact {
    #[serde(default)]
    pub profile: Option<Profile>,
    /// May be absent for users known only by a business-scoped user id.
    #[serde(default)]
    pub wa_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Profile {
    #[serde(default)]
    pub name: Option<String>,
}

/// A delivery status for a message we sent. Statuses arrive out of order,
/// duplicated, and `delivered` may be skipped; key them by `id` (the wamid).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Status {
    pub id: String,
    pub status: DeliveryStatus,
    /// Unix seconds, as a string.
    pub timestamp: String,
    /// Absent for users known only by a business-scoped user id.
    #[serde(default)]
    pub recipient_id: Option<String>,
    #[serde(default)]
    pub recipient_user_id: Option<String>,
    #[serde(default)]
    pub biz_opaque_callback_data: Option<String>,
    #[serde(default)]
    pub errors: Vec<WebhookError>,
    #[serde(default)]
    pub pricing: Option<Pricing>,
    /// Omitted from v24.0 on.
    #[serde(default)]
    pub conversation: Option<Conversation>,
}

impl Status {
    /// `timestamp` as unix seconds, if it is a number.
    pub fn unix_seconds(&self) -> Option<i64> {
        self.timestamp.parse().ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
    Failed,
    /// Voice messages only.
    Played,
    #[serde(other)]
    Unknown,
}

/// Kept as text: Meta's pricing categories and models change over time.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Pricing {
    #[serde(default)]
    pub billable: Option<bool>,
    #[serde(default)]
    pub pricing_model: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Conversation {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub origin: Option<ConversationOrigin>,
    /// Only on `sent`.
    #[serde(default)]
    pub expiration_timestamp: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConversationOrigin {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// A message a user sent to the business. The payload sits in the field
/// named after `type`; the others are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InboundMessage {
    /// Absent for users known only by a business-scoped user id.
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub from_user_id: Option<String>,
    pub id: String,
    /// Unix seconds, as a string.
    pub timestamp: String,
    #[serde(rename = "type")]
    pub kind: MessageType,
    /// Set when the user replied to (or tapped a button on) one of our
    /// messages: `context.id` is that message's wamid.
    #[serde(default)]
    pub context: Option<MessageContext>,
    #[serde(default)]
    pub text: Option<Text>,
    #[serde(default)]
    pub button: Option<ButtonReply>,
    #[serde(default)]
    pub interactive: Option<Interactive>,
    #[serde(default)]
    pub image: Option<Media>,
    #[serde(default)]
    pub video: Option<Media>,
    #[serde(default)]
    pub document: Option<Media>,
    #[serde(default)]
    pub audio: Option<Media>,
    #[serde(default)]
    pub sticker: Option<Media>,
    #[serde(default)]
    pub system: Option<SystemEvent>,
    /// For `unsupported` messages (e.g. 131051).
    #[serde(default)]
    pub errors: Vec<WebhookError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    Text,
    /// A quick-reply tap on a template button.
    Button,
    /// A reply to an interactive (non-template) message.
    Interactive,
    Image,
    Video,
    Document,
    Audio,
    Sticker,
    Reaction,
    Location,
    Contacts,
    Order,
    System,
    Unsupported,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MessageContext {
    /// The business display number.
    #[serde(default)]
    pub from: Option<String>,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Text {
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ButtonReply {
    /// The `quick_reply` payload we sent with the template.
    #[serde(default)]
    pub payload: Option<String>,
    /// The button label.
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Interactive {
    ButtonReply {
        button_reply: ReplyOption,
    },
    ListReply {
        list_reply: ReplyOption,
    },
    /// `nfm_reply` (flows) and anything newer.
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReplyOption {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// Inbound media; the id can be resolved to a URL for 7 days.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Media {
    pub id: String,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
}

/// e.g. `user_changed_number`, carrying the user's new WhatsApp id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SystemEvent {
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub new_wa_id: Option<String>,
    #[serde(default)]
    pub wa_id: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// The `value` of a `business_capability_update` change.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CapabilityUpdate {
    /// The portfolio's messaging limit: 250, 2000, 10000, 100000, or −1 for unlimited.
    #[serde(default)]
    pub max_daily_conversations_per_business: Option<i64>,
    /// The same, per number; Meta is removing it.
    #[serde(default)]
    pub max_daily_conversation_per_phone: Option<i64>,
}

/// The `value` of a `message_template_status_update` change.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TemplateStatusUpdate {
    /// APPROVED, PAUSED, DISABLED, REJECTED, …; kept as text since Meta
    /// documents more events than any one status list.
    pub event: String,
    /// An integer in Meta's payloads; strings are accepted too.
    #[serde(deserialize_with = "id_as_string")]
    pub message_template_id: String,
    pub message_template_name: String,
    pub message_template_language: String,
    /// `null` or e.g. `INCORRECT_CATEGORY`, `NONE`.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message_template_category: Option<String>,
}

fn id_as_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(D::Error::custom(format!("expected a template id, got {other}"))),
    }
}

#[cfg(test)]
mod tests;
