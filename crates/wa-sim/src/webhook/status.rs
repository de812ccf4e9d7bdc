//! `statuses[]` items in Meta's v23 shape: `conversation` and `pricing` on
//! `sent`, pricing again on `delivered` (or on `read` when `delivered` was
//! skipped), `errors` and nothing else on `failed`.

use serde_json::{Value, json};

use crate::state::{AcceptedMessage, unix_ms};

fn now_s() -> String {
    (unix_ms() / 1000).to_string()
}

fn base(message: &AcceptedMessage, status: &str) -> Value {
    let mut value = json!({
        "id": message.wamid,
        "status": status,
        "timestamp": now_s(),
        "recipient_id": message.wa_id,
    });
    if let Some(data) = &message.biz_opaque_callback_data {
        value["biz_opaque_callback_data"] = json!(data);
    }
    value
}

fn pricing(category: &str) -> Value {
    json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": category})
}

pub fn sent(message: &AcceptedMessage, category: &str) -> Value {
    let mut value = base(message, "sent");
    let expires = unix_ms() / 1000 + 24 * 3600;
    // Unique per message on v23, as Meta's is.
    let conversation_id = format!("{:032x}", u128::from_be_bytes(fnv128(&message.wamid)));
    value["conversation"] = json!({
        "id": conversation_id,
        "expiration_timestamp": expires.to_string(),
        "origin": {"type": category},
    });
    value["pricing"] = pricing(category);
    value
}

pub fn delivered(message: &AcceptedMessage, category: &str) -> Value {
    let mut value = base(message, "delivered");
    value["pricing"] = pricing(category);
    value
}

pub fn read(message: &AcceptedMessage, category: Option<&str>) -> Value {
    let mut value = base(message, "read");
    if let Some(category) = category {
        value["pricing"] = pricing(category);
    }
    value
}

pub fn failed(message: &AcceptedMessage, code: i64) -> Value {
    let (title, details) = describe(code);
    let mut value = base(message, "failed");
    value["errors"] = json!([{
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": details},
        "href": "/documentation/business-messaging/whatsapp/support/error-codes",
    }]);
    value
}

fn describe(code: i64) -> (&'static str, &'static str) {
    match code {
        131026 => ("Message undeliverable", "Message Undeliverable."),
        131047 => (
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to \
             this number.",
        ),
        131049 => (
            "This message was not delivered to maintain healthy ecosystem engagement.",
            "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
        ),
        131050 => (
            "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on \
             WhatsApp from your business.",
            "The user has stopped marketing messages from your business.",
        ),
        132015 => ("Template is Paused", "The template was paused due to low quality."),
        _ => ("Message failed to send", "Message failed to send."),
    }
}

/// A cheap, stable 128-bit mix of the wamid (two FNV-1a passes): conversation
/// ids only need to look unique, not be cryptographic.
fn fnv128(text: &str) -> [u8; 16] {
    let fnv = |seed: u64| text.bytes().fold(seed, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let (a, b) = (fnv(0xcbf2_9ce4_8422_2325), fnv(0x8422_2325_cbf2_9ce4));
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&a.to_be_bytes());
    out[8..].copy_from_slice(&b.to_be_bytes());
    out
}
