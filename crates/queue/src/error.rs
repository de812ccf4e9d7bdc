//! The error a job handler returns.
//!
//! apalis-redis retries every `Failed` task in Lua (`handle_results.lua`):
//! 25 times, 1 s, 2 s, … apart, whatever the worker's retry policy says, on
//! top of any in-process retries. Our jobs decide their own retries (the send
//! job re-pushes itself with exponential back-off and its own attempt count),
//! so a failure must end the task: [`JobError`] converts into apalis's
//! `AbortError`, which the lifecycle records as `Killed`, and the Lua sends a
//! `Killed` task straight to the dead-letter set `{q}:dead`, once.
//!
//! The conversion has to happen in the handler's own return value: the
//! status is decided by apalis's `LifecycleLayer`, which sits *inside* every
//! user layer, so a layer that rewrote errors afterwards would change nothing.

use std::fmt;

use apalis::prelude::{AbortError, BoxDynError};

/// A failed job: dead-lettered once, never retried by apalis.
///
/// Any `std::error::Error` converts with `?`. Like `anyhow::Error` it does not
/// implement `Error` itself, which is what lets it convert into
/// [`BoxDynError`] as an `AbortError`.
pub struct JobError(BoxDynError);

impl JobError {
    /// A failure described by a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self(message.to_string().into())
    }

    /// The underlying error.
    pub fn source(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for JobError {
    fn from(e: E) -> Self {
        Self(Box::new(e))
    }
}

impl From<JobError> for BoxDynError {
    fn from(e: JobError) -> Self {
        Box::new(AbortError::new(e.0))
    }
}

impl fmt::Debug for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
