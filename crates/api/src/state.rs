//! What every handler can reach.

use std::sync::Arc;

use store::{PgPool, crypto::Cipher};
use tokio::sync::Semaphore;
use whatsapp::CloudClient;

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
}

impl AppState {
    pub fn new(pg: PgPool, cipher: Cipher, cloud: CloudClient, limits: Limits, settings: Settings) -> Self {
        Self { pg, cipher, cloud, limits, settings, import_slots: Arc::new(Semaphore::new(limits.concurrent_imports)) }
    }
}

/// Product defaults an operator may change.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Contacts per second of "launch now" when the campaign sets no pace (P11: about 20).
    pub launch_pace_per_second: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self { launch_pace_per_second: 20.0 }
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
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            json_body_bytes: 1 << 20,
            bulk_body_bytes: 16 << 20,
            bulk_contacts: 10_000,
            csv_import_bytes: 1 << 30,
            concurrent_imports: 4,
        }
    }
}
