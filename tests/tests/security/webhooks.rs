//! Meta's webhook endpoint, the one route without an API key: what it
//! refuses, and what a validly signed webhook from another organization's
//! number can change of this one's (nothing).

use e2e::{StatusCode, TestApp, code, sim};
use serde_json::{Value, json};
use sqlx::PgPool;
use store::{
    campaigns::plan,
    statuses::{Callback, CallbackKey},
};
use workers::ingest::{Ingest, IngestSettings};

use crate::world::snapshot;

/// A launched campaign of the first organization whose two recipients Meta
/// accepted (`wamid.A0`, `wamid.A1`), and a third whose send is in doubt.
/// Returns the campaign and the contact ids.
async fn sent_campaign(app: &TestApp) -> (i64, Vec<i64>) {
    let setup = app.campaign_setup().await;
    let contacts: Vec<Value> = (0..3)
        .map(|i| json!({"phone": format!("+3461230000{i}"), "name": format!("N{i}"), "tags": ["vip"], "valued_tags": {"order_id": format!("A{i}")}}))
        .collect();
    let ids = app.contacts(Value::Array(contacts)).await;
    let campaign = app.ready_campaign(&setup, "Spring", json!({})).await["id"].as_i64().unwrap();
    assert_eq!(app.post(&format!("/v1/campaigns/{campaign}/launch"), json!({})).await.0, StatusCode::OK);
    let mut tx = app.pg.begin().await.unwrap();
    plan(&mut tx, campaign).await.unwrap();
    tx.commit().await.unwrap();
    for (i, contact) in ids.iter().enumerate() {
        let (state, wamid) = if i < 2 { ("accepted", Some(format!("wamid.A{i}"))) } else { ("in_doubt", None) };
        sqlx::query(
            "update recipients set state = $3, attempt = 1, wamid = $4 where campaign_id = $1 and contact_id = $2",
        )
        .bind(campaign)
        .bind(contact)
        .bind(state)
        .bind(wamid)
        .execute(&app.pg)
        .await
        .unwrap();
    }
    (campaign, ids)
}

async fn ingest(app: &TestApp) -> Ingest {
    let ns = format!("test{}.", uuid::Uuid::new_v4().simple());
    Ingest {
        pg: app.pg.clone(),
        redis: queue::connect(&e2e::redis_url()).await.unwrap(),
        replies: queue::QueueSettings {
            queue: format!("{ns}{}", <queue::ReplyJob as queue::Job>::QUEUE),
            ..queue::QueueSettings::for_job::<queue::ReplyJob>()
        },
        callbacks: CallbackKey::new(&app.state.cipher),
        settings: IngestSettings { max_attempts: 1, ..IngestSettings::default() },
    }
}

async fn drain(ingest: &Ingest) {
    while ingest.pass().await.unwrap().events > 0 {}
}

fn status(wamid: &str, status: &str, callback: Option<String>) -> Value {
    let mut s = json!({"id": wamid, "status": status, "timestamp": "1750000100", "recipient_id": "34612300000"});
    if let Some(cb) = callback {
        s["biz_opaque_callback_data"] = json!(cb);
    }
    s
}

fn failed_opt_out(wamid: &str) -> Value {
    let mut s = status(wamid, "failed", None);
    s["errors"] = json!([{"code": 131050, "title": "User stopped marketing messages", "message": "User stopped marketing messages"}]);
    s
}

/// A `messages` webhook about the number `phone_number_id`.
fn messages(phone_number_id: &str, waba: &str, statuses: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({"object": "whatsapp_business_account", "entry": [{"id": waba, "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "34910000002", "phone_number_id": phone_number_id},
        "statuses": statuses
    }}]}]}))
    .unwrap()
}

fn template_update(waba: &str, meta_template_id: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"object": "whatsapp_business_account", "entry": [{"id": waba, "time": 1750000000, "changes": [{
        "field": "message_template_status_update",
        "value": {"event": "PAUSED", "message_template_id": meta_template_id.parse::<i64>().unwrap(),
                  "message_template_name": "order_update", "message_template_language": "en_US", "reason": "ABUSIVE_CONTENT"}
    }]}]}))
    .unwrap()
}

fn signed(secret: &str, body: &[u8]) -> String {
    whatsapp::sign(secret.as_bytes(), body)
}

async fn stored(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from webhook_events").fetch_one(&app.pg).await.unwrap()
}

fn ignored_total() -> f64 {
    let text = process::telemetry::metrics_handle().render();
    text.lines()
        .filter(|l| l.starts_with("webhook_items_ignored_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn forged_missing_sha1_only_and_tampered_signatures_are_refused_and_nothing_is_stored(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    app.register_number().await;
    let (_, other) = app.other_org().await;
    app.register_other_number(&other).await;
    let body = messages(sim::PHONE_NUMBER_ID, sim::WABA_ID, vec![status("wamid.A0", "read", None)]);
    let good = signed(sim::APP_SECRET, &body);
    let tampered = String::from_utf8(body.clone()).unwrap().replace("\"read\"", "\"sent\"").into_bytes();
    assert_ne!(tampered, body);
    let sha1_only = app
        .http
        .post(app.url("/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .header("x-hub-signature", "sha1=0123456789abcdef0123456789abcdef01234567")
        .body(body.clone());
    let (status, err) = e2e::send(sha1_only).await;
    assert_eq!((status, code(&err)), (StatusCode::UNAUTHORIZED, "invalid_signature"), "sha1 only: {err}");
    for (what, bytes, signature) in [
        ("no signature", body.clone(), None),
        ("a forged signature", body.clone(), Some(format!("sha256={}", "0".repeat(64)))),
        ("not sha256=", body.clone(), Some(good.replace("sha256=", "sha1="))),
        ("the body changed after signing", tampered, Some(good.clone())),
        ("another organization's secret on this number", body.clone(), Some(signed(sim::OTHER_APP_SECRET, &body))),
    ] {
        let (status, err) = app.post_webhook(&bytes, signature.as_deref()).await;
        assert_eq!((status, code(&err)), (StatusCode::UNAUTHORIZED, "invalid_signature"), "{what}: {err}");
    }
    let unknown = messages("999000999", "999000998", vec![]);
    for _ in 0..3 {
        let (status, err) = app.post_webhook(&unknown, Some(&signed("whatever", &unknown))).await;
        assert_eq!((status, code(&err)), (StatusCode::UNAUTHORIZED, "unknown_number"), "{err}");
    }
    assert_eq!(stored(&app).await, 0, "nothing stored");
    assert_eq!(app.post_webhook(&body, Some(&good)).await.0, StatusCode::OK, "the real signature is accepted");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_validly_signed_webhook_from_another_organization_changes_nothing_of_this_one(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, ids) = sent_campaign(&app).await;
    let (other_org, other_key) = app.other_org().await;
    app.register_other_number(&other_key).await;
    let ingest = ingest(&app).await;
    let meta_template: String = sqlx::query_scalar(
        "select meta_template_id from templates where org_id = $1 and name = 'order_update' limit 1",
    )
    .bind(app.org.0)
    .fetch_one(&app.pg)
    .await
    .unwrap();
    let key = CallbackKey::new(&app.state.cipher);
    let in_doubt = Callback { campaign_id: campaign, contact_id: ids[2], attempt: 1 };
    let before = snapshot(&app.pg, app.org).await;
    let ignored_before = ignored_total();

    // The other organization's own number signs statuses about this one's
    // wamids, this one's (genuine) callback data, a guessed callback with a
    // made-up MAC, and an opt-out for this one's recipient.
    let foreign = messages(
        sim::OTHER_PHONE_NUMBER_ID,
        sim::OTHER_WABA_ID,
        vec![
            status("wamid.A0", "read", None),
            status("wamid.NEW", "delivered", Some(in_doubt.encode(&key))),
            status("wamid.GUESS", "sent", Some(format!("c{campaign}:r{}:a1:AAAAAAAAAAAAAAAA", ids[2]))),
            failed_opt_out("wamid.A1"),
        ],
    );
    // Template updates naming this organization's template: from the other
    // organization's WABA, and from this one's WABA by a number of the other
    // organization registered on it (as one could before numbers were verified).
    sqlx::query(
        "insert into wa_numbers (org_id, phone_number_id, waba_id, portfolio_id, display_number, access_token_enc,
                                 app_secret_enc)
         values ($1, '555000111', $2, 'waba:' || $2, '+34910000003', $3, $4)",
    )
    .bind(other_org.0)
    .bind(sim::WABA_ID)
    .bind(app.state.cipher.encrypt(&format!("wa_numbers.access_token:org={}", other_org.0), "t"))
    .bind(app.state.cipher.encrypt(&format!("wa_numbers.app_secret:org={}", other_org.0), "squatter-secret"))
    .execute(&app.pg)
    .await
    .unwrap();
    app.state.app_secrets.clear();
    let from_their_waba = template_update(sim::OTHER_WABA_ID, &meta_template);
    let squatted = template_update(sim::WABA_ID, &meta_template);
    for (what, body, secret) in [
        ("statuses", foreign, sim::OTHER_APP_SECRET),
        ("a template update from their WABA", from_their_waba, sim::OTHER_APP_SECRET),
        ("a template update on this WABA", squatted, "squatter-secret"),
    ] {
        let (status, answer) = app.post_webhook(&body, Some(&signed(secret, &body))).await;
        assert_eq!(status, StatusCode::OK, "{what} is signed by a registered number: {answer}");
    }
    drain(&ingest).await;
    let after = snapshot(&app.pg, app.org).await;
    for table in ["recipients", "opt_outs", "templates", "campaigns", "campaign_counters", "engagements"] {
        assert_eq!(after[table], before[table], "{table} of this organization changed");
    }
    // One forged callback, two statuses about this organization's messages, two template updates.
    assert!(ignored_total() - ignored_before >= 5.0, "the foreign items were counted as ignored");
    let (_, c) = app.get(&format!("/v1/campaigns/{campaign}")).await;
    assert!(c["paused_at"].is_null(), "not paused: {c}");

    // This organization's own number settles the same rows.
    let own = messages(
        sim::PHONE_NUMBER_ID,
        sim::WABA_ID,
        vec![status("wamid.A0", "read", None), status("wamid.NEW", "delivered", Some(in_doubt.encode(&key)))],
    );
    assert_eq!(app.post_webhook(&own, Some(&signed(sim::APP_SECRET, &own))).await.0, StatusCode::OK);
    drain(&ingest).await;
    let states: Vec<String> =
        sqlx::query_scalar("select state from recipients where campaign_id = $1 order by contact_id")
            .bind(campaign)
            .fetch_all(&app.pg)
            .await
            .unwrap();
    assert_eq!(states, ["read", "accepted", "delivered"], "the owner's statuses apply");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_replayed_batch_is_applied_once(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, _) = sent_campaign(&app).await;
    let ingest = ingest(&app).await;
    let body = messages(
        sim::PHONE_NUMBER_ID,
        sim::WABA_ID,
        vec![status("wamid.A0", "delivered", None), status("wamid.A1", "read", None)],
    );
    for _ in 0..3 {
        assert_eq!(app.post_webhook(&body, Some(&signed(sim::APP_SECRET, &body))).await.0, StatusCode::OK);
    }
    drain(&ingest).await;
    let (_, stats) = app.get(&format!("/v1/campaigns/{campaign}/stats")).await;
    assert_eq!((stats["received"].as_i64(), stats["read"].as_i64()), (Some(2), Some(1)), "{stats}");
    let counters: i64 = sqlx::query_scalar(
        "select coalesce(sum(value), 0)::bigint from campaign_counters where campaign_id = $1 and metric = 'delivered'",
    )
    .bind(campaign)
    .fetch_one(&app.pg)
    .await
    .unwrap();
    assert_eq!(counters, 2, "each message counted once");
}
