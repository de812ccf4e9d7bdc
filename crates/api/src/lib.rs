//! The HTTP API of the campaign engine, as a library: the binary and the
//! end-to-end tests build the same router.

pub mod app_secrets;
pub mod auth;
pub mod cloud;
pub mod config;
pub mod console;
pub mod error;
pub mod extract;
pub mod openapi;
mod routes;
pub mod server;
pub mod state;
pub mod text;
pub mod uptime;

pub use config::ApiConfig;
pub use server::{ApiServer, router};
pub use state::{AppState, Limits, Settings};
