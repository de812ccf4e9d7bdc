//! The apalis glue: job types, Redis storages with settings that avoid
//! apalis-redis 1.0's verified defects, and the pieces apalis lacks: a
//! promoter (no queue wedges on a large due backlog), a janitor (bounded
//! Redis memory), a supervisor (workers survive backend errors), the outbox
//! relay and queue gauges. docs/queues.md explains each choice.

pub mod dead;
pub mod dead_index;
pub mod dead_letters;
mod error;
pub mod exporter;
pub mod gauges;
pub mod janitor;
mod jobs;
pub mod promoter;
pub mod relay;
mod settings;
mod supervisor;

pub use dead_letters::{DeadLetters, DeadQueue, Replayed, Scope};
pub use error::JobError;
pub use exporter::Exporter;
pub use gauges::{QueueGauges, queue_gauges};
pub use jobs::{Job, LaunchJob, ReplyJob, ReportJob, SendJob};
pub use relay::{Relay, RelayError};
pub use settings::{QueueSettings, RESPONSE_TIMEOUT, connect, connect_client, worker_name};
pub use supervisor::{Supervisor, until_cancelled};

/// The apalis crates, re-exported so callers build workers with the same
/// versions.
pub use apalis;
pub use apalis_redis;
