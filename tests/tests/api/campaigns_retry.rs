//! `POST /v1/campaigns/{id}/retry-failed`: a new campaign for exactly the
//! recipients whose failure is worth retrying later, which takes their
//! engagement over from the campaign it retries.

use std::time::{Duration, Instant};

use e2e::{StatusCode, TestApp, code};
use serde_json::{Value, json};
use sqlx::PgPool;
use wa_sim::config::ScriptedFailure;

use crate::pipeline::pipeline;

const HELD_BACK: &str = "+34612900001"; // Meta's marketing limit (131049): worth retrying
const NOT_ON_WHATSAPP: &str = "+34612900002"; // 131026: permanent
const RECEIVED: &str = "+34612900003";

fn failure(phone: &str, code: i64) -> ScriptedFailure {
    ScriptedFailure { numbers: vec![phone.to_owned()], prefix: None, code }
}

/// The campaign's recipients once each has `want` outcomes, by phone (polled up to a deadline).
async fn settled(app: &TestApp, id: i64, want: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, page) = app.get(&format!("/v1/campaigns/{id}/recipients")).await;
        let rows = page["data"].as_array().cloned().unwrap_or_default();
        let done = rows.iter().filter(|r| !matches!(r["outcome"].as_str(), Some("pending") | None)).count();
        if rows.len() == want && done == want {
            return rows;
        }
        assert!(Instant::now() < deadline, "campaign {id} did not settle: {page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn outcome_of<'a>(rows: &'a [Value], phone: &str) -> (&'a str, &'a str) {
    let row = rows.iter().find(|r| r["phone"] == phone).unwrap_or_else(|| panic!("{phone} not in {rows:?}"));
    (row["outcome"].as_str().unwrap_or_default(), row["reason_code"].as_str().unwrap_or_default())
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn retry_failed_targets_exactly_the_failures_worth_retrying_and_takes_over_their_engagement(pg: PgPool) {
    let app = TestApp::spawn_with_webhooks(pg, |w| {
        (w.sent_delay_ms, w.delivered_delay_ms, w.flush_interval_ms) = (10, 20, 20);
        w.scripted_failures = vec![failure(HELD_BACK, 131049), failure(NOT_ON_WHATSAPP, 131026)];
    })
    .await;
    let setup = app.campaign_setup().await;
    app.contacts(json!([
        {"phone": HELD_BACK, "name": "Ana", "tags": ["vip"], "valued_tags": {"order_id": "A-1"}},
        {"phone": NOT_ON_WHATSAPP, "name": "Rui", "tags": ["vip"], "valued_tags": {"order_id": "A-2"}},
        {"phone": RECEIVED, "name": "Eva", "tags": ["vip"], "valued_tags": {"order_id": "A-3"}},
        {"phone": "+34612900004", "name": "Leo", "tags": ["vip"]},
    ]))
    .await;
    let id = app.ready_campaign(&setup, "Spring", json!({})).await["id"].as_i64().unwrap();
    let retry_url = format!("/v1/campaigns/{id}/retry-failed");
    let (status, err) = app.post(&retry_url, json!({})).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "nothing_to_retry"), "nothing has failed yet: {err}");

    let stop = pipeline(&app).await;
    assert_eq!(app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await.0, StatusCode::OK);
    let rows = settled(&app, id, 4).await;
    assert_eq!(outcome_of(&rows, HELD_BACK), ("not_sent", "ecosystem_limited"));
    assert_eq!(outcome_of(&rows, NOT_ON_WHATSAPP), ("not_sent", "not_whatsapp_user"));
    assert_eq!(outcome_of(&rows, RECEIVED).0, "received");
    assert_eq!(outcome_of(&rows, "+34612900004"), ("not_sent", "missing_valued_tag"));

    // Only the contact Meta held back is retried; the campaign is still active.
    let (status, retry) = app.post(&retry_url, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{retry}");
    let retry_id = retry["id"].as_i64().unwrap();
    assert_eq!(retry["name"], "Retry of Spring");
    assert_eq!((retry["kind"].as_str(), retry["state"].as_str()), (Some("real"), Some("ready")), "{retry}");
    assert_eq!(retry["retry_of"], id);
    assert_eq!(retry["audience"]["contacts"], 1, "{retry}");
    let (_, original) = app.get(&format!("/v1/campaigns/{id}")).await;
    assert_eq!((&retry["template"], &retry["bindings"]), (&original["template"], &original["bindings"]));
    assert_eq!(original["state"], "active");
    let (status, err) = app.patch(&format!("/v1/campaigns/{retry_id}"), json!({"audience": {"tags": ["vip"]}})).await;
    assert_eq!((status, code(&err)), (StatusCode::UNPROCESSABLE_ENTITY, "audience_fixed"), "{err}");
    let (status, named) = app.post(&retry_url, json!({"name": "Second try"})).await;
    assert_eq!((status, named["name"].as_str()), (StatusCode::CREATED, Some("Second try")), "{named}");
    assert_eq!(app.delete(&format!("/v1/campaigns/{}", named["id"])).await.0, StatusCode::NO_CONTENT);

    // The retry does not wait for Spring to finish: it will send to Ana, and does.
    let (_, forecast) = app.get(&format!("/v1/campaigns/{retry_id}/forecast")).await;
    assert_eq!((forecast["audience"].as_i64(), forecast["will_send"].as_i64()), (Some(1), Some(1)), "{forecast}");
    assert_eq!(app.post(&format!("/v1/campaigns/{retry_id}/launch"), json!({})).await.0, StatusCode::OK);
    let rows = settled(&app, retry_id, 1).await;
    assert_eq!(rows[0]["phone"], HELD_BACK, "exactly the contact worth retrying: {rows:?}");
    let engaged: i64 = sqlx::query_scalar("select campaign_id from engagements where phone = $1")
        .bind(HELD_BACK)
        .fetch_one(&app.pg)
        .await
        .unwrap();
    assert_eq!(engaged, retry_id, "her replies now go to the retry's bot flow");
    stop.cancel();
}
