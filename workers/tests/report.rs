#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns
//! The report queue end to end: a report requested through the API is
//! relayed from the outbox, built by the `report` consumer and downloaded.

use std::{sync::Arc, time::Duration};

use e2e::{StatusCode, TestApp, eventually, redis_url};
use serde_json::{Value, json};
use sqlx::PgPool;
use store::campaigns::plan;
use tokio_util::sync::CancellationToken;
use workers::{
    pipeline::{Pipeline, Settings, run},
    reply::{Replier, ReplyPolicy},
    send::{RetryPolicy, Sender},
};

/// A pipeline running only the report consumer (and its relay).
async fn report_consumer(app: &TestApp) -> CancellationToken {
    let ns = format!("test{}.", uuid::Uuid::new_v4().simple());
    let redis = queue::connect(&redis_url()).await.unwrap();
    let sender = Sender {
        pg: app.pg.clone(),
        cipher: app.state.cipher.clone(),
        cloud: app.state.cloud.clone(),
        limiter: ratelimit::Limiter::new(redis.clone(), ns.clone()),
        policy: RetryPolicy::default(),
    };
    let replier = Replier::new(app.pg.clone(), app.state.cipher.clone(), ReplyPolicy::default()).unwrap();
    let mut settings = Settings::new(format!("test-{}", uuid::Uuid::new_v4().simple()));
    settings.queue_prefix = ns;
    (settings.launch, settings.send, settings.scheduler, settings.status, settings.reply) =
        (false, false, false, false, false);
    settings.tick = Duration::from_millis(100);
    let pipeline = Arc::new(Pipeline { settings, pg: app.pg.clone(), redis, sender, replier });
    let stop = CancellationToken::new();
    tokio::spawn(run(pipeline, stop.clone()));
    stop
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_requested_report_is_built_by_the_report_queue_and_downloads(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    let list: Vec<_> = (0..25)
        .map(|i| json!({"phone": format!("+3461299{i:04}"), "name": format!("N{i}"), "tags": ["vip"], "valued_tags": {"order_id": format!("A{i}")}}))
        .collect();
    app.contacts(Value::Array(list)).await;
    let campaign = app.ready_campaign(&setup, "report", json!({})).await["id"].as_i64().unwrap();
    assert_eq!(app.post(&format!("/v1/campaigns/{campaign}/launch"), json!({})).await.0, StatusCode::OK);
    let mut tx = app.pg.begin().await.unwrap();
    plan(&mut tx, campaign).await.unwrap();
    tx.commit().await.unwrap();

    let stop = report_consumer(&app).await;
    let (status, report) = app.post(&format!("/v1/campaigns/{campaign}/reports"), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{report}");
    let id = report["id"].as_i64().unwrap();
    let ready = eventually(Duration::from_secs(20), "the report to be ready", || async {
        let (_, report) = app.get(&format!("/v1/reports/{id}")).await;
        (report["status"] == "ready").then_some(report)
    })
    .await;
    stop.cancel();
    assert_eq!(ready["row_count"], 25);
    let resp = app.req(reqwest::Method::GET, &format!("/v1/reports/{id}/download")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let csv = resp.bytes().await.unwrap();
    assert_eq!(csv.len() as i64, ready["byte_count"].as_i64().unwrap());
    let mut reader = csv::Reader::from_reader(&csv[..]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 25);
    assert!(rows.iter().all(|r| r[0].starts_with("'+3461299") && &r[2] == "planned"), "{rows:?}");
}
