//! The worker's jobs as a library, so tests drive them directly; the
//! `campaigns-worker` binary wires them to the queues.

pub mod pipeline;
pub mod send;
