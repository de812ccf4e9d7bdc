//! Logging and metrics set-up.

use std::{sync::OnceLock, time::Duration};

pub use metrics_exporter_prometheus::PrometheusHandle;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use metrics_util::MetricKindMask;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (the default for local runs).
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Installs the global tracing subscriber. `RUST_LOG` filters (default `info`).
/// Safe to call more than once (later calls are ignored), which tests rely on.
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Pretty => registry.with(fmt::layer().with_target(true)).try_init(),
        LogFormat::Json => registry.with(fmt::layer().json().flatten_event(true).with_current_span(true)).try_init(),
    };
}

/// Latency buckets (seconds) shared by every `*_duration_seconds` histogram.
const DURATION_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Buckets (seconds) of the waits that can last minutes: every
/// `*_lag_seconds`, `*_latency_seconds` and `*_wait_seconds` histogram.
const WAIT_BUCKETS: &[f64] =
    &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0];

/// A gauge not set for this long is dropped from `/metrics`: the exporter
/// sets its gauges every interval (at most a minute), so a finished
/// campaign's progress series disappear instead of staying forever.
pub const GAUGE_IDLE_TIMEOUT: Duration = Duration::from_secs(180);

/// Installs the process-wide Prometheus recorder once and returns its handle
/// (later calls return the same handle; a process has one registry).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .idle_timeout(MetricKindMask::GAUGE, Some(GAUGE_IDLE_TIMEOUT))
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), DURATION_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_lag_seconds".into()), WAIT_BUCKETS))
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_latency_seconds".into()), WAIT_BUCKETS))
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_wait_seconds".into()), WAIT_BUCKETS))
                .and_then(|b| b.install_recorder())
                .unwrap_or_else(|e| panic!("installing the Prometheus recorder failed: {e}"))
        })
        .clone()
}
