//! What every handler can reach.

use store::{PgPool, crypto::Cipher};

#[derive(Clone, Debug)]
pub struct AppState {
    pub pg: PgPool,
    pub cipher: Cipher,
    pub limits: Limits,
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
}

impl Default for Limits {
    fn default() -> Self {
        Self { json_body_bytes: 1 << 20, bulk_body_bytes: 16 << 20, bulk_contacts: 10_000, csv_import_bytes: 1 << 30 }
    }
}
