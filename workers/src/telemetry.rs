//! The jobs' metrics (docs/metrics.md lists every metric): how each job
//! ended, by queue, and how long it ran.

use std::time::{Duration, Instant};

use queue::JobError;

/// How one job (or one stored webhook event) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// Done, or nothing left to do.
    Ok,
    /// Put back to run again later (a back-off, the limiter, a transient error).
    Retry,
    /// Given up on: dead-lettered.
    Dead,
}

impl JobOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Retry => "retry",
            Self::Dead => "dead",
        }
    }
}

/// Counts one finished job (`jobs_total{queue, outcome}`).
pub fn count_job(queue: &'static str, outcome: JobOutcome) {
    metrics::counter!("jobs_total", "queue" => queue, "outcome" => outcome.as_str()).increment(1);
}

/// Counts one finished job and records how long it ran
/// (`job_duration_seconds{queue, outcome}`).
pub fn job_done(queue: &'static str, outcome: JobOutcome, took: Duration) {
    count_job(queue, outcome);
    metrics::histogram!("job_duration_seconds", "queue" => queue, "outcome" => outcome.as_str())
        .record(took.as_secs_f64());
}

/// A handler's result, counted: an error is a dead letter (the queue layer
/// dead-letters every task whose handler fails).
pub fn job_result(queue: &'static str, started: Instant, result: Result<JobOutcome, JobError>) -> Result<(), JobError> {
    let outcome = result.as_ref().map_or(JobOutcome::Dead, |o| *o);
    job_done(queue, outcome, started.elapsed());
    result.map(drop)
}
