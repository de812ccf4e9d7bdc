//! What every handler can reach.

use std::sync::Arc;

use process::Secret;
use store::{PgPool, crypto::Cipher};
use tokio::sync::Semaphore;
use whatsapp::CloudClient;

use crate::app_secrets::AppSecrets;

#[derive(Clone, Debug)]
pub struct AppState {
    pub pg: PgPool,
    pub cipher: Cipher,
    /// Meta's Cloud API (or wa-sim): template sync and media upload.
    pub cloud: CloudClient,
    pub limits: Limits,
    pub settings: Settings,
    /// One permit per CSV import allowed to run at once.
    pub import_slots: Arc<Semaphore>,
    /// What Meta's webhook subscription handshake must present (`WEBHOOK_VERIFY_TOKEN`);
    /// `None` refuses every handshake.
    pub webhook_verify_token: Option<Secret>,
    /// The numbers' app secrets that webhook signatures are checked against, cached.
    pub app_secrets: Arc<AppSecrets>,
    /// Dead-letter operations on this deployment's queues (its Redis and
    /// `QUEUE_PREFIX`); `None` until [`AppState::with_dead_letters`].
    pub dead_letters: Option<queue::DeadLetters>,
}

impl AppState {
    pub fn new(pg: PgPool, cipher: Cipher, cloud: CloudClient, limits: Limits, settings: Settings) -> Self {
        Self {
            pg,
            cipher,
            cloud,
            limits,
            settings,
            import_slots: Arc::new(Semaphore::new(limits.concurrent_imports)),
            webhook_verify_token: None,
            app_secrets: Arc::new(AppSecrets::default()),
            dead_letters: None,
        }
    }

    /// Serves `/v1/dead-letters` with these queues.
    #[must_use]
    pub fn with_dead_letters(mut self, dead_letters: queue::DeadLetters) -> Self {
        self.dead_letters = Some(dead_letters);
        self
    }

    /// Sets the webhook handshake's token; an empty one counts as none.
    #[must_use]
    pub fn with_webhook_verify_token(mut self, token: Option<Secret>) -> Self {
        self.webhook_verify_token = token.filter(|t| !t.expose().is_empty());
        self
    }
}

/// Product defaults an operator may change.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Contacts per second of "launch now" when the campaign sets no pace (about 20).
    pub launch_pace_per_second: f64,
    /// Bot flows may point at loopback, private and other non-public literal
    /// addresses (`BOT_EGRESS_ALLOW_PRIVATE`, as the reply worker's).
    pub allow_private_bot_targets: bool,
    /// Meta's moving messaging-limit window (`MESSAGING_LIMIT_WINDOW_SECS`, as the workers').
    pub messaging_window: std::time::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            launch_pace_per_second: 20.0,
            allow_private_bot_targets: false,
            messaging_window: std::time::Duration::from_secs(domain::messaging_limit::DEFAULT_WINDOW_SECS),
        }
    }
}

/// Request size limits (bytes and rows).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most bytes in a JSON body (other than the bulk endpoint).
    pub json_body_bytes: usize,
    /// Most bytes in a bulk-upsert JSON body.
    pub bulk_body_bytes: usize,
    /// Most contacts in one bulk upsert.
    pub bulk_contacts: usize,
    /// Most bytes in a CSV import.
    pub csv_import_bytes: u64,
    /// Most CSV imports running at once (each holds a database connection).
    pub concurrent_imports: usize,
    /// Most bytes in a webhook POST (Meta sends up to 3 MB).
    pub webhook_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            json_body_bytes: 1 << 20,
            bulk_body_bytes: 16 << 20,
            bulk_contacts: 10_000,
            csv_import_bytes: 1 << 30,
            concurrent_imports: 4,
            webhook_body_bytes: 8 << 20,
        }
    }
}
