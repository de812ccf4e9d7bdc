//! The template-message request body and the send response.
//!
//! Only template messages are modelled: a campaign engine sends templates,
//! since free-form messages need an open 24 h customer-service window.

use serde::{Deserialize, Serialize, Serializer};

/// `POST /{version}/{phone_number_id}/messages` with `type: "template"`.
///
/// The constant fields (`messaging_product`, `recipient_type`, `type`) are
/// added when serializing so they cannot be set wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendTemplateRequest {
    /// The recipient, preferably E.164 with `+`: without it Meta prepends the
    /// sending number's country code.
    pub to: String,
    pub template: Template,
    /// Echoed back in status webhooks; the hook for correlating deliveries
    /// with our own rows, since the API has no idempotency key.
    pub biz_opaque_callback_data: Option<String>,
}

impl Serialize for SendTemplateRequest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            messaging_product: &'static str,
            recipient_type: &'static str,
            to: &'a str,
            #[serde(rename = "type")]
            kind: &'static str,
            template: &'a Template,
            #[serde(skip_serializing_if = "Option::is_none")]
            biz_opaque_callback_data: Option<&'a str>,
        }
        Wire {
            messaging_product: "whatsapp",
            recipient_type: "individual",
            to: &self.to,
            kind: "template",
            template: &self.template,
            biz_opaque_callback_data: self.biz_opaque_callback_data.as_deref(),
        }
        .serialize(serializer)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    pub name: String,
    pub language: Language,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
}

/// Must match the template's language exactly (`en_US` is not `en`),
/// otherwise Meta answers 132001.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Language {
    pub code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Component {
    Header {
        parameters: Vec<HeaderParameter>,
    },
    /// Positional parameters fill `{{1}}`, `{{2}}`… in array order; named
    /// templates need `parameter_name` on every parameter.
    Body {
        parameters: Vec<TextParameter>,
    },
    Button {
        sub_type: ButtonSubType,
        /// The button position, 0 to 9; Meta wants it as a string.
        #[serde(serialize_with = "index_as_string")]
        index: u8,
        parameters: Vec<ButtonParameter>,
    },
}

fn index_as_string<S: Serializer>(index: &u8, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(index)
}

/// A `{"type":"text", "text": ..}` parameter, optionally named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename = "text")]
pub struct TextParameter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter_name: Option<String>,
    pub text: String,
}

impl TextParameter {
    /// A parameter for a `POSITIONAL` template.
    pub fn positional(text: impl Into<String>) -> Self {
        Self { parameter_name: None, text: text.into() }
    }

    /// A parameter for a `NAMED` template.
    pub fn named(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self { parameter_name: Some(name.into()), text: text.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HeaderParameter {
    Text {
        #[serde(skip_serializing_if = "Option::is_none")]
        parameter_name: Option<String>,
        text: String,
    },
    Image {
        image: MediaSource,
    },
    Video {
        video: MediaSource,
    },
    /// Only PDF documents are supported in template headers.
    Document {
        document: DocumentSource,
    },
}

/// Meta requires exactly one of `id` or `link`; the enum makes both-or-none
/// unrepresentable. Uploaded ids are preferred at high throughput.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaSource {
    /// A media id from [`crate::CloudClient::upload_media`] (valid 30 days).
    Id(String),
    /// An http(s) URL; Meta caches it for 10 minutes per URL.
    Link(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocumentSource {
    #[serde(flatten)]
    pub source: MediaSource,
    /// The file name shown to the recipient.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonSubType {
    QuickReply,
    Url,
    CopyCode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ButtonParameter {
    /// For `quick_reply`: echoed back as `button.payload` when the user taps.
    Payload { payload: String },
    /// For `url`: the suffix appended to the template's URL.
    Text { text: String },
    /// For `copy_code`.
    CouponCode { coupon_code: String },
}

/// HTTP 200 from the messages endpoint: accepted, not delivered. Delivery is
/// reported by webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SendResponse {
    #[serde(default)]
    pub messaging_product: Option<String>,
    #[serde(default)]
    pub contacts: Vec<SentContact>,
    #[serde(default)]
    pub messages: Vec<SentMessage>,
}

impl SendResponse {
    /// The wamid of the (single) message sent; statuses are keyed by it.
    pub fn message_id(&self) -> Option<&str> {
        self.messages.first().map(|m| m.id.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SentContact {
    /// Exactly what we sent in `to`.
    #[serde(default)]
    pub input: Option<String>,
    /// The canonical WhatsApp id; may differ from `input`.
    #[serde(default)]
    pub wa_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SentMessage {
    pub id: String,
    /// Only present when the template is being paced.
    #[serde(default)]
    pub message_status: Option<MessageStatus>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Accepted,
    /// Paced: released later, or dropped with a `failed` 132015 status.
    HeldForQualityAssessment,
    Paused,
    /// A value this crate does not know yet.
    #[serde(other)]
    Unknown,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn serializes_a_positional_template_like_metas_example() {
        let req = SendTemplateRequest {
            to: "+16505551234".into(),
            template: Template {
                name: "order_update_v1".into(),
                language: Language { code: "en_US".into() },
                components: vec![
                    Component::Header {
                        parameters: vec![HeaderParameter::Image {
                            image: MediaSource::Link("https://example.com/h.jpg".into()),
                        }],
                    },
                    Component::Body {
                        parameters: vec![TextParameter::positional("Alex"), TextParameter::positional("A12345")],
                    },
                    Component::Button {
                        sub_type: ButtonSubType::QuickReply,
                        index: 0,
                        parameters: vec![ButtonParameter::Payload { payload: "STOP_PROMO".into() }],
                    },
                ],
            },
            biz_opaque_callback_data: None,
        };
        let expected = json!({
          "messaging_product": "whatsapp", "recipient_type": "individual", "to": "+16505551234", "type": "template",
          "template": {
            "name": "order_update_v1", "language": { "code": "en_US" },
            "components": [
              { "type": "header", "parameters": [ { "type": "image", "image": { "link": "https://example.com/h.jpg" } } ] },
              { "type": "body", "parameters": [ { "type": "text", "text": "Alex" }, { "type": "text", "text": "A12345" } ] },
              { "type": "button", "sub_type": "quick_reply", "index": "0",
                "parameters": [ { "type": "payload", "payload": "STOP_PROMO" } ] }
            ]
          }
        });
        assert_eq!(serde_json::to_value(&req).expect("serializes"), expected);
    }

    #[test]
    fn serializes_named_params_media_ids_documents_and_other_buttons() {
        let req = SendTemplateRequest {
            to: "+447700900123".into(),
            template: Template {
                name: "promo".into(),
                language: Language { code: "en".into() },
                components: vec![
                    Component::Header {
                        parameters: vec![
                            HeaderParameter::Video { video: MediaSource::Id("1037543291543636".into()) },
                            HeaderParameter::Document {
                                document: DocumentSource {
                                    source: MediaSource::Link("https://example.com/menu.pdf".into()),
                                    filename: Some("menu.pdf".into()),
                                },
                            },
                            HeaderParameter::Text { parameter_name: Some("title".into()), text: "Hi".into() },
                        ],
                    },
                    Component::Body { parameters: vec![TextParameter::named("first_name", "Jessica")] },
                    Component::Button {
                        sub_type: ButtonSubType::Url,
                        index: 1,
                        parameters: vec![ButtonParameter::Text { text: "order/42".into() }],
                    },
                    Component::Button {
                        sub_type: ButtonSubType::CopyCode,
                        index: 2,
                        parameters: vec![ButtonParameter::CouponCode { coupon_code: "WELCOME25".into() }],
                    },
                ],
            },
            biz_opaque_callback_data: Some("campaign=7;row=42".into()),
        };
        let v = serde_json::to_value(&req).expect("serializes");
        assert_eq!(v["biz_opaque_callback_data"], "campaign=7;row=42");
        let c = &v["template"]["components"];
        assert_eq!(c[0]["parameters"][0], json!({"type": "video", "video": {"id": "1037543291543636"}}));
        assert_eq!(
            c[0]["parameters"][1],
            json!({"type": "document", "document": {"link": "https://example.com/menu.pdf", "filename": "menu.pdf"}})
        );
        assert_eq!(c[0]["parameters"][2], json!({"type": "text", "parameter_name": "title", "text": "Hi"}));
        assert_eq!(c[1]["parameters"][0], json!({"type": "text", "parameter_name": "first_name", "text": "Jessica"}));
        assert_eq!(
            c[2],
            json!({"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "order/42"}]})
        );
        assert_eq!(c[3]["sub_type"], "copy_code");
        assert_eq!(c[3]["parameters"][0], json!({"type": "coupon_code", "coupon_code": "WELCOME25"}));
    }

    #[test]
    fn parses_success_responses_including_paced_and_unknown_status() {
        let body = r#"{"messaging_product":"whatsapp","contacts":[{"input":"16505551234","wa_id":"16505551234"}],
            "messages":[{"id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBIyQjM2RTlERTY4QjFGNzUwNDgA","message_status":"accepted"}]}"#;
        let r: SendResponse = serde_json::from_str(body).expect("parses");
        assert_eq!(r.message_id(), Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBIyQjM2RTlERTY4QjFGNzUwNDgA"));
        assert_eq!(r.contacts[0].wa_id.as_deref(), Some("16505551234"));
        assert_eq!(r.messages[0].message_status, Some(MessageStatus::Accepted));

        let held = r#"{"messages":[{"id":"wamid.A","message_status":"held_for_quality_assessment","group_id":"g"}]}"#;
        let r: SendResponse = serde_json::from_str(held).expect("parses");
        assert_eq!(r.messages[0].message_status, Some(MessageStatus::HeldForQualityAssessment));
        assert!(r.contacts.is_empty());

        let odd = r#"{"messages":[{"id":"wamid.B","message_status":"brand_new"},{"id":"wamid.C"}]}"#;
        let r: SendResponse = serde_json::from_str(odd).expect("parses");
        assert_eq!(r.messages[0].message_status, Some(MessageStatus::Unknown));
        assert_eq!(r.messages[1].message_status, None);
    }
}
