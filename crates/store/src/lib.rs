//! Postgres, the system of record: the embedded migrations and every query.
//!
//! Functions take an executor (`&PgPool` or `&mut PgConnection`) so callers
//! decide the transaction. Every query on tenant data is scoped by `org_id`;
//! a row of another organization is simply not found.

pub mod api_keys;
pub mod audience;
pub mod bot_flows;
pub mod campaigns;
pub mod contacts;
pub mod crypto;
pub mod funnel;
pub mod in_use;
pub mod inbound;
pub mod inbox;
pub mod media;
pub mod messaging_limit;
pub mod numbers;
pub mod operators;
pub mod opt_outs;
pub mod orgs;
pub mod outbox;
pub mod owners;
pub mod pacing;
pub mod progress;
pub mod recipient_list;
pub mod recipients;
pub mod redis_epoch;
pub mod reports;
pub mod statuses;
pub mod templates;
pub mod webhook_events;
pub mod worker_processes;

pub use sqlx::{PgPool, Postgres, Transaction};

/// The schema migrations in `migrations/`, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// An organization's id: every tenant query takes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct OrgId(pub i64);

/// True when `err` is a violation of the named unique constraint or index.
pub fn is_unique_violation(err: &sqlx::Error, constraint: &str) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation() && db.constraint() == Some(constraint))
}
