//! Collects statuses per business number and flushes them as one POST when
//! a batch is full or the flush interval passes.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use rand::{rngs::StdRng, seq::SliceRandom};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{Event, Item, deliver::Sender};
use crate::config::{NumberConfig, WebhookConfig};

pub(super) async fn run(
    mut rx: mpsc::UnboundedReceiver<Event>,
    config: Arc<WebhookConfig>,
    rng: Arc<Mutex<StdRng>>,
    numbers: HashMap<String, NumberConfig>,
    sender: Sender,
) {
    let max_batch = config.max_batch.max(1);
    let mut buffers: HashMap<String, Pending> = HashMap::new();
    let mut tick = tokio::time::interval(config.flush_interval());
    loop {
        tokio::select! {
            event = rx.recv() => {
                let Some(event) = event else { break };
                let pending = buffers.entry(event.phone_number_id.clone()).or_default();
                match event.item {
                    Item::Status(status) => pending.statuses.push(status),
                    Item::Inbound { contact, message } => {
                        pending.contacts.push(contact);
                        pending.messages.push(message);
                    }
                }
                if pending.statuses.len() + pending.messages.len() >= max_batch {
                    let pending = std::mem::take(pending);
                    flush(&event.phone_number_id, pending, &config, &rng, &numbers, &sender);
                }
            }
            _ = tick.tick() => {
                for (pnid, pending) in &mut buffers {
                    flush(pnid, std::mem::take(pending), &config, &rng, &numbers, &sender);
                }
            }
        }
    }
}

/// What one number has waiting to be sent.
#[derive(Debug, Default)]
struct Pending {
    statuses: Vec<Value>,
    contacts: Vec<Value>,
    messages: Vec<Value>,
}

/// Statuses and inbound messages go in separate POSTs: a Meta `value`
/// carries one or the other.
fn flush(
    phone_number_id: &str,
    mut pending: Pending,
    config: &WebhookConfig,
    rng: &Mutex<StdRng>,
    numbers: &HashMap<String, NumberConfig>,
    sender: &Sender,
) {
    let Some(number) = numbers.get(phone_number_id) else { return };
    if config.reorder {
        pending.statuses.shuffle(&mut *rng.lock().unwrap_or_else(|p| p.into_inner()));
    }
    let secret = &number.app_secret;
    if !pending.statuses.is_empty() {
        let count = pending.statuses.len();
        let payload = envelope(number, json!({ "statuses": pending.statuses }));
        sender.spawn(ascii_json(&payload), secret.clone(), count, 0);
    }
    if !pending.messages.is_empty() {
        let count = pending.messages.len();
        let payload = envelope(number, json!({ "contacts": pending.contacts, "messages": pending.messages }));
        sender.spawn(ascii_json(&payload), secret.clone(), 0, count);
    }
}

/// Meta's `{object, entry[{id, changes[{field, value}]}]}` for one number.
fn envelope(number: &NumberConfig, mut value: Value) -> Value {
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] =
        json!({"display_phone_number": number.display_phone_number, "phone_number_id": number.phone_number_id});
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": number.waba_id, "changes": [{"field": "messages", "value": value}]}],
    })
}

/// JSON with every non-ASCII character escaped as lowercase `\uXXXX`, the
/// bytes Meta signs. Non-ASCII can only occur inside strings, so escaping the
/// serialized text is exact.
pub(super) fn ascii_json(value: &Value) -> Vec<u8> {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_is_escaped_and_still_parses() {
        let value = json!({"name": "José 👍"});
        let bytes = ascii_json(&value);
        assert!(bytes.is_ascii());
        assert_eq!(String::from_utf8_lossy(&bytes), r#"{"name":"Jos\u00e9 \ud83d\udc4d"}"#);
        assert_eq!(serde_json::from_slice::<Value>(&bytes).ok(), Some(value));
    }
}
