use std::time::Duration;

use e2e::{StatusCode, TestApp, WEBHOOK_VERIFY_TOKEN, code, send, sim};
use serde_json::{Value, json};
use sqlx::PgPool;
use store::numbers::{self, NumberChanges};
use whatsapp::sign;

/// Meta's documented examples (reference §3.3, §3.4): sent, delivered,
/// read and failed statuses in one change, a text message and a button
/// reply in another. Non-ASCII text is `\u`-escaped, as Meta sends it.
fn statuses_and_messages(phone_number_id: &str) -> Vec<u8> {
    let metadata = json!({"display_phone_number": "34910000001", "phone_number_id": phone_number_id});
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": sim::WABA_ID,
            "changes": [
                {"field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": metadata,
                    "statuses": [
                        {"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=", "status": "sent",
                         "timestamp": "1750030073", "recipient_id": "16505551234",
                         "conversation": {"id": "72b14d6bd5407799e66f64d1b338e567",
                                          "expiration_timestamp": "1750116480", "origin": {"type": "marketing"}},
                         "pricing": {"billable": true, "pricing_model": "PMP", "type": "regular",
                                     "category": "marketing"}},
                        {"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
                         "status": "delivered", "timestamp": "1750030080", "recipient_id": "16505551234",
                         "pricing": {"billable": true, "pricing_model": "PMP", "type": "regular",
                                     "category": "marketing"}},
                        {"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=", "status": "read",
                         "timestamp": "1750030090", "recipient_id": "16505551234"},
                        {"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA", "status": "failed",
                         "timestamp": "1751142888", "recipient_id": "16505551234",
                         "errors": [{"code": 131049,
                             "title": "This message was not delivered to maintain healthy ecosystem engagement.",
                             "message": "This message was not delivered to maintain healthy ecosystem engagement.",
                             "error_data": {"details": "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."},
                             "href": "/documentation/business-messaging/whatsapp/support/error-codes"}]}
                    ]
                }},
                {"field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": metadata,
                    "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
                    "messages": [
                        {"from": "16505551234", "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAB=",
                         "timestamp": "1749416383", "type": "text",
                         "text": {"body": "Does it come in another color? ¿Está en azul?"}},
                        {"context": {"from": "34910000001", "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="},
                         "from": "16505551234", "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAC=",
                         "timestamp": "1750091045", "type": "button",
                         "button": {"payload": "Unsubscribe", "text": "Unsubscribe"}}
                    ]
                }}
            ]
        }]
    });
    ascii_json(&body)
}

/// Meta's `message_template_status_update` example for a WABA (reference §3.6).
fn template_status(waba_id: &str) -> Vec<u8> {
    ascii_json(&json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": waba_id,
            "time": 1750091045,
            "changes": [{"field": "message_template_status_update", "value": {
                "event": "PAUSED",
                "message_template_id": 1_689_556_908_129_832_u64,
                "message_template_name": "order_update",
                "message_template_language": "en_US",
                "reason": null,
                "message_template_category": "MARKETING",
                "other_info": {"title": "FIRST_PAUSE", "description": "Paused for low quality"}
            }}]
        }]
    }))
}

/// JSON with every non-ASCII character escaped as `\uXXXX`, as Meta signs it.
fn ascii_json(value: &Value) -> Vec<u8> {
    let mut out = String::new();
    for c in value.to_string().chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out.into_bytes()
}

fn signed(body: &[u8]) -> String {
    sign(sim::APP_SECRET.as_bytes(), body)
}

async fn stored(app: &TestApp) -> Vec<(Option<String>, Vec<u8>)> {
    sqlx::query_as("select phone_number_id, payload from webhook_events order by id").fetch_all(&app.pg).await.unwrap()
}

async fn handshake(app: &TestApp, query: &str) -> (StatusCode, String) {
    let resp = app.http.get(app.url(&format!("/webhooks/whatsapp?{query}"))).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_subscription_handshake_echoes_the_challenge_only_for_the_verify_token(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let ok = format!("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={WEBHOOK_VERIFY_TOKEN}");
    assert_eq!(handshake(&app, &ok).await, (StatusCode::OK, "1158201444".to_owned()), "plain text, no API key");

    for (query, status, expected) in [
        ("hub.mode=subscribe&hub.challenge=1&hub.verify_token=wrong", StatusCode::FORBIDDEN, "verification_refused"),
        ("hub.mode=subscribe&hub.challenge=1", StatusCode::FORBIDDEN, "verification_refused"),
        (
            &format!("hub.mode=unsubscribe&hub.challenge=1&hub.verify_token={WEBHOOK_VERIFY_TOKEN}"),
            StatusCode::FORBIDDEN,
            "verification_refused",
        ),
        (
            &format!("hub.mode=subscribe&hub.verify_token={WEBHOOK_VERIFY_TOKEN}"),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
    ] {
        let (got, body) = send(app.http.get(app.url(&format!("/webhooks/whatsapp?{query}")))).await;
        assert_eq!((got, code(&body)), (status, expected), "{query}: {body}");
        assert!(!body.to_string().contains(WEBHOOK_VERIFY_TOKEN), "the token is never echoed: {body}");
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_handshake_is_refused_when_no_verify_token_is_configured(pg: PgPool) {
    let app = TestApp::spawn_without_webhook_token(pg).await;
    let (status, body) =
        send(app.http.get(app.url("/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1&hub.verify_token="))).await;
    assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "verify_token_not_configured"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("WEBHOOK_VERIFY_TOKEN"));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_signed_batch_of_statuses_and_messages_is_stored_byte_for_byte_before_the_200(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    app.register_number().await;
    let body = statuses_and_messages(sim::PHONE_NUMBER_ID);
    assert!(body.is_ascii() && body.windows(6).any(|w| w == b"\\u00bf"), "escaped as Meta sends it");

    let (status, answer) = app.post_webhook(&body, Some(&signed(&body))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let rows = stored(&app).await;
    assert_eq!(rows, [(Some(sim::PHONE_NUMBER_ID.to_owned()), body.clone())], "the raw bytes, as signed");
    let (id, processed): (i64, Option<chrono::DateTime<chrono::Utc>>) =
        sqlx::query_as("select id, processed_at from webhook_events").fetch_one(&app.pg).await.unwrap();
    assert_eq!((answer["event_id"].as_i64(), processed), (Some(id), None), "pending for the workers");

    // Meta redelivers: each delivery is stored (the workers deduplicate).
    assert_eq!(app.post_webhook(&body, Some(&signed(&body))).await.0, StatusCode::OK);
    assert_eq!(stored(&app).await.len(), 2);

    let (_, metrics) = send(app.http.get(format!("{}/metrics", app.metrics_base))).await;
    assert!(metrics.as_str().unwrap().contains(r#"webhook_requests_total{outcome="stored"}"#), "{metrics}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn forged_or_missing_signatures_are_refused_and_nothing_is_stored(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    app.register_number().await;
    let body = statuses_and_messages(sim::PHONE_NUMBER_ID);
    let mut tampered = body.clone();
    let at = tampered.windows(9).position(|w| w == b"delivered").unwrap();
    tampered[at..at + 9].copy_from_slice(b"DELIVERED");
    let cases: [(&[u8], Option<String>, &str); 5] = [
        (&body, Some(sign(b"someone-elses-app-secret", &body)), "does not match"),
        (&tampered, Some(signed(&body)), "does not match"),
        (&body, None, "missing"),
        (&body, Some(signed(&body).replace("sha256=", "sha1=")), "sha256="),
        (&body, Some("sha256=abc".to_owned()), "wrong length"),
    ];
    for (payload, signature, says) in cases {
        let (status, answer) = app.post_webhook(payload, signature.as_deref()).await;
        assert_eq!((status, code(&answer)), (StatusCode::UNAUTHORIZED, "invalid_signature"), "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(says) && message.contains("X-Hub-Signature-256"), "{message}");
        assert!(!answer.to_string().contains(sim::APP_SECRET), "never the secret");
    }
    assert!(stored(&app).await.is_empty(), "a refused webhook is not stored");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_webhook_about_an_unregistered_number_is_refused(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let body = statuses_and_messages(sim::PHONE_NUMBER_ID);
    let (status, answer) = app.post_webhook(&body, Some(&signed(&body))).await;
    assert_eq!((status, code(&answer)), (StatusCode::UNAUTHORIZED, "unknown_number"), "not registered yet: {answer}");

    app.register_number().await;
    assert_eq!(app.post_webhook(&body, Some(&signed(&body))).await.0, StatusCode::OK, "registered now");
    // A batch about a registered and an unknown number is refused as a whole.
    let mut mixed: Value = serde_json::from_slice(&body).unwrap();
    mixed["entry"][0]["changes"][1]["value"]["metadata"]["phone_number_id"] = json!("999000111");
    let mixed = ascii_json(&mixed);
    let (status, answer) = app.post_webhook(&mixed, Some(&signed(&mixed))).await;
    assert_eq!((status, code(&answer)), (StatusCode::UNAUTHORIZED, "unknown_number"), "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("999000111"), "{answer}");
    assert_eq!(stored(&app).await.len(), 1, "only the accepted one");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn malformed_webhooks_are_400_and_not_stored(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    app.register_number().await;
    let no_metadata = json!({"object": "whatsapp_business_account",
        "entry": [{"id": sim::WABA_ID, "changes": [{"field": "messages", "value": {"statuses": []}}]}]});
    let cases: [(Vec<u8>, &str); 4] = [
        (b"{\"object\": \"whatsapp_business_account\", \"entry\": [".to_vec(), "not a WhatsApp webhook"),
        (json!({"object": "page", "entry": []}).to_string().into_bytes(), "expected \"whatsapp_business_account\""),
        (no_metadata.to_string().into_bytes(), "metadata"),
        (json!({"object": "whatsapp_business_account", "entry": []}).to_string().into_bytes(), "no entry"),
    ];
    for (body, says) in cases {
        let (status, answer) = app.post_webhook(&body, Some(&signed(&body))).await;
        assert_eq!((status, code(&answer)), (StatusCode::BAD_REQUEST, "invalid_webhook"), "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(says), "{says}: {answer}");
    }
    assert!(stored(&app).await.is_empty());
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_template_status_update_is_checked_against_a_number_on_its_waba(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    app.register_number().await;
    let body = template_status(sim::WABA_ID);
    let (status, answer) = app.post_webhook(&body, Some(&signed(&body))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(stored(&app).await, [(Some(sim::PHONE_NUMBER_ID.to_owned()), body.clone())], "the WABA's number");

    let (status, answer) = app.post_webhook(&body, Some(&sign(b"another-app", &body))).await;
    assert_eq!((status, code(&answer)), (StatusCode::UNAUTHORIZED, "invalid_signature"), "{answer}");
    let other = template_status("999888777");
    let (status, answer) = app.post_webhook(&other, Some(&signed(&other))).await;
    assert_eq!((status, code(&answer)), (StatusCode::UNAUTHORIZED, "unknown_number"), "no number on that WABA");
    assert_eq!(stored(&app).await.len(), 1);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_changed_app_secret_is_used_without_waiting_for_the_cache(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let id = app.register_number().await;
    let body = statuses_and_messages(sim::PHONE_NUMBER_ID);
    assert_eq!(app.post_webhook(&body, Some(&signed(&body))).await.0, StatusCode::OK, "caches the secret");

    // Through this API: the cache is dropped at once.
    let (status, changed) = app.patch(&format!("/v1/numbers/{id}"), json!({"app_secret": "rotated-secret-0001"})).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(app.post_webhook(&body, Some(&signed(&body))).await.0, StatusCode::UNAUTHORIZED, "old secret");
    let new = sign(b"rotated-secret-0001", &body);
    assert_eq!(app.post_webhook(&body, Some(&new)).await.0, StatusCode::OK);

    // Through another replica (here: the store directly): a mismatch reads the secret again.
    let changes = NumberChanges { app_secret: Some("rotated-secret-0002"), ..NumberChanges::default() };
    numbers::update(&app.pg, &app.state.cipher, app.org, id, &changes).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let newer = sign(b"rotated-secret-0002", &body);
    let (status, answer) = app.post_webhook(&body, Some(&newer)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(stored(&app).await.len(), 3);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn batches_up_to_8_mib_are_accepted_and_larger_ones_are_413(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    app.register_number().await;
    let batch = |statuses: usize| {
        let status = json!({"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=", "status": "read",
                            "timestamp": "1750030090", "recipient_id": "16505551234"});
        ascii_json(&json!({"object": "whatsapp_business_account", "entry": [{"id": sim::WABA_ID, "changes": [
            {"field": "messages", "value": {"messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "34910000001", "phone_number_id": sim::PHONE_NUMBER_ID},
                "statuses": vec![status; statuses]}}]}]}))
    };
    let big = batch(20_000);
    assert!(big.len() > 2 << 20, "over the 1 MiB JSON limit of /v1: {}", big.len());
    let (status, answer) = app.post_webhook(&big, Some(&signed(&big))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let huge = batch(70_000);
    assert!(huge.len() > 8 << 20);
    let (status, answer) = app.post_webhook(&huge, Some(&signed(&huge))).await;
    assert_eq!((status, code(&answer)), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"), "{answer}");
    assert_eq!(stored(&app).await.len(), 1);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_flood_of_webhooks_naming_an_unknown_number_reads_the_database_once(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let body = statuses_and_messages("999000999");
    let (status, err) = app.post_webhook(&body, Some(&sign(b"whatever", &body))).await;
    assert_eq!((status, code(&err)), (StatusCode::UNAUTHORIZED, "unknown_number"), "{err}");
    // With Postgres gone, the answer is still the remembered one, not an error.
    app.pg.close().await;
    for _ in 0..20 {
        let (status, err) = app.post_webhook(&body, Some(&sign(b"whatever", &body))).await;
        assert_eq!((status, code(&err)), (StatusCode::UNAUTHORIZED, "unknown_number"), "{err}");
    }
}
