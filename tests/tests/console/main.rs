#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns
//! The operator console in a real headless Chromium, and its behaviour over
//! HTTP (sessions, CSRF, throttling, tenants). Screenshots of every page of
//! the journey go to `target/tmp/console-screenshots/`.

mod admin;
mod journey;
#[path = "../support/pipeline.rs"]
mod pipeline;
mod sessions;
