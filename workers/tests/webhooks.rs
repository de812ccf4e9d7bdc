#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns
//! The status queue and the reply queue against the real ledger: Meta's
//! documented webhook shapes, stored as the API stores them, applied by the
//! status consumer; replies delivered to real bot endpoints on loopback.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{body::Bytes, extract::State, http::HeaderMap, http::StatusCode as HttpStatus, routing::post};
use e2e::{StatusCode, TestApp, eventually, redis_url, sim};
use serde_json::{Value, json};
use sqlx::PgPool;
use store::{
    campaigns::plan,
    statuses::{Callback, CallbackKey},
    webhook_events,
};
use support::namespace;
use tokio_util::sync::CancellationToken;
use workers::{
    ingest::{Ingest, IngestSettings},
    reply::SIGNATURE_HEADER,
    send::{RetryPolicy, Sender},
};

mod support;

const BOT_SECRET: &str = "0123456789abcdef-bot";

/// A launched campaign whose `n` recipients Meta accepted, with wamids
/// `wamid.T0`, `wamid.T1`, …; returns the campaign and the contact ids.
async fn accepted_campaign(app: &TestApp, n: usize, bot_url: Option<&str>) -> (i64, Vec<i64>) {
    let setup = app.campaign_setup().await;
    if let Some(url) = bot_url {
        let (status, body) =
            app.patch(&format!("/v1/bot-flows/{}", setup.bot_flow_id), json!({"endpoint_url": url})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let list: Vec<_> = (0..n)
        .map(|i| json!({"phone": format!("+3461299{i:04}"), "name": format!("N{i}"), "tags": ["vip"], "valued_tags": {"order_id": format!("A{i}")}}))
        .collect();
    let ids = app.contacts(Value::Array(list)).await;
    let c = app.ready_campaign(&setup, "webhooks", json!({})).await;
    let id = c["id"].as_i64().unwrap();
    assert_eq!(app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await.0, StatusCode::OK);
    let mut tx = app.pg.begin().await.unwrap();
    plan(&mut tx, id).await.unwrap();
    tx.commit().await.unwrap();
    for (i, contact) in ids.iter().enumerate() {
        sqlx::query(
            "update recipients set state = 'accepted', attempt = 1, wamid = $3, accepted_at = now()
             where campaign_id = $1 and contact_id = $2",
        )
        .bind(id)
        .bind(contact)
        .bind(format!("wamid.T{i}"))
        .execute(&app.pg)
        .await
        .unwrap();
    }
    (id, ids)
}

/// One status object, as Meta documents it.
fn status(wamid: &str, status: &str, ts: i64, callback: Option<String>) -> Value {
    let mut s = json!({
        "id": wamid, "status": status, "timestamp": ts.to_string(), "recipient_id": "34612990000",
        "pricing": {"billable": true, "pricing_model": "PMP", "category": "marketing", "type": "regular"}
    });
    if let Some(cb) = callback {
        s["biz_opaque_callback_data"] = json!(cb);
    }
    s
}

fn failed(wamid: &str, ts: i64, code: i64, title: &str, details: &str) -> Value {
    let mut s = status(wamid, "failed", ts, None);
    s["errors"] = json!([{"code": code, "title": title, "message": title, "error_data": {"details": details}}]);
    s
}

/// A `messages` webhook body for the simulator's number.
fn body(statuses: Vec<Value>, messages: Vec<Value>) -> Value {
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "34910000001", "phone_number_id": sim::PHONE_NUMBER_ID},
    });
    if !statuses.is_empty() {
        value["statuses"] = json!(statuses);
    }
    if !messages.is_empty() {
        let from = messages[0]["from"].clone();
        value["contacts"] = json!([{"profile": {"name": "Someone"}, "wa_id": from}]);
        value["messages"] = json!(messages);
    }
    json!({"object": "whatsapp_business_account", "entry": [{"id": sim::WABA_ID, "changes": [{"field": "messages", "value": value}]}]})
}

fn text_message(wamid: &str, from: &str, text: &str, context: Option<&str>) -> Value {
    let mut m = json!({"from": from, "id": wamid, "timestamp": "1750000100", "type": "text", "text": {"body": text}});
    if let Some(ctx) = context {
        m["context"] = json!({"from": "34910000001", "id": ctx});
    }
    m
}

/// Stores a batch as the API does once the simulator's number's app secret verified it.
async fn store(app: &TestApp, body: &Value) {
    let signers = [(sim::WABA_ID.to_owned(), sim::PHONE_NUMBER_ID.to_owned())];
    webhook_events::insert(&app.pg, Some(sim::PHONE_NUMBER_ID), &signers, &serde_json::to_vec(body).unwrap())
        .await
        .unwrap();
}

/// The callback data the send job would attach to attempt `attempt` of a row.
fn callback_data(app: &TestApp, campaign: i64, contact: i64, attempt: i32) -> String {
    Callback { campaign_id: campaign, contact_id: contact, attempt }.encode(&CallbackKey::new(&app.state.cipher))
}

async fn ingest(app: &TestApp, ns: &str) -> Ingest {
    Ingest {
        pg: app.pg.clone(),
        redis: queue::connect(&redis_url()).await.unwrap(),
        replies: queue::QueueSettings {
            queue: format!("{ns}{}", <queue::ReplyJob as queue::Job>::QUEUE),
            ..queue::QueueSettings::for_job::<queue::ReplyJob>()
        },
        callbacks: CallbackKey::new(&app.state.cipher),
        settings: IngestSettings { max_attempts: 1, ..IngestSettings::default() },
    }
}

/// Applies every stored event.
async fn drain(ingest: &Ingest) {
    while ingest.pass().await.unwrap().events > 0 {}
}

#[derive(Debug, PartialEq, Eq, sqlx::FromRow)]
struct Row {
    state: String,
    sent: bool,
    delivered: bool,
    read: bool,
    reason_code: Option<String>,
    reason: Option<String>,
    meta_error_code: Option<i32>,
    wamid: Option<String>,
}

async fn row(app: &TestApp, campaign: i64, contact: i64) -> Row {
    sqlx::query_as(
        "select state, sent_at is not null as sent, delivered_at is not null as delivered, read_at is not null as read,
                reason_code, reason, meta_error_code, wamid
         from recipients where campaign_id = $1 and contact_id = $2",
    )
    .bind(campaign)
    .bind(contact)
    .fetch_one(&app.pg)
    .await
    .unwrap()
}

/// The live counters of a campaign (non-zero metrics).
async fn counters(app: &TestApp, campaign: i64) -> BTreeMap<String, i64> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "select metric, sum(value)::bigint from campaign_counters where campaign_id = $1
         group by metric having sum(value) <> 0",
    )
    .bind(campaign)
    .fetch_all(&app.pg)
    .await
    .unwrap();
    rows.into_iter().collect()
}

/// The counters must always equal the same aggregate over the ledger.
async fn assert_counters_match_ledger(app: &TestApp, campaign: i64) -> BTreeMap<String, i64> {
    let aggregate: Vec<(String, i64)> = sqlx::query_as(
        "select m.metric, count(*) from recipients r
         cross join lateral unnest(recipient_metrics(r.state, r.reason_code, r.sent_at, r.delivered_at, r.read_at,
                                                     r.replied_at)) as m(metric)
         where r.campaign_id = $1 group by 1",
    )
    .bind(campaign)
    .fetch_all(&app.pg)
    .await
    .unwrap();
    let counted = counters(app, campaign).await;
    assert_eq!(counted, aggregate.into_iter().collect::<BTreeMap<_, _>>(), "counters drifted from the ledger");
    counted
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn statuses_move_the_ledger_forward_only_whatever_their_order_or_duplicates(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, ids) = accepted_campaign(&app, 5, None).await;
    let ingest = ingest(&app, &namespace()).await;
    // T0: in order. T1: read first, then a late delivered and sent (reordered).
    // T2: delivered skipped. T3: duplicated. T4: nothing yet.
    store(&app, &body(vec![status("wamid.T0", "sent", 100, None), status("wamid.T1", "read", 130, None)], vec![]))
        .await;
    store(&app, &body(vec![status("wamid.T0", "delivered", 110, None), status("wamid.T2", "sent", 100, None)], vec![]))
        .await;
    store(
        &app,
        &body(vec![status("wamid.T3", "delivered", 110, None), status("wamid.T3", "delivered", 110, None)], vec![]),
    )
    .await;
    drain(&ingest).await;
    store(&app, &body(vec![status("wamid.T0", "read", 120, None), status("wamid.T1", "delivered", 110, None)], vec![]))
        .await;
    store(&app, &body(vec![status("wamid.T1", "sent", 100, None), status("wamid.T2", "read", 140, None)], vec![]))
        .await;
    store(&app, &body(vec![status("wamid.T3", "delivered", 110, None), status("wamid.T3", "sent", 100, None)], vec![]))
        .await;
    drain(&ingest).await;

    let read = |wamid: &str| Row {
        state: "read".into(),
        sent: true,
        delivered: true,
        read: true,
        reason_code: None,
        reason: None,
        meta_error_code: None,
        wamid: Some(wamid.into()),
    };
    assert_eq!(row(&app, campaign, ids[0]).await, read("wamid.T0"));
    assert_eq!(row(&app, campaign, ids[1]).await, read("wamid.T1"), "a late delivered/sent never downgrades a read");
    assert_eq!(row(&app, campaign, ids[2]).await, read("wamid.T2"), "read implies delivered");
    let t3 = row(&app, campaign, ids[3]).await;
    assert_eq!((t3.state.as_str(), t3.sent, t3.delivered, t3.read), ("delivered", true, true, false));
    assert_eq!(row(&app, campaign, ids[4]).await.state, "accepted");
    let c = assert_counters_match_ledger(&app, campaign).await;
    assert_eq!((c["delivered"], c["read"], c["sent"], c["state:accepted"]), (4, 3, 4, 1), "{c:?}");

    // Delivered timestamps come from Meta's, and a read's time stands in for a skipped delivered.
    let (delivered_t2,): (i64,) = sqlx::query_as(
        "select extract(epoch from delivered_at)::bigint from recipients where campaign_id = $1 and contact_id = $2",
    )
    .bind(campaign)
    .bind(ids[2])
    .fetch_one(&app.pg)
    .await
    .unwrap();
    assert_eq!(delivered_t2, 140);
    let pending: i64 = sqlx::query_scalar("select count(*) from webhook_events").fetch_one(&app.pg).await.unwrap();
    assert_eq!(pending, 0, "applied events are removed");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_failed_status_records_a_stable_code_and_a_readable_reason(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, ids) = accepted_campaign(&app, 3, None).await;
    let ingest = ingest(&app, &namespace()).await;
    store(
        &app,
        &body(
            vec![
                failed("wamid.T0", 100, 131026, "Message undeliverable", "Message Undeliverable."),
                failed(
                    "wamid.T1",
                    100,
                    131050,
                    "Unable to deliver the message",
                    "The user has chosen to stop receiving marketing messages",
                ),
                status("wamid.T2", "delivered", 100, None),
            ],
            vec![],
        ),
    )
    .await;
    // A failed after delivered changes nothing: the message arrived.
    store(&app, &body(vec![failed("wamid.T2", 101, 131000, "Something went wrong", "")], vec![])).await;
    drain(&ingest).await;

    let t0 = row(&app, campaign, ids[0]).await;
    assert_eq!(
        (t0.state.as_str(), t0.reason_code.as_deref(), t0.meta_error_code),
        ("failed", Some("not_whatsapp_user"), Some(131026))
    );
    assert!(t0.reason.unwrap().contains("not a valid WhatsApp user"));
    let t1 = row(&app, campaign, ids[1]).await;
    assert_eq!(t1.reason_code.as_deref(), Some("marketing_opt_out"));
    let opted_out: Vec<(String, String)> = sqlx::query_as("select phone, source from opt_outs where org_id = $1")
        .bind(app.org.0)
        .fetch_all(&app.pg)
        .await
        .unwrap();
    assert_eq!(opted_out, vec![("+34612990001".to_owned(), "meta_131050".to_owned())], "131050 is an opt-out");
    assert_eq!(row(&app, campaign, ids[2]).await.state, "delivered");
    let c = assert_counters_match_ledger(&app, campaign).await;
    assert_eq!((c["state:failed"], c["reason:not_whatsapp_user"], c["reason:marketing_opt_out"]), (2, 1, 1));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_status_with_our_callback_data_settles_a_row_in_doubt_or_still_sending(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, ids) = accepted_campaign(&app, 3, None).await;
    // T0's sender died (in doubt); T1's webhook beat its sender's record; T2
    // is on its second attempt, so the first attempt's status must not settle it.
    for (contact, state, attempt) in [(ids[0], "in_doubt", 1), (ids[1], "sending", 1), (ids[2], "in_doubt", 2)] {
        sqlx::query(
            "update recipients set state = $3, attempt = $4, wamid = null where campaign_id = $1 and contact_id = $2",
        )
        .bind(campaign)
        .bind(contact)
        .bind(state)
        .bind(attempt)
        .execute(&app.pg)
        .await
        .unwrap();
    }
    let cb = |contact: i64, attempt: i32| Some(callback_data(&app, campaign, contact, attempt));
    let ingest = ingest(&app, &namespace()).await;
    store(
        &app,
        &body(
            vec![
                status("wamid.X0", "sent", 100, cb(ids[0], 1)),
                status("wamid.X1", "delivered", 101, cb(ids[1], 1)),
                status("wamid.X2", "sent", 100, cb(ids[2], 1)),
            ],
            vec![],
        ),
    )
    .await;
    drain(&ingest).await;
    let t0 = row(&app, campaign, ids[0]).await;
    assert_eq!((t0.state.as_str(), t0.wamid.as_deref(), t0.reason_code), ("sent", Some("wamid.X0"), None));
    let t1 = row(&app, campaign, ids[1]).await;
    assert_eq!((t1.state.as_str(), t1.wamid.as_deref()), ("delivered", Some("wamid.X1")));
    let t2 = row(&app, campaign, ids[2]).await;
    assert_eq!((t2.state.as_str(), t2.wamid), ("in_doubt", None), "another attempt's status");
    // The sender's own late record of T1 finds the row settled and changes nothing.
    let recorded = store::recipients::record(
        &app.pg,
        campaign,
        ids[1],
        1,
        &store::recipients::Outcome::Accepted { wamid: "wamid.X1", wa_id: None },
    )
    .await
    .unwrap();
    assert!(!recorded);
    assert_eq!(row(&app, campaign, ids[1]).await.state, "delivered");
    assert_counters_match_ledger(&app, campaign).await;
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_paused_template_pauses_its_campaigns_until_meta_approves_it_again(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, _) = accepted_campaign(&app, 1, None).await;
    let meta_id: String = sqlx::query_scalar(
        "select t.meta_template_id from templates t join campaigns c on c.template_id = t.id where c.id = $1",
    )
    .bind(campaign)
    .fetch_one(&app.pg)
    .await
    .unwrap();
    let update = |event: &str, reason: Value| {
        json!({"object": "whatsapp_business_account", "entry": [{"id": sim::WABA_ID, "time": 1750000000, "changes": [{
            "field": "message_template_status_update",
            "value": {"event": event, "message_template_id": meta_id.parse::<i64>().unwrap(),
                      "message_template_name": "order_update", "message_template_language": "en_US", "reason": reason}
        }]}]})
    };
    let ingest = ingest(&app, &namespace()).await;
    store(&app, &update("PAUSED", json!("LOW_QUALITY"))).await;
    drain(&ingest).await;
    let (_, c) = app.get(&format!("/v1/campaigns/{campaign}")).await;
    assert!(c["paused_at"].is_string(), "{c}");
    assert_eq!(c["pause_code"], "template_paused");
    assert!(c["pause_reason"].as_str().unwrap().contains("PAUSED (LOW_QUALITY)"), "{c}");
    let (_, t) = app.get("/v1/templates?name=order_update").await;
    assert!(t.to_string().contains("PAUSED"), "{t}");

    store(&app, &update("APPROVED", Value::Null)).await;
    drain(&ingest).await;
    let (_, c) = app.get(&format!("/v1/campaigns/{campaign}")).await;
    assert!(c["paused_at"].is_null(), "resumed: {c}");
    assert!(c["pause_code"].is_null());
}

/// A bot endpoint on loopback that records what it receives and fails the
/// first `fail_first` deliveries (or all of them).
#[derive(Clone, Default)]
struct Bot {
    received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    fail_first: Arc<Mutex<usize>>,
}

impl Bot {
    async fn start(fail_first: usize) -> (Self, String) {
        let bot = Bot { fail_first: Arc::new(Mutex::new(fail_first)), ..Bot::default() };
        let app = axum::Router::new().route("/bot", post(bot_receive)).with_state(bot.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let url = format!("http://{}/bot", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (bot, url)
    }

    fn delivered(&self) -> Vec<Value> {
        self.received.lock().unwrap().iter().map(|(_, b)| serde_json::from_slice(b).unwrap()).collect()
    }
}

async fn bot_receive(State(bot): State<Bot>, headers: HeaderMap, body: Bytes) -> HttpStatus {
    let mut fail = bot.fail_first.lock().unwrap();
    if *fail > 0 {
        *fail -= 1;
        return HttpStatus::SERVICE_UNAVAILABLE;
    }
    bot.received.lock().unwrap().push((headers, body));
    HttpStatus::OK
}

/// A pipeline running only the status and reply consumers.
async fn start_consumers(app: &TestApp, ns: &str, attempts: i32) -> CancellationToken {
    let pipeline = support::pipeline(app, ns, |s, reply| {
        (s.launch, s.send, s.scheduler) = (false, false, false);
        reply.max_attempts = attempts;
    })
    .await;
    support::spawn(pipeline)
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn replies_are_attributed_signed_and_delivered_to_the_campaigns_bot_once_after_retries(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (bot, url) = Bot::start(2).await;
    let (campaign, ids) = accepted_campaign(&app, 3, Some(&url)).await;
    let ns = namespace();
    let stop = start_consumers(&app, &ns, 5).await;
    // A button-free text reply quoting our message, one without context from
    // an engaged contact, a STOP, and a stranger's message.
    store(
        &app,
        &body(vec![], vec![text_message("wamid.IN0", "34612990000", "Does it come in blue?", Some("wamid.T0"))]),
    )
    .await;
    store(&app, &body(vec![], vec![text_message("wamid.IN1", "34612990001", "hello", None)])).await;
    store(&app, &body(vec![], vec![text_message("wamid.IN2", "34612990002", " Stop! ", None)])).await;
    store(&app, &body(vec![], vec![text_message("wamid.IN3", "34699999999", "who is this?", None)])).await;
    // A duplicate of the first is recorded (and delivered) once.
    store(
        &app,
        &body(vec![], vec![text_message("wamid.IN0", "34612990000", "Does it come in blue?", Some("wamid.T0"))]),
    )
    .await;

    let delivered = eventually(Duration::from_secs(20), "three replies delivered", || {
        let bot = bot.clone();
        async move { (bot.delivered().len() >= 3).then(|| bot.delivered()) }
    })
    .await;
    let mut ids_seen: Vec<&str> = delivered.iter().map(|d| d["message_id"].as_str().unwrap()).collect();
    ids_seen.sort_unstable();
    assert_eq!(ids_seen, ["wamid.IN0", "wamid.IN1", "wamid.IN2"], "each once; the stranger has no route");
    let first = delivered.iter().find(|d| d["message_id"] == "wamid.IN0").unwrap();
    assert_eq!(first["campaign"]["id"], campaign);
    assert_eq!(first["contact"]["id"], ids[0]);
    assert_eq!(first["from"], "+34612990000");
    assert_eq!(first["message"]["text"]["body"], "Does it come in blue?", "Meta's message as sent");
    let stop_msg = delivered.iter().find(|d| d["message_id"] == "wamid.IN2").unwrap();
    assert_eq!(stop_msg["opted_out"], true);
    for (headers, body) in bot.received.lock().unwrap().iter() {
        let sig = headers.get(SIGNATURE_HEADER).unwrap().to_str().unwrap();
        assert!(
            whatsapp::signature::verify(BOT_SECRET.as_bytes(), body, Some(sig)).is_ok(),
            "signed with the flow's secret"
        );
    }

    let routed: Vec<(String, String, bool, i32)> = sqlx::query_as(
        "select wamid, route, routed_at is not null, route_attempts from inbound_messages order by wamid",
    )
    .fetch_all(&app.pg)
    .await
    .unwrap();
    assert_eq!(routed[3], ("wamid.IN3".to_owned(), "unattributed".to_owned(), false, 0));
    assert_eq!(routed.iter().map(|r| r.3).sum::<i32>(), 5, "two failed attempts, then three deliveries");
    let opted: i64 =
        sqlx::query_scalar("select count(*) from opt_outs where phone = '+34612990002' and source = 'user_reply'")
            .fetch_one(&app.pg)
            .await
            .unwrap();
    assert_eq!(opted, 1, "STOP opts the contact out");
    let c = assert_counters_match_ledger(&app, campaign).await;
    assert_eq!(c["replied"], 3, "{c:?}");
    stop.cancel();
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_bot_that_never_recovers_gets_the_reply_dead_lettered_with_its_error(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (bot, url) = Bot::start(usize::MAX).await;
    accepted_campaign(&app, 1, Some(&url)).await;
    let stop = start_consumers(&app, &namespace(), 3).await;
    store(&app, &body(vec![], vec![text_message("wamid.IN0", "34612990000", "hi", Some("wamid.T0"))])).await;
    let (attempts, error): (i32, String) = eventually(Duration::from_secs(20), "the reply dead-lettered", || {
        let pg = app.pg.clone();
        async move {
            sqlx::query_as("select route_attempts, last_error from inbound_messages where dead_at is not null")
                .fetch_optional(&pg)
                .await
                .unwrap()
        }
    })
    .await;
    assert_eq!(attempts, 3);
    assert!(error.contains("503"), "{error}");
    assert!(bot.delivered().is_empty());
    stop.cancel();
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_event_that_cannot_be_applied_is_dead_lettered_without_holding_back_the_others(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, ids) = accepted_campaign(&app, 1, None).await;
    // Valid JSON the API would accept, but a status whose id is not text.
    webhook_events::insert(&app.pg, None, &[], br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"display_phone_number":"1","phone_number_id":"1"},"statuses":[{"id":5}]}}]}]}"#)
        .await
        .unwrap();
    store(&app, &body(vec![status("wamid.T0", "delivered", 100, None)], vec![])).await;
    let ingest = ingest(&app, &namespace()).await;
    let pass = ingest.pass().await.unwrap();
    assert_eq!((pass.events, pass.dead), (2, 1));
    assert_eq!(row(&app, campaign, ids[0]).await.state, "delivered");
    let (error,): (String,) = sqlx::query_as("select last_error from webhook_events where failed_at is not null")
        .fetch_one(&app.pg)
        .await
        .unwrap();
    assert!(error.contains("parsing the webhook body"), "{error}");
    assert_eq!(ingest.pass().await.unwrap().events, 0, "a dead event is not claimed again");
}

/// Every consumer and the scheduler, as one worker process runs them.
async fn start_all(app: &TestApp, ns: &str) -> CancellationToken {
    support::spawn(support::pipeline(app, ns, |_, _| {}).await)
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_campaign_end_to_end_meta_statuses_and_replies_reach_the_ledger_the_counters_and_the_bot(pg: PgPool) {
    // wa-sim sends its signed webhooks to the API; one recipient is not a
    // WhatsApp user (131026, reported asynchronously as Meta does); every
    // other reads the message and replies.
    let app = TestApp::spawn_with_webhooks(pg, |w| {
        (w.sent_delay_ms, w.delivered_delay_ms, w.read_delay_ms, w.read_probability) = (0, 10, 20, 1.0);
        w.flush_interval_ms = 10;
        w.replies.text_probability = 1.0;
        w.replies.delay_ms = 10;
        w.scripted_failures =
            vec![wa_sim::config::ScriptedFailure { numbers: vec!["34612990003".into()], prefix: None, code: 131026 }];
    })
    .await;
    let (bot, url) = Bot::start(0).await;
    let setup = app.campaign_setup().await;
    app.patch(&format!("/v1/bot-flows/{}", setup.bot_flow_id), json!({"endpoint_url": url})).await;
    let list: Vec<_> = (0..8)
        .map(|i| json!({"phone": format!("+3461299{i:04}"), "name": format!("N{i}"), "tags": ["vip"], "valued_tags": {"order_id": format!("A{i}")}}))
        .collect();
    let ids = app.contacts(Value::Array(list)).await;
    let c = app.ready_campaign(&setup, "end to end", json!({"pace_per_second": 100})).await;
    let campaign = c["id"].as_i64().unwrap();
    let stop = start_all(&app, &namespace()).await;
    assert_eq!(app.post(&format!("/v1/campaigns/{campaign}/launch"), json!({})).await.0, StatusCode::OK);

    let c = eventually(Duration::from_secs(30), "every status and reply applied", || async {
        let c = counters(&app, campaign).await;
        (c.get("read") == Some(&7) && c.get("replied") == Some(&7) && c.get("state:failed") == Some(&1)).then_some(c)
    })
    .await;
    let failed = row(&app, campaign, ids[3]).await;
    assert_eq!((failed.reason_code.as_deref(), failed.meta_error_code), (Some("not_whatsapp_user"), Some(131026)));
    assert!(failed.wamid.is_some(), "Meta accepted it first");
    assert_eq!(c["state:read"], 7);
    assert_counters_match_ledger(&app, campaign).await;
    let delivered = eventually(Duration::from_secs(20), "seven replies at the bot", || {
        let bot = bot.clone();
        async move { (bot.delivered().len() >= 7).then(|| bot.delivered()) }
    })
    .await;
    let mut from: Vec<&str> = delivered.iter().map(|d| d["from"].as_str().unwrap()).collect();
    from.sort_unstable();
    from.dedup();
    assert_eq!(from.len(), 7, "each reply once");
    assert!(delivered.iter().all(|d| d["campaign"]["id"] == campaign));
    let fully_sent: bool = sqlx::query_scalar("select fully_sent_at is not null from campaigns where id = $1")
        .bind(campaign)
        .fetch_one(&app.pg)
        .await
        .unwrap();
    assert!(fully_sent);
    stop.cancel();
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_sender_killed_between_claim_and_record_leaves_the_row_in_doubt_until_metas_webhook_settles_it(pg: PgPool) {
    use wa_sim::config::FaultsConfig;
    // Statuses come late, after the sweeper has given up on the sender.
    let app = TestApp::spawn_with_webhooks(pg, |w| {
        (w.sent_delay_ms, w.delivered_delay_ms, w.read_probability) = (1_500, 1_600, 0.0);
        w.flush_interval_ms = 10;
    })
    .await;
    let (campaign, ids) = {
        let setup = app.campaign_setup().await;
        let ids = app
            .contacts(
                json!([{"phone": "+34612990000", "name": "N0", "tags": ["vip"], "valued_tags": {"order_id": "A0"}}]),
            )
            .await;
        let c = app.ready_campaign(&setup, "killed", json!({"pace_per_second": 100})).await;
        let id = c["id"].as_i64().unwrap();
        assert_eq!(app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await.0, StatusCode::OK);
        let mut tx = app.pg.begin().await.unwrap();
        plan(&mut tx, id).await.unwrap();
        tx.commit().await.unwrap();
        sqlx::query("update recipients set state = 'queued', queued_at = now() where campaign_id = $1")
            .bind(id)
            .execute(&app.pg)
            .await
            .unwrap();
        (id, ids)
    };
    // The sender claims, Meta accepts, and the answer never comes back: the
    // worker is killed while it waits (its task is aborted at that await,
    // so nothing after it runs, as in a crash).
    app.sim.set_faults(FaultsConfig { accept_then_hang_rate: 1.0, hang_ms: 60_000, ..FaultsConfig::default() });
    let redis = queue::connect(&redis_url()).await.unwrap();
    let sender = Sender {
        pg: app.pg.clone(),
        cipher: app.state.cipher.clone(),
        cloud: app.state.cloud.clone(),
        limiter: ratelimit::Limiter::new(redis, namespace()),
        policy: RetryPolicy::default(),
    };
    let contact = ids[0];
    let sending = tokio::spawn(async move { sender.send(campaign, contact).await });
    eventually(Duration::from_secs(10), "Meta accepted the message", || async {
        (app.sim.accepted_count() == 1).then_some(())
    })
    .await;
    sending.abort();
    assert!(sending.await.unwrap_err().is_cancelled());
    assert_eq!(row(&app, campaign, ids[0]).await.state, "sending");
    store::recipients::sweep_stuck_sending(&app.pg, Duration::ZERO, Duration::from_secs(5)).await.unwrap();
    let doubt = row(&app, campaign, ids[0]).await;
    assert_eq!(
        (doubt.state.as_str(), doubt.reason_code.as_deref(), doubt.wamid),
        ("in_doubt", Some("outcome_unknown"), None)
    );

    // Meta's statuses arrive through the API and the status consumer.
    let stop = start_consumers(&app, &namespace(), 3).await;
    let settled = eventually(Duration::from_secs(20), "the webhook settles the row", || async {
        let r = row(&app, campaign, ids[0]).await;
        (r.state == "delivered").then_some(r)
    })
    .await;
    assert_eq!(settled.wamid.as_deref(), Some(app.sim.accepted()[0].wamid.as_str()));
    assert_eq!(app.sim.accepted_count(), 1, "never sent twice");
    assert_counters_match_ledger(&app, campaign).await;
    stop.cancel();
}
