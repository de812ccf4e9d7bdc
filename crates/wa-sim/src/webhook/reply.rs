//! Simulated users replying to a campaign message: a quick-reply tap, free
//! text, or "STOP". Each quotes the campaign message (`context.id` is its
//! wamid, `context.from` the business display number), as Meta's do.

use base64::{Engine, engine::general_purpose::STANDARD};
use rand::Rng;
use serde_json::{Value, json};

use crate::{config::RepliesConfig, state::AcceptedMessage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    OptOut,
    Button,
    Text,
}

/// One draw decides between opt-out, button, text and no reply.
pub(super) fn choose(config: &RepliesConfig, rng: &mut impl Rng) -> Option<Kind> {
    let roll: f64 = rng.r#gen();
    let opt_out = config.opt_out_probability;
    let button = opt_out + config.button_probability;
    let text = button + config.text_probability;
    if roll < opt_out {
        Some(Kind::OptOut)
    } else if roll < button {
        Some(Kind::Button)
    } else if roll < text {
        Some(Kind::Text)
    } else {
        None
    }
}

/// The `contacts[]` item and the `messages[]` item of one reply.
pub(super) fn message(kind: Kind, sent: &AcceptedMessage, display: &str, config: &RepliesConfig) -> (Value, Value) {
    let tail = &sent.wa_id[sent.wa_id.len().saturating_sub(4)..];
    let contact = json!({"profile": {"name": format!("Sim User {tail}")}, "wa_id": sent.wa_id});
    let mut message = json!({
        "context": {"from": display, "id": sent.wamid},
        "from": sent.wa_id,
        // Unique per campaign message, since each recipient replies once.
        "id": format!("wamid.{}", STANDARD.encode(format!("reply:{}", sent.wamid))),
        "timestamp": (crate::state::unix_ms() / 1000).to_string(),
    });
    match kind {
        Kind::Button => {
            let payload = sent
                .button_parameters
                .iter()
                .find(|b| b.sub_type == "quick_reply")
                .map_or(config.button_text.as_str(), |b| b.value.as_str());
            message["type"] = json!("button");
            message["button"] = json!({"payload": payload, "text": config.button_text});
        }
        Kind::Text | Kind::OptOut => {
            let body = if kind == Kind::OptOut { "STOP" } else { config.text.as_str() };
            message["type"] = json!("text");
            message["text"] = json!({"body": body});
        }
    }
    (contact, message)
}
