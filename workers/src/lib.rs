//! The worker's jobs as a library, so tests drive them directly; the
//! `campaigns-worker` binary wires them to the queues.

pub mod egress;
pub mod ingest;
pub mod ledger;
pub mod pipeline;
pub mod reply;
pub mod report;
pub mod send;
pub mod telemetry;
