//! Status webhooks, received by a real axum server on loopback.

mod common;

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use common::{PNID, SECRET, TOKEN, WABA, config, eventually, request, start};
use wa_sim::{Config, config::ScriptedFailure};
use whatsapp::webhook::{Change, DeliveryStatus, MessageType, MessagesValue, Status, WebhookPayload};

/// A raw body and its signature header.
type Received = (Bytes, Option<String>);

#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<Received>>>,
    /// Answer 500 to this many POSTs before answering 200.
    fail_first: Arc<AtomicU32>,
}

impl Receiver {
    async fn start(fail_first: u32) -> (Self, SocketAddr) {
        let receiver = Self { fail_first: Arc::new(AtomicU32::new(fail_first)), ..Self::default() };
        let app = Router::new().route("/hook", post(receive)).with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("bound");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, addr)
    }

    /// Every `messages` value received (verified and parsed), in arrival order.
    fn values(&self) -> Vec<MessagesValue> {
        let bodies = self.bodies.lock().expect("lock").clone();
        bodies
            .iter()
            .flat_map(|(body, signature)| {
                whatsapp::verify(SECRET.as_bytes(), body, signature.as_deref()).expect("signed with the app secret");
                let payload: WebhookPayload = serde_json::from_slice(body).expect("parses as a webhook");
                assert_eq!(payload.object, "whatsapp_business_account");
                payload.entry.into_iter().flat_map(|entry| {
                    assert_eq!(entry.id, WABA);
                    entry.changes.into_iter().map(|change| match change {
                        Change::Messages(value) => {
                            assert_eq!(value.metadata.phone_number_id, PNID);
                            *value
                        }
                        other => panic!("unexpected change {other:?}"),
                    })
                })
            })
            .collect()
    }

    fn statuses(&self) -> Vec<Status> {
        self.values().into_iter().flat_map(|v| v.statuses).collect()
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers.get(whatsapp::SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    receiver.bodies.lock().expect("lock").push((body, signature));
    let failing = receiver.fail_first.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    if failing.is_ok() { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK }
}

fn fast_webhooks(addr: SocketAddr) -> Config {
    let mut cfg = config();
    let w = &mut cfg.webhook;
    w.url = Some(format!("http://{addr}/hook"));
    (w.sent_delay_ms, w.delivered_delay_ms, w.read_delay_ms, w.flush_interval_ms) = (0, 10, 10, 20);
    w.read_probability = 1.0;
    w.retry_initial_backoff_ms = 20;
    cfg
}

#[tokio::test]
async fn sent_delivered_and_read_arrive_signed_with_the_callback_data() {
    let (receiver, addr) = Receiver::start(0).await;
    let (_sim, client) = start(fast_webhooks(addr)).await;
    let mut req = request("+34600000000", "hello", &["a", "b"]);
    req.biz_opaque_callback_data = Some("row=42".to_owned());
    let wamid = client.send_template(PNID, TOKEN, &req).await.expect("accepted").message_id().map(str::to_owned);

    let statuses = eventually(Duration::from_secs(5), || {
        let s = receiver.statuses();
        (s.len() >= 3).then_some(s)
    })
    .await;
    // Batches go out concurrently, so only the set is certain, as with Meta.
    let kinds: Vec<_> = statuses.iter().map(|s| s.status).collect();
    assert_eq!(kinds.len(), 3);
    for kind in [DeliveryStatus::Sent, DeliveryStatus::Delivered, DeliveryStatus::Read] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    for s in &statuses {
        assert_eq!(Some(&s.id), wamid.as_ref());
        assert_eq!(s.recipient_id.as_deref(), Some("34600000000"));
        assert_eq!(s.biz_opaque_callback_data.as_deref(), Some("row=42"));
        assert!(s.unix_seconds().is_some());
    }
    let sent = statuses.iter().find(|s| s.status == DeliveryStatus::Sent).expect("sent");
    assert!(sent.pricing.is_some() && sent.conversation.is_some());
}

#[tokio::test]
async fn a_scripted_recipient_gets_a_failed_status_with_its_code() {
    let (receiver, addr) = Receiver::start(0).await;
    let mut cfg = fast_webhooks(addr);
    cfg.webhook.scripted_failures =
        vec![ScriptedFailure { numbers: vec!["+34600000666".to_owned()], prefix: None, code: 131026 }];
    let (_sim, client) = start(cfg).await;
    client.send_template(PNID, TOKEN, &request("+34600000666", "hello", &["a", "b"])).await.expect("accepted");

    let failed = eventually(Duration::from_secs(5), || receiver.statuses().into_iter().next()).await;
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert_eq!(failed.errors[0].code, 131026);
    assert_eq!(failed.errors[0].title, "Message undeliverable");
    assert!(failed.errors[0].error_data.as_ref().and_then(|d| d.details.as_ref()).is_some());
    assert!(failed.pricing.is_none());
}

#[tokio::test]
async fn a_failing_receiver_gets_the_same_batch_until_it_answers_200() {
    let (receiver, addr) = Receiver::start(2).await;
    let mut cfg = fast_webhooks(addr);
    cfg.webhook.read_probability = 0.0;
    cfg.webhook.delivered_delay_ms = 60_000;
    let (sim, client) = start(cfg).await;
    client.send_template(PNID, TOKEN, &request("+34600000000", "hello", &["a", "b"])).await.expect("accepted");

    let log = eventually(Duration::from_secs(5), || {
        let log = sim.deliveries();
        log.iter().any(|d| d.status_code == Some(200)).then_some(log)
    })
    .await;
    let attempts: Vec<_> = log.iter().map(|d| (d.attempt, d.status_code, d.statuses)).collect();
    assert_eq!(attempts, [(1, Some(500), 1), (2, Some(500), 1), (3, Some(200), 1)]);
    let bodies = receiver.bodies.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 3);
    assert!(bodies.iter().all(|b| b.0 == bodies[0].0), "retries resend the same bytes");
}

#[tokio::test]
async fn statuses_are_batched_per_post() {
    let (receiver, addr) = Receiver::start(0).await;
    let mut cfg = fast_webhooks(addr);
    cfg.webhook.flush_interval_ms = 300;
    cfg.webhook.read_probability = 0.0;
    cfg.webhook.delivered_delay_ms = 60_000;
    let (sim, client) = start(cfg).await;
    for i in 0..5 {
        let to = format!("+3460000000{i}");
        client.send_template(PNID, TOKEN, &request(&to, "hello", &["a", "b"])).await.expect("accepted");
    }
    eventually(Duration::from_secs(5), || (receiver.statuses().len() == 5).then_some(())).await;
    assert!(sim.deliveries().iter().any(|d| d.statuses > 1), "{:?}", sim.deliveries());
}

#[tokio::test]
async fn the_switches_duplicate_statuses_and_skip_delivered() {
    let (receiver, addr) = Receiver::start(0).await;
    let mut cfg = fast_webhooks(addr);
    cfg.webhook.duplicate_probability = 1.0;
    cfg.webhook.skip_delivered_probability = 1.0;
    cfg.webhook.reorder = true;
    let (_sim, client) = start(cfg).await;
    client.send_template(PNID, TOKEN, &request("+34600000000", "hello", &["a", "b"])).await.expect("accepted");

    let statuses = eventually(Duration::from_secs(5), || {
        let s = receiver.statuses();
        (s.len() >= 4).then_some(s)
    })
    .await;
    let count = |kind| statuses.iter().filter(|s| s.status == kind).count();
    assert_eq!(count(DeliveryStatus::Sent), 2);
    assert_eq!(count(DeliveryStatus::Read), 2);
    assert_eq!(count(DeliveryStatus::Delivered), 0);
    let read = statuses.iter().find(|s| s.status == DeliveryStatus::Read).expect("read");
    assert!(read.pricing.is_some(), "pricing moves to read when delivered is skipped");
}

#[tokio::test]
async fn replies_quote_the_campaign_message_and_carry_the_contact() {
    let (receiver, addr) = Receiver::start(0).await;
    let mut cfg = fast_webhooks(addr);
    cfg.webhook.replies.button_probability = 1.0;
    cfg.webhook.replies.delay_ms = 10;
    let (_sim, client) = start(cfg).await;
    let wamid = client
        .send_template(PNID, TOKEN, &request("+34600000000", "hello", &["a", "b"]))
        .await
        .expect("accepted")
        .message_id()
        .map(str::to_owned);

    let value =
        eventually(Duration::from_secs(5), || receiver.values().into_iter().find(|v| !v.messages.is_empty())).await;
    assert!(value.statuses.is_empty(), "inbound messages and statuses come in separate values");
    assert_eq!(value.contacts[0].wa_id.as_deref(), Some("34600000000"));
    assert!(value.contacts[0].profile.as_ref().and_then(|p| p.name.as_ref()).is_some());
    let reply = &value.messages[0];
    assert_eq!(reply.kind, MessageType::Button);
    assert_eq!(reply.from.as_deref(), Some("34600000000"));
    let context = reply.context.as_ref().expect("context");
    assert_eq!(Some(&context.id), wamid.as_ref());
    assert_eq!(context.from.as_deref(), Some(common::DISPLAY));
    assert_eq!(reply.button.as_ref().and_then(|b| b.payload.as_deref()), Some("Yes"));
}

#[tokio::test]
async fn opted_out_recipients_reply_stop() {
    let (receiver, addr) = Receiver::start(0).await;
    let mut cfg = fast_webhooks(addr);
    cfg.webhook.replies.opt_out_probability = 1.0;
    cfg.webhook.replies.delay_ms = 10;
    let (_sim, client) = start(cfg).await;
    client.send_template(PNID, TOKEN, &request("+34600000000", "hello", &["a", "b"])).await.expect("accepted");
    let reply =
        eventually(Duration::from_secs(5), || receiver.values().into_iter().flat_map(|v| v.messages).next()).await;
    assert_eq!(reply.kind, MessageType::Text);
    assert_eq!(reply.text.map(|t| t.body).as_deref(), Some("STOP"));
}
