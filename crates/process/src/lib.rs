//! Process basics shared by the API, the workers and the CLI: logging,
//! graceful shutdown, the Prometheus recorder, `/healthz` `/readyz`
//! `/metrics`, and connection settings for Postgres and Redis.

mod connection_errors;
pub mod connections;
pub mod ops;
pub mod shutdown;
pub mod telemetry;

pub use connections::{ConnectionArgs, ConnectionError, Secret};
