//! Status webhooks for accepted messages: `sent` → `delivered` → `read` (or
//! `failed` for scripted recipients), batched, signed and retried like Meta;
//! and WABA-level changes (`business_capability_update` when a portfolio's
//! messaging limit changes), each a POST of its own.
//!
//! Every random choice comes from one seeded RNG, drawn when the message is
//! accepted, so a test that sends in a fixed order sees the same outcomes.

mod batch;
mod deliver;
mod reply;
mod status;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::{
    config::{NumberConfig, WebhookConfig},
    state::{AcceptedMessage, Delivery},
};

/// A webhook item ready to go into a batch, for one business number.
#[derive(Debug)]
struct Event {
    phone_number_id: String,
    item: Item,
}

/// Meta puts statuses and inbound messages in separate `value`s.
#[derive(Debug, Clone)]
enum Item {
    Status(Value),
    Inbound { contact: Value, message: Value },
}

/// What will happen to one accepted message, decided up front.
#[derive(Debug, Clone, Copy)]
enum Plan {
    Fail(i64),
    Deliver { delivered: bool, read: bool, reply: Option<reply::Kind> },
}

#[derive(Debug, Clone)]
pub(crate) struct Scheduler {
    config: Arc<WebhookConfig>,
    rng: Arc<Mutex<StdRng>>,
    events: mpsc::UnboundedSender<Event>,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    /// For WABA-level webhooks (not batched with statuses).
    sender: deliver::Sender,
}

impl Scheduler {
    /// Starts the batching task; needs a Tokio runtime. `None` without a URL.
    pub fn start(config: &WebhookConfig, numbers: &[NumberConfig]) -> Result<Option<Self>, reqwest::Error> {
        let Some(url) = config.url.clone() else { return Ok(None) };
        let config = Arc::new(config.clone());
        let rng = Arc::new(Mutex::new(StdRng::seed_from_u64(config.seed)));
        let deliveries = Arc::new(Mutex::new(Vec::new()));
        let (events, rx) = mpsc::unbounded_channel();
        let numbers: HashMap<String, NumberConfig> =
            numbers.iter().map(|n| (n.phone_number_id.clone(), n.clone())).collect();
        let sender = deliver::Sender::new(url, config.clone(), deliveries.clone())?;
        tokio::spawn(batch::run(rx, config.clone(), rng.clone(), numbers, sender.clone()));
        Ok(Some(Self { config, rng, events, deliveries, sender }))
    }

    /// `display_phone_number` is the business number a reply quotes.
    pub fn schedule(&self, message: &AcceptedMessage, category: &str, display_phone_number: &str) {
        let (plan, duplicate) = self.plan(&message.wa_id);
        let scheduler = self.clone();
        let message = message.clone();
        let category = category.to_ascii_lowercase();
        let display = display_phone_number.to_owned();
        tokio::spawn(async move {
            let c = &scheduler.config;
            tokio::time::sleep(Duration::from_millis(c.sent_delay_ms)).await;
            match plan {
                Plan::Fail(code) => scheduler.emit(&message, status::failed(&message, code), duplicate),
                Plan::Deliver { delivered, read, reply } => {
                    scheduler.emit(&message, status::sent(&message, &category), duplicate);
                    tokio::time::sleep(Duration::from_millis(c.delivered_delay_ms)).await;
                    if delivered {
                        scheduler.emit(&message, status::delivered(&message, &category), duplicate);
                    }
                    if read {
                        tokio::time::sleep(Duration::from_millis(c.read_delay_ms)).await;
                        // Pricing goes on `read` only when `delivered` was skipped.
                        scheduler.emit(&message, status::read(&message, (!delivered).then_some(&category)), duplicate);
                    }
                    if let Some(kind) = reply {
                        tokio::time::sleep(Duration::from_millis(c.replies.delay_ms)).await;
                        let (contact, inbound) = reply::message(kind, &message, &display, &c.replies);
                        let event = Event {
                            phone_number_id: message.phone_number_id.clone(),
                            item: Item::Inbound { contact, message: inbound },
                        };
                        // A closed channel means the simulator is shutting down.
                        let _ = scheduler.events.send(event);
                    }
                }
            }
        });
    }

    fn plan(&self, wa_id: &str) -> (Plan, bool) {
        let c = &self.config;
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let duplicate = rng.gen_bool(c.duplicate_probability.clamp(0.0, 1.0));
        if let Some(f) = c.scripted_failures.iter().find(|f| f.matches(wa_id)) {
            return (Plan::Fail(f.code), duplicate);
        }
        let read = rng.gen_bool(c.read_probability.clamp(0.0, 1.0));
        let skip = read && rng.gen_bool(c.skip_delivered_probability.clamp(0.0, 1.0));
        let reply = reply::choose(&c.replies, &mut *rng);
        (Plan::Deliver { delivered: !skip, read, reply }, duplicate)
    }

    fn emit(&self, message: &AcceptedMessage, status: Value, duplicate: bool) {
        let phone_number_id = message.phone_number_id.clone();
        if duplicate {
            // A closed channel means the simulator is shutting down.
            let item = Item::Status(status.clone());
            let _ = self.events.send(Event { phone_number_id: phone_number_id.clone(), item });
        }
        let _ = self.events.send(Event { phone_number_id, item: Item::Status(status) });
    }

    /// A WABA-level change (`business_capability_update`, ...) in Meta's
    /// envelope, with `entry[].time` in unix seconds as Meta puts it on such
    /// fields. One POST of its own, signed with `app_secret`, retried and
    /// logged like status batches (with `statuses` and `messages` 0).
    pub fn waba_change(&self, waba_id: &str, field: &str, value: Value, app_secret: &str) {
        let time = crate::state::unix_ms() / 1000;
        let body = serde_json::json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": waba_id, "time": time, "changes": [{"field": field, "value": value}]}],
        });
        self.sender.spawn(batch::ascii_json(&body), app_secret.to_owned(), 0, 0);
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn clear_deliveries(&self) {
        self.deliveries.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
