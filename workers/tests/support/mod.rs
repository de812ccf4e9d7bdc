//! What the worker tests share: a pipeline wired as one `campaigns-worker`
//! process wires it, on its own queue namespace.
#![allow(dead_code)] // each test crate uses a part

use std::{sync::Arc, time::Duration};

use e2e::{TestApp, redis_url};
use serde_json::json;
use store::campaigns::{PlanOutcome, plan};
use tokio_util::sync::CancellationToken;
use workers::{
    pipeline::{Pipeline, Settings, run},
    reply::{Replier, ReplyPolicy},
    send::{RetryPolicy, Sender},
};

/// A queue and limiter key prefix no other test uses.
pub fn namespace() -> String {
    format!("test{}.", uuid::Uuid::new_v4().simple())
}

/// A pipeline on the namespace `ns` with a 200 ms tick and 50 ms reply
/// back-off, allowing private bot targets (test bots listen on loopback);
/// `configure` adjusts its settings and reply policy.
pub async fn pipeline(
    app: &TestApp,
    ns: &str,
    configure: impl FnOnce(&mut Settings, &mut ReplyPolicy),
) -> Arc<Pipeline> {
    pipeline_with_policy(app, ns, RetryPolicy::default(), configure).await
}

/// [`pipeline`] whose sender follows `policy`.
pub async fn pipeline_with_policy(
    app: &TestApp,
    ns: &str,
    policy: RetryPolicy,
    configure: impl FnOnce(&mut Settings, &mut ReplyPolicy),
) -> Arc<Pipeline> {
    let redis = queue::connect(&redis_url()).await.expect("Redis must run (scripts/services up)");
    let sender = Sender {
        pg: app.pg.clone(),
        cipher: app.state.cipher.clone(),
        cloud: app.state.cloud.clone(),
        limiter: ratelimit::Limiter::new(redis.clone(), ns.to_owned()),
        policy,
    };
    let mut settings = Settings::new(format!("test-{}", uuid::Uuid::new_v4().simple()));
    settings.queue_prefix = ns.to_owned();
    settings.tick = Duration::from_millis(200);
    let mut reply = ReplyPolicy { base: Duration::from_millis(50), allow_private: true, ..ReplyPolicy::default() };
    configure(&mut settings, &mut reply);
    let replier = Replier::new(app.pg.clone(), app.state.cipher.clone(), reply).expect("reply client");
    Arc::new(Pipeline { settings, pg: app.pg.clone(), redis, sender, replier })
}

/// Runs `pipeline` until the returned token is cancelled.
pub fn spawn(pipeline: Arc<Pipeline>) -> CancellationToken {
    let stop = CancellationToken::new();
    tokio::spawn(run(pipeline, stop.clone()));
    stop
}

/// A launched, planned campaign whose recipients are queued (as the fan-out
/// leaves them), and a sender on a fresh limiter namespace.
pub async fn queued_campaign(app: &TestApp, phones: &[&str]) -> (i64, Vec<i64>) {
    queued_campaign_with(app, phones, json!({"pace_per_second": 1000})).await
}

/// [`queued_campaign`] with `extra` campaign fields.
pub async fn queued_campaign_with(app: &TestApp, phones: &[&str], extra: serde_json::Value) -> (i64, Vec<i64>) {
    let setup = app.campaign_setup().await;
    let contacts: Vec<_> = phones
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"phone": p, "name": format!("N{i}"), "tags": ["vip"], "valued_tags": {"order_id": format!("A{i}")}}))
        .collect();
    let ids = app.contacts(serde_json::Value::Array(contacts)).await;
    let c = app.ready_campaign(&setup, "send test", extra).await;
    let id = c["id"].as_i64().expect("test setup");
    assert_eq!(app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await.0, e2e::StatusCode::OK);
    let mut tx = app.pg.begin().await.expect("test setup");
    assert!(matches!(plan(&mut tx, id).await.expect("test setup"), PlanOutcome::Planned(_)));
    tx.commit().await.expect("test setup");
    sqlx::query(
        "update recipients set state = 'queued', queued_at = now() where campaign_id = $1 and state = 'planned'",
    )
    .bind(id)
    .execute(&app.pg)
    .await
    .expect("test setup");
    (id, ids)
}

/// Evidence that never applies in these tests: no statuses of later sends.
pub const EVIDENCE: store::recipients::Evidence = store::recipients::Evidence {
    margin: Duration::from_secs(15),
    settle_after: Duration::from_secs(25),
    outage_grace: Duration::from_secs(30),
};

pub async fn sender(app: &TestApp, cloud: whatsapp::CloudClient) -> Sender {
    let conn =
        redis::Client::open(redis_url()).expect("test setup").get_connection_manager().await.expect("test setup");
    let prefix = format!("test-send-{}", uuid::Uuid::new_v4().simple());
    Sender {
        pg: app.pg.clone(),
        cipher: app.state.cipher.clone(),
        cloud,
        limiter: ratelimit::Limiter::new(conn, prefix),
        policy: RetryPolicy { max_limiter_wait: Duration::from_secs(5), ..RetryPolicy::default() },
    }
}

pub async fn state(app: &TestApp, campaign: i64, contact: i64) -> (String, Option<String>, Option<String>, i32) {
    sqlx::query_as(
        "select state, reason_code, wamid, attempt from recipients where campaign_id = $1 and contact_id = $2",
    )
    .bind(campaign)
    .bind(contact)
    .fetch_one(&app.pg)
    .await
    .expect("test setup")
}
