#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns
//! `/metrics` of a worker after a campaign: every metric docs/metrics.md
//! lists is there, with its labels, and the campaign gauges equal the
//! ledger's counters. The Prometheus recorder is global to the process, so
//! this binary holds one test.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{http::StatusCode as HttpStatus, routing::post};
use e2e::{StatusCode, TestApp, eventually, sim};
use process::{ops, telemetry};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use workers::pipeline::run;

mod support;

/// A bot endpoint on loopback that takes every reply; returns its URL and
/// how many it got.
async fn bot() -> (String, Arc<Mutex<usize>>) {
    let got = Arc::new(Mutex::new(0));
    let counter = got.clone();
    let app = axum::Router::new().route(
        "/bot",
        post(move || {
            let counter = counter.clone();
            async move {
                *counter.lock().unwrap() += 1;
                HttpStatus::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let url = format!("http://{}/bot", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

/// One worker process: every consumer, the scheduler, the gauge exporter
/// and its `/metrics`, on the queue namespace `ns`; returns the metrics URL.
async fn worker(app: &TestApp, ns: &str, stop: &CancellationToken) -> String {
    let pipeline = support::pipeline(app, ns, |_, _| {}).await;
    let redis = pipeline.redis.clone();
    tokio::spawn(run(pipeline, stop.clone()));
    let exporter = queue::Exporter {
        pg: app.pg.clone(),
        redis: redis.clone(),
        queue_prefix: ns.to_owned(),
        interval: Duration::from_millis(200),
    };
    tokio::spawn(exporter.run(stop.clone()));
    let router = ops::router(ops::Readiness { pg: app.pg.clone(), redis }, telemetry::metrics_handle());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let stop = stop.clone();
    tokio::spawn(async move { axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned()).await });
    url
}

/// The samples of `/metrics`: each series (name and labels, as rendered) and its value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The value of the one series named `name` carrying every label of `labels`.
fn value(samples: &BTreeMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(series, _)| {
            series.split_once('{').is_some_and(|(n, rest)| {
                n == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
            })
        })
        .map(|(_, v)| *v)
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_workers_metrics_cover_queues_jobs_sends_the_limiter_webhooks_replies_and_campaigns(pg: PgPool) {
    let app = TestApp::spawn_with_webhooks(pg, |w| {
        (w.sent_delay_ms, w.delivered_delay_ms, w.read_delay_ms, w.read_probability) = (0, 10, 20, 1.0);
        w.flush_interval_ms = 10;
        w.replies.text_probability = 1.0;
        w.replies.delay_ms = 10;
    })
    .await;
    let (url, replies) = bot().await;
    let setup = app.campaign_setup().await;
    app.patch(&format!("/v1/bot-flows/{}", setup.bot_flow_id), json!({"endpoint_url": url})).await;
    let list: Vec<_> = (0..6)
        .map(|i| json!({"phone": format!("+3461298{i:04}"), "name": format!("N{i}"), "tags": ["vip"], "valued_tags": {"order_id": format!("A{i}")}}))
        .collect();
    app.contacts(Value::Array(list)).await;
    let c = app.ready_campaign(&setup, "metrics", json!({"pace_per_second": 100})).await;
    let campaign = c["id"].as_i64().unwrap().to_string();
    let stop = CancellationToken::new();
    let ns = format!("test{}.", uuid::Uuid::new_v4().simple());
    let metrics_url = worker(&app, &ns, &stop).await;
    assert_eq!(app.post(&format!("/v1/campaigns/{campaign}/launch"), json!({})).await.0, StatusCode::OK);

    let http = reqwest::Client::new();
    let (text, samples) = eventually(Duration::from_secs(30), "every reply routed and the gauges updated", || async {
        if *replies.lock().unwrap() < 6 {
            return None;
        }
        let text = http.get(&metrics_url).send().await.ok()?.text().await.ok()?;
        let samples = samples(&text);
        let campaign = [("campaign_id", campaign.as_str()), ("stage", "replied")];
        (value(&samples, "campaign_recipients", &campaign) == Some(6.0)).then_some((text, samples))
    })
    .await;

    for queue in ["launch", "send", "reply", "report", "status"] {
        for gauge in [
            "queue_pending_jobs",
            "queue_oldest_pending_age_seconds",
            "queue_inflight_jobs",
            "queue_scheduled_jobs",
            "queue_dead_jobs",
        ] {
            assert!(value(&samples, gauge, &[("queue", queue)]).is_some(), "{gauge}{{queue={queue}}} in {text}");
        }
    }
    for queue in ["launch", "send", "reply", "status"] {
        let ok = value(&samples, "jobs_total", &[("queue", queue), ("outcome", "ok")]);
        assert!(ok.is_some_and(|n| n >= 1.0), "jobs_total{{queue={queue},outcome=ok}} in {text}");
    }
    assert!(value(&samples, "job_duration_seconds_bucket", &[("queue", "send"), ("outcome", "ok")]).is_some());
    let sends = [("phone_number_id", sim::PHONE_NUMBER_ID), ("outcome", "accepted"), ("code", "none")];
    assert_eq!(value(&samples, "sends_total", &sends), Some(6.0), "one accepted send each: {text}");
    let waits = [("phone_number_id", sim::PHONE_NUMBER_ID), ("outcome", "acquired")];
    assert_eq!(value(&samples, "limiter_wait_seconds_count", &waits), Some(6.0));
    for histogram in ["webhook_ingest_lag_seconds", "reply_routing_latency_seconds", "reply_request_duration_seconds"] {
        assert!(text.contains(&format!("# TYPE {histogram} histogram")), "{histogram} is a histogram: {text}");
        let count = samples.get(&format!("{histogram}_count")).copied().unwrap_or_default();
        assert!(count >= 1.0, "{histogram} recorded: {text}");
    }
    for (stage, n) in [("targeted", 6.0), ("pending", 0.0), ("accepted", 6.0), ("delivered", 6.0), ("read", 6.0)] {
        let labels = [("campaign_id", campaign.as_str()), ("stage", stage)];
        assert_eq!(value(&samples, "campaign_recipients", &labels), Some(n), "{stage}: {text}");
    }
    for (stage, n) in [("failed", 0.0), ("excluded", 0.0), ("in_doubt", 0.0)] {
        let labels = [("campaign_id", campaign.as_str()), ("stage", stage)];
        assert_eq!(value(&samples, "campaign_recipients", &labels), Some(n), "{stage}: {text}");
    }
    stop.cancel();
}
