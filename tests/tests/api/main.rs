#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns
//! API integration tests: the real router on loopback, one fresh Postgres
//! database per test (`#[sqlx::test]`), the real Redis.

mod auth;
mod contacts_bulk;
mod contacts_csv;
mod contacts_edit;
mod numbers;
mod ops;
mod tenancy;
