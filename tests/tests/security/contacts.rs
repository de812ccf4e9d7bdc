//! Deleted means never messaged: a contact deleted during an active campaign
//! is not sent to, and importing its phone again cannot put one person in two
//! active campaigns.

use std::time::Duration;

use e2e::{StatusCode, TestApp};
use serde_json::{Value, json};
use sqlx::PgPool;
use store::campaigns::{PlanOutcome, plan};
use workers::send::{RetryPolicy, SendResult, Sender};

const PHONES: [&str; 3] = ["+34612400001", "+34612400002", "+34612400003"];

fn contact(phone: &str, i: usize) -> Value {
    json!({"phone": phone, "name": format!("N{i}"), "tags": ["vip"], "valued_tags": {"order_id": format!("A{i}")}})
}

/// A launched, planned campaign for the `vip` tag; returns its id.
async fn launched(app: &TestApp, setup: &e2e::campaigns::Setup, name: &str) -> i64 {
    let id = app.ready_campaign(setup, name, json!({"pace_per_second": 1000})).await["id"].as_i64().unwrap();
    assert_eq!(app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await.0, StatusCode::OK);
    let mut tx = app.pg.begin().await.unwrap();
    assert!(matches!(plan(&mut tx, id).await.unwrap(), PlanOutcome::Planned(_)));
    tx.commit().await.unwrap();
    id
}

async fn sender(app: &TestApp) -> Sender {
    let redis = queue::connect(&e2e::redis_url()).await.unwrap();
    Sender {
        pg: app.pg.clone(),
        cipher: app.state.cipher.clone(),
        cloud: app.state.cloud.clone(),
        limiter: ratelimit::Limiter::new(redis, format!("test-deleted-{}", uuid::Uuid::new_v4().simple())),
        policy: RetryPolicy { max_limiter_wait: Duration::from_secs(5), ..RetryPolicy::default() },
    }
}

async fn row(app: &TestApp, campaign: i64, contact: i64) -> (String, Option<String>) {
    sqlx::query_as("select state, reason_code from recipients where campaign_id = $1 and contact_id = $2")
        .bind(campaign)
        .bind(contact)
        .fetch_one(&app.pg)
        .await
        .unwrap()
}

async fn set_state(app: &TestApp, campaign: i64, contact: i64, state: &str) {
    sqlx::query("update recipients set state = $3, queued_at = now() where campaign_id = $1 and contact_id = $2")
        .bind(campaign)
        .bind(contact)
        .bind(state)
        .execute(&app.pg)
        .await
        .unwrap();
}

async fn engaged(app: &TestApp, phone: &str) -> Option<i64> {
    sqlx::query_scalar("select campaign_id from engagements where org_id = $1 and phone = $2")
        .bind(app.org.0)
        .bind(phone)
        .fetch_optional(&app.pg)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_contact_deleted_during_an_active_campaign_is_never_messaged(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    let ids = app.contacts(Value::Array(PHONES.iter().enumerate().map(|(i, p)| contact(p, i)).collect())).await;
    let campaign = launched(&app, &setup, "Spring").await;
    // One row planned, one queued, one being sent at the moment of the deletion.
    set_state(&app, campaign, ids[1], "queued").await;
    set_state(&app, campaign, ids[2], "sending").await;
    for id in &ids {
        assert_eq!(app.delete(&format!("/v1/contacts/{id}")).await.0, StatusCode::NO_CONTENT);
    }
    assert_eq!(row(&app, campaign, ids[0]).await, ("excluded".into(), Some("contact_deleted".into())));
    assert_eq!(row(&app, campaign, ids[1]).await, ("excluded".into(), Some("contact_deleted".into())));
    assert_eq!(row(&app, campaign, ids[2]).await.0, "sending", "a send in flight is not taken back");
    assert_eq!(engaged(&app, PHONES[0]).await, None, "released: it was never sent to");
    assert_eq!(engaged(&app, PHONES[2]).await, Some(campaign), "it may have gone out: still engaged");

    // The send in flight fails in a retryable way and comes back to `queued`:
    // the claim finds its contact gone.
    set_state(&app, campaign, ids[2], "queued").await;
    let s = sender(&app).await;
    for id in &ids {
        assert_eq!(s.send(campaign, *id).await.unwrap(), SendResult::NothingToDo, "contact {id}");
    }
    assert_eq!(row(&app, campaign, ids[2]).await, ("excluded".into(), Some("contact_deleted".into())));
    for phone in PHONES {
        assert!(app.sim.messages_to(phone).is_empty(), "{phone} got a message");
    }
    let (_, stats) = app.get(&format!("/v1/campaigns/{campaign}/stats")).await;
    let reasons = stats["not_sent_reasons"].as_array().cloned().unwrap_or_default();
    let deleted = reasons.iter().find(|r| r["code"] == "contact_deleted").unwrap_or_else(|| panic!("{stats}"));
    assert_eq!(deleted["count"], 3, "{stats}");
    assert!(deleted["reason"].as_str().unwrap().contains("deleted"), "readable: {stats}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn importing_a_deleted_contact_again_cannot_put_one_person_in_two_active_campaigns(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    let ids = app.contacts(Value::Array(PHONES[..2].iter().enumerate().map(|(i, p)| contact(p, i)).collect())).await;
    let first = launched(&app, &setup, "First").await;
    // The first contact's message went out; the second's had not yet.
    set_state(&app, first, ids[0], "accepted").await;
    for id in &ids {
        assert_eq!(app.delete(&format!("/v1/contacts/{id}")).await.0, StatusCode::NO_CONTENT);
    }
    let again = app.contacts(Value::Array(PHONES[..2].iter().enumerate().map(|(i, p)| contact(p, i)).collect())).await;
    assert_ne!(again, ids, "new contacts");
    let second = launched(&app, &setup, "Second").await;
    let first_person: (String, Option<String>, Option<i64>) = sqlx::query_as(
        "select state, reason_code, engaged_campaign_id from recipients where campaign_id = $1 and contact_id = $2",
    )
    .bind(second)
    .bind(again[0])
    .fetch_one(&app.pg)
    .await
    .unwrap();
    assert_eq!(first_person, ("excluded".into(), Some("already_engaged".into()), Some(first)), "still in the first");
    assert_eq!(row(&app, second, again[1]).await, ("planned".into(), None), "never reached: free for the second");

    // Finishing the first releases the person for later campaigns.
    assert_eq!(app.post(&format!("/v1/campaigns/{first}/finish"), json!({})).await.0, StatusCode::OK);
    assert_eq!(engaged(&app, PHONES[0]).await, None);
}
