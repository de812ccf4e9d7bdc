#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns
//! API integration tests: the real router on loopback, one fresh Postgres
//! database per test (`#[sqlx::test]`), the real Redis.

mod auth;
mod bot_flows;
mod campaigns_edit;
mod campaigns_forecast;
mod campaigns_lifecycle;
mod campaigns_recipients;
mod campaigns_retry;
mod campaigns_stats;
mod campaigns_test;
mod contacts_bulk;
mod contacts_csv;
mod contacts_edit;
mod dead_letters;
mod delivery_limits;
mod funnel;
mod media;
mod numbers;
mod ops;
mod organization;
#[path = "../support/pipeline.rs"]
mod pipeline;
mod reports;
mod templates;
mod tenancy;
mod webhooks;
