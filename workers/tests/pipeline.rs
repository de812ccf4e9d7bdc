#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns
//! The whole path: a campaign launched through the API is planned, fanned
//! out and sent by the pipeline, once per contact, and marked fully sent;
//! scheduled campaigns start by themselves; work lost from Redis is rebuilt.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use e2e::{StatusCode, TestApp, eventually};
use serde_json::json;
use sqlx::PgPool;
use support::namespace;
use tokio_util::sync::CancellationToken;
use workers::pipeline::Pipeline;

mod support;

/// A pipeline (as in one worker process) on the queue namespace `ns`, with
/// lost work re-pushed after 2 s, running until the returned token is cancelled.
async fn start(app: &TestApp, ns: &str) -> (Arc<Pipeline>, CancellationToken) {
    // Lost work is found by its age; a job may wait for the limiter for 10 s first.
    let pipeline = support::pipeline(app, ns, |s, _| s.lost_work = Duration::from_secs(25)).await;
    (pipeline.clone(), support::spawn(pipeline))
}

async fn contacts(app: &TestApp, n: usize) {
    let list: Vec<_> = (0..n)
        .map(|i| json!({"phone": format!("+3461234{i:04}"), "name": format!("N{i}"), "tags": ["vip"], "valued_tags": {"order_id": format!("A{i}")}}))
        .collect();
    app.contacts(serde_json::Value::Array(list)).await;
}

async fn fully_sent(app: &TestApp, campaign: i64) -> bool {
    sqlx::query_scalar::<_, bool>("select fully_sent_at is not null from campaigns where id = $1")
        .bind(campaign)
        .fetch_one(&app.pg)
        .await
        .unwrap()
}

fn assert_one_message_each(app: &TestApp, n: usize) {
    let accepted = app.sim.accepted();
    assert_eq!(accepted.len(), n, "one message per contact, no more");
    let mut to: Vec<&str> = accepted.iter().map(|m| m.wa_id.as_str()).collect();
    to.sort_unstable();
    to.dedup();
    assert_eq!(to.len(), n, "no contact got two");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_launched_campaign_reaches_every_contact_once_and_is_marked_fully_sent(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    contacts(&app, 60).await;
    let c = app.ready_campaign(&setup, "everyone", json!({"pace_per_second": 200})).await;
    let id = c["id"].as_i64().unwrap();
    let (_pipeline, stop) = start(&app, &namespace()).await;
    assert_eq!(app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await.0, StatusCode::OK);

    eventually(Duration::from_secs(30), "the campaign fully sent", || async {
        fully_sent(&app, id).await.then_some(())
    })
    .await;
    assert_one_message_each(&app, 60);
    let states: Vec<(String, i64)> =
        sqlx::query_as("select state, count(*) from recipients where campaign_id = $1 group by 1")
            .bind(id)
            .fetch_all(&app.pg)
            .await
            .unwrap();
    assert_eq!(states, [("accepted".to_owned(), 60)]);
    stop.cancel();
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_scheduled_campaign_starts_on_time_once_with_two_schedulers(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    contacts(&app, 10).await;
    let c = app.ready_campaign(&setup, "scheduled", json!({})).await;
    let id = c["id"].as_i64().unwrap();
    let at = Utc::now() + chrono::Duration::seconds(2);
    let (status, body) = app
        .post(&format!("/v1/campaigns/{id}/schedule"), json!({"at": at.to_rfc3339(), "contacts_per_hour": 36_000}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Two worker processes on the same queues, each with its own scheduler.
    let ns = namespace();
    let (_first, stop_first) = start(&app, &ns).await;
    let (_second, stop_second) = start(&app, &ns).await;
    eventually(Duration::from_secs(30), "the campaign fully sent", || async {
        fully_sent(&app, id).await.then_some(())
    })
    .await;
    let launched_at: chrono::DateTime<Utc> = sqlx::query_scalar("select launched_at from campaigns where id = $1")
        .bind(id)
        .fetch_one(&app.pg)
        .await
        .unwrap();
    assert!(launched_at >= at, "not before its time: {launched_at} < {at}");
    let outbox: i64 = sqlx::query_scalar("select count(*) from job_outbox where dedupe_key = $1")
        .bind(format!("launch:{id}"))
        .fetch_one(&app.pg)
        .await
        .unwrap();
    assert_eq!(outbox, 1, "launched once");
    assert_one_message_each(&app, 10);
    stop_first.cancel();
    stop_second.cancel();
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn redis_flushed_mid_campaign_the_campaign_still_completes_without_a_duplicate(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    contacts(&app, 40).await;
    let c = app.ready_campaign(&setup, "flushed", json!({"pace_per_second": 10})).await;
    let id = c["id"].as_i64().unwrap();
    let (pipeline, stop) = start(&app, &namespace()).await;
    assert_eq!(app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await.0, StatusCode::OK);
    eventually(Duration::from_secs(20), "some messages sent", || async {
        (app.sim.accepted_count() >= 5).then_some(())
    })
    .await;
    assert!(app.sim.accepted_count() < 40, "work is still queued when Redis loses it");
    // Every key of this pipeline's queues and limiter disappears, jobs included.
    let mut conn = pipeline.redis.clone();
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{}*", pipeline.settings.queue_prefix)).query_async(&mut conn).await.unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.unwrap();
    }
    eventually(Duration::from_secs(60), "the campaign fully sent", || async {
        fully_sent(&app, id).await.then_some(())
    })
    .await;
    assert_one_message_each(&app, 40);
    stop.cancel();
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_scheduled_campaign_whose_header_media_expired_meanwhile_renews_it_before_sending(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    contacts(&app, 3).await;
    let image = app.upload_media(setup.number_id, "image/png", &e2e::campaigns::png()).await;
    let template_id = app.template_id("promo_image", "en_US").await;
    let c = app
        .ready_campaign(
            &setup,
            "image promo",
            json!({"template_id": template_id, "header_media_id": image,
                   "bindings": [{"param": "1", "kind": "contact_name"}]}),
        )
        .await;
    let id = c["id"].as_i64().unwrap();
    let at = Utc::now() + chrono::Duration::seconds(1);
    let (status, body) = app
        .post(&format!("/v1/campaigns/{id}/schedule"), json!({"at": at.to_rfc3339(), "contacts_per_hour": 36_000}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Scheduled long ago: by its start, Meta has forgotten the upload.
    let (old_id,): (String,) = sqlx::query_as(
        "update media_assets set meta_uploaded_at = now() - interval '31 days', meta_expires_at = now() - interval '1 day'
         where id = $1 returning meta_media_id",
    )
    .bind(image)
    .fetch_one(&app.pg)
    .await
    .unwrap();
    let (_pipeline, stop) = start(&app, &namespace()).await;
    eventually(Duration::from_secs(30), "the campaign fully sent", || async {
        fully_sent(&app, id).await.then_some(())
    })
    .await;
    let (new_id,): (String,) = sqlx::query_as(
        "select meta_media_id from media_assets where id = $1 and meta_expires_at > now() + interval '29 days'",
    )
    .bind(image)
    .fetch_one(&app.pg)
    .await
    .unwrap();
    assert_ne!(new_id, old_id, "uploaded again");
    let sent = app.sim.accepted();
    assert_eq!(sent.len(), 3);
    assert!(
        sent.iter().all(|m| m.header_parameters.iter().any(|p| p.to_string().contains(&new_id))),
        "{:?}",
        sent[0].header_parameters
    );
    stop.cancel();
}
