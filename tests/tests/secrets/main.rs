#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns
//! Part of the security suite, in a binary of its own: the scenario captures
//! every log line with a thread-local subscriber, and tests of other threads
//! in the same process can leave a callsite's cached interest without it
//! (tracing decides per callsite, process-wide), which hid the send spans
//! from it now and then.

#[path = "../support/pipeline.rs"]
mod pipeline;
mod scenario;
