//! A WhatsApp Cloud API simulator for tests, demos and benchmarks: the
//! engine sends here instead of to Meta and sees Meta's behaviour — its
//! error codes and shapes, throughput and pair limits, and signed, batched,
//! retried status webhooks — on loopback and reproducibly.
//!
//! - [`config`]: numbers, templates, limits, webhook behaviour (TOML/JSON or code).
//! - [`Simulator`]: starts the server and inspects what it accepted and delivered.
//! - `/_sim/...` exposes the same inspection, and fault switches, over HTTP.

mod catalog;
pub mod config;
pub mod error;
mod faults;
mod limits;
mod media;
mod request;
mod routes;
mod server;
mod state;
mod template;
mod webhook;

pub use config::Config;
pub use error::MetaError;
pub use request::{ButtonParam, TextParam};
pub use server::Simulator;
pub use state::{AcceptedMessage, Delivery};
