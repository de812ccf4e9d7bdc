//! The portfolio messaging limit over real HTTP: distinct users per moving
//! window, shared by a portfolio's numbers, refused past the tier with the
//! simulator's own 130430, readable from the WABA node, and changed at run
//! time with Meta's signed `business_capability_update` webhook.
//!
//! Everything new is spoken in raw HTTP and JSON, so the tests pin the wire
//! format the engine codes against.

mod common;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use common::{PNID, SECRET, TOKEN, WABA, config, eventually, number, start};
use futures::{StreamExt, stream};
use serde_json::{Value, json};
use wa_sim::{Config, Simulator, TierChangeError};

/// The portfolio of [`WABA`] and [`SIBLING_WABA`].
const BUSINESS: &str = "777";
const BUSINESS_NAME: &str = "Sim Group";
/// A number of the same portfolio on a WABA of its own.
const SIBLING: &str = "1002";
const SIBLING_WABA: &str = "2002";
const SIBLING_TOKEN: &str = "token-1002";
const SIBLING_SECRET: &str = "secret-of-1002";
/// A number of another portfolio: its WABA names none, so it is `"9" + waba_id`.
const STRANGER: &str = "1003";
const STRANGER_WABA: &str = "2003";
const STRANGER_TOKEN: &str = "token-1003";
const STRANGER_BUSINESS: &str = "92003";

const LONG_WINDOW: Duration = Duration::from_secs(600);

/// Three numbers on three WABAs, two of them in [`BUSINESS`]; only the
/// messaging limit can refuse (throughput and pair limits out of the way).
fn portfolios(tier: &str, window: Duration) -> Config {
    let mut cfg = config();
    cfg.numbers[0].messaging_limit_tier = tier.to_owned();
    cfg.numbers[0].throughput_per_second = 100_000.0;
    for (id, waba, token) in [(SIBLING, SIBLING_WABA, SIBLING_TOKEN), (STRANGER, STRANGER_WABA, STRANGER_TOKEN)] {
        cfg.numbers.push(wa_sim::config::NumberConfig {
            throughput_per_second: 100_000.0,
            // Not the portfolio's first number: its tier is ignored for [`BUSINESS`].
            messaging_limit_tier: if id == SIBLING { "TIER_UNLIMITED".to_owned() } else { tier.to_owned() },
            ..number(id, waba, token, "15550009999")
        });
    }
    cfg.limits.pair_enabled = false;
    cfg.limits.messaging_window_ms = window.as_millis() as u64;
    cfg.wabas[0].business_id = Some(BUSINESS.to_owned());
    cfg.wabas[0].business_name = Some(BUSINESS_NAME.to_owned());
    let mut sibling = cfg.wabas[0].clone();
    (sibling.waba_id, sibling.business_name) = (SIBLING_WABA.to_owned(), None);
    let mut stranger = cfg.wabas[0].clone();
    (stranger.waba_id, stranger.business_id, stranger.business_name) = (STRANGER_WABA.to_owned(), None, None);
    cfg.wabas.extend([sibling, stranger]);
    cfg
}

fn token_of(pnid: &str) -> &'static str {
    match pnid {
        PNID => TOKEN,
        SIBLING => SIBLING_TOKEN,
        STRANGER => STRANGER_TOKEN,
        other => panic!("no number {other}"),
    }
}

/// The `n`th simulated user.
fn user(n: u32) -> String {
    format!("3461{n:07}")
}

/// A template send as the engine makes it; the HTTP status and JSON answer.
async fn send(sim: &Simulator, from: &str, to: u32) -> (u16, Value) {
    let body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": format!("+{}", user(to)),
        "type": "template",
        "template": {"name": "hello", "language": {"code": "en_US"}, "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
        ]},
    });
    let response = reqwest::Client::new()
        .post(format!("{}/v23.0/{from}/messages", sim.base_url()))
        .bearer_auth(token_of(from))
        .json(&body)
        .send()
        .await
        .expect("answers");
    (response.status().as_u16(), response.json().await.expect("json"))
}

/// Sends to every user of `to` from `from`, 16 at a time; every send must be accepted.
async fn send_all(sim: &Simulator, from: &str, to: std::ops::Range<u32>) {
    let answers: Vec<_> = stream::iter(to).map(|n| send(sim, from, n)).buffer_unordered(16).collect().await;
    for (status, body) in answers {
        assert_eq!(status, 200, "{body}");
    }
}

/// Asserts the simulator's refusal for the messaging limit, to the letter.
fn assert_refused(answer: &(u16, Value), limit: u32, tier: &str) {
    let (status, body) = answer;
    assert_eq!(*status, 400, "{body}");
    let error = &body["error"];
    assert!(error["fbtrace_id"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
    let mut without_trace = error.clone();
    without_trace.as_object_mut().expect("object").remove("fbtrace_id");
    assert_eq!(
        without_trace,
        json!({
            "message": "(#130430) Messaging limit reached",
            "type": "OAuthException",
            "code": 130430,
            "error_data": {
                "messaging_product": "whatsapp",
                "details": format!(
                    "The business portfolio reached its messaging limit: {limit} unique users in a moving 24 hours ({tier})"
                ),
            },
        })
    );
}

async fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("answers");
    (response.status().as_u16(), response.json().await.expect("json"))
}

async fn post_tier(sim: &Simulator, business: &str, body: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/_sim/portfolios/{business}/messaging_limit", sim.base_url()))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("answers");
    (response.status().as_u16(), response.json().await.expect("json"))
}

async fn portfolio_json(sim: &Simulator, business: &str) -> Value {
    let (status, body) = get(&format!("{}/_sim/portfolios/{business}", sim.base_url()), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A loopback webhook receiver keeping each raw body with its signature.
type Received = Arc<Mutex<Vec<(Bytes, Option<String>)>>>;

async fn receiver() -> (Received, SocketAddr) {
    async fn receive(State(received): State<Received>, headers: HeaderMap, body: Bytes) {
        let signature = headers.get(whatsapp::SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        received.lock().expect("lock").push((body, signature));
    }
    let received = Received::default();
    let app = Router::new().route("/hook", post(receive)).with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (received, addr)
}

/// Only `sent` statuses, quickly, so the receiver sees one per accepted message.
fn with_webhooks(mut cfg: Config, addr: SocketAddr) -> Config {
    let w = &mut cfg.webhook;
    w.url = Some(format!("http://{addr}/hook"));
    (w.sent_delay_ms, w.delivered_delay_ms, w.read_probability, w.flush_interval_ms) = (0, 600_000, 0.0, 20);
    cfg
}

/// The parsed bodies received whose first change has `field`.
fn bodies_with(received: &Received, field: &str) -> Vec<(Bytes, Option<String>, Value)> {
    received
        .lock()
        .expect("lock")
        .iter()
        .map(|(body, signature)| {
            (body.clone(), signature.clone(), serde_json::from_slice::<Value>(body).expect("json"))
        })
        .filter(|(_, _, value)| value["entry"][0]["changes"][0]["field"] == field)
        .collect()
}

#[tokio::test]
async fn past_the_tier_a_new_user_is_refused_with_130430_and_the_portfolio_shares_the_count() {
    let (received, addr) = receiver().await;
    let (sim, _client) = start(with_webhooks(portfolios("TIER_250", LONG_WINDOW), addr)).await;
    send_all(&sim, PNID, 0..250).await;

    assert_refused(&send(&sim, PNID, 250).await, 250, "TIER_250");
    assert_eq!(send(&sim, PNID, 7).await.0, 200, "a user counted already is allowed again");
    assert_refused(&send(&sim, SIBLING, 251).await, 250, "TIER_250");
    assert_eq!(send(&sim, SIBLING, 8).await.0, 200, "the portfolio's other number shares the count");
    assert_eq!(send(&sim, STRANGER, 251).await.0, 200, "another portfolio counts apart");

    // Refused sends are not recorded and get no webhook.
    assert_eq!(sim.accepted_count(), 253);
    assert!(sim.messages_to(&user(250)).is_empty());
    let to_251: Vec<_> = sim.messages_to(&user(251)).into_iter().map(|m| m.phone_number_id).collect();
    assert_eq!(to_251, [STRANGER], "only the other portfolio's send");
    let statuses = eventually(Duration::from_secs(10), || {
        let statuses: Vec<Value> = bodies_with(&received, "messages")
            .into_iter()
            .flat_map(|(_, _, v)| {
                v["entry"][0]["changes"][0]["value"]["statuses"].as_array().cloned().unwrap_or_default()
            })
            .collect();
        (statuses.len() >= 253).then_some(statuses)
    })
    .await;
    assert_eq!(statuses.len(), 253);
    assert!(!statuses.iter().any(|s| s["recipient_id"] == user(250)), "no status for a refused send");

    let view = portfolio_json(&sim, BUSINESS).await;
    assert_eq!(
        view,
        json!({"business_id": BUSINESS, "tier": "TIER_250", "limit": 250, "window_ms": 600_000, "used": 250, "refused": 2})
    );
    assert_eq!(portfolio_json(&sim, STRANGER_BUSINESS).await["used"], 1);
    let all = get(&format!("{}/_sim/portfolios", sim.base_url()), None).await.1;
    let ids: Vec<_> = all.as_array().expect("array").iter().map(|p| p["business_id"].clone()).collect();
    assert_eq!(ids, [json!(BUSINESS), json!(STRANGER_BUSINESS)]);
    let (status, body) = get(&format!("{}/_sim/portfolios/000", sim.base_url()), None).await;
    assert_eq!(status, 404, "{body}");

    // A reset forgets the counts and refusals, not the tier.
    let reset = reqwest::Client::new().post(format!("{}/_sim/reset", sim.base_url())).send().await.expect("answers");
    assert_eq!(reset.status(), 204);
    let view = sim.portfolio(BUSINESS).expect("the portfolio");
    assert_eq!((view.tier.as_str(), view.limit, view.used, view.refused), ("TIER_250", Some(250), 0, 0));
    assert_eq!(send(&sim, PNID, 250).await.0, 200);
}

#[tokio::test]
async fn capacity_comes_back_when_the_window_has_passed() {
    let window = Duration::from_millis(1_500);
    let (sim, _client) = start(portfolios("TIER_250", window)).await;
    let before_first = Instant::now();
    send_all(&sim, PNID, 0..250).await;
    let answer = send(&sim, PNID, 250).await;
    // The first user counts until at least `before_first + window`; a slow
    // machine that got here later can no longer expect the refusal.
    if Instant::now() < before_first + window {
        assert_refused(&answer, 250, "TIER_250");
    }

    let deadline = Instant::now() + window * 10;
    loop {
        let answer = send(&sim, SIBLING, 251).await;
        if answer.0 == 200 {
            break;
        }
        assert_refused(&answer, 250, "TIER_250");
        assert!(Instant::now() < deadline, "capacity never came back");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(before_first.elapsed() >= window, "capacity came back before the window passed");
    let view = sim.portfolio(BUSINESS).expect("the portfolio");
    assert!(view.used < 250, "expired users are no longer counted: {view:?}");
}

#[tokio::test]
async fn a_tier_change_raises_the_limit_and_sends_each_waba_a_signed_business_capability_update() {
    let (received, addr) = receiver().await;
    let (sim, _client) = start(with_webhooks(portfolios("TIER_250", LONG_WINDOW), addr)).await;
    send_all(&sim, PNID, 0..250).await;
    assert_refused(&send(&sim, PNID, 250).await, 250, "TIER_250");

    let (status, body) = post_tier(&sim, BUSINESS, r#"{"tier": "TIER_1M"}"#).await;
    assert_eq!(status, 400);
    let message = body["error"].as_str().expect("a message");
    assert!(message.contains("TIER_1M") && message.contains("TIER_100K"), "{message}");
    assert_eq!(post_tier(&sim, BUSINESS, r#"{"level": 3}"#).await.0, 400, "not a tier change");
    assert_eq!(post_tier(&sim, "000", r#"{"tier": "TIER_2K"}"#).await.0, 404);
    assert_eq!(sim.portfolio(BUSINESS).map(|p| p.tier).as_deref(), Some("TIER_250"), "nothing changed");

    let (status, body) = post_tier(&sim, BUSINESS, r#"{"tier": "TIER_2K"}"#).await;
    assert_eq!((status, body), (200, json!({"business_id": BUSINESS, "tier": "TIER_2K", "limit": 2000})));
    assert_eq!(send(&sim, PNID, 250).await.0, 200, "the new tier allows more");
    send_all(&sim, SIBLING, 251..300).await;
    for (pnid, tier) in [(PNID, "TIER_2K"), (SIBLING, "TIER_2K"), (STRANGER, "TIER_250")] {
        let url = format!("{}/v23.0/{pnid}?fields=whatsapp_business_manager_messaging_limit", sim.base_url());
        let (status, body) = get(&url, Some(token_of(pnid))).await;
        assert_eq!((status, body), (200, json!({"id": pnid, "whatsapp_business_manager_messaging_limit": tier})));
    }

    // One webhook per WABA of the portfolio, each signed with its number's app secret.
    let updates = eventually(Duration::from_secs(5), || {
        let updates = bodies_with(&received, "business_capability_update");
        (updates.len() >= 2).then_some(updates)
    })
    .await;
    assert_eq!(updates.len(), 2);
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs();
    let mut wabas = Vec::new();
    for (body, signature, value) in &updates {
        let waba = value["entry"][0]["id"].as_str().expect("entry id").to_owned();
        let (secret, other) = if waba == WABA { (SECRET, SIBLING_SECRET) } else { (SIBLING_SECRET, SECRET) };
        whatsapp::verify(secret.as_bytes(), body, signature.as_deref())
            .expect("signed with the WABA's number's secret");
        assert!(whatsapp::verify(other.as_bytes(), body, signature.as_deref()).is_err());
        let expected = hmac_sha256_hex(secret.as_bytes(), body);
        assert_eq!(signature.as_deref(), Some(format!("sha256={expected}").as_str()));
        let time = value["entry"][0]["time"].as_u64().expect("time is unix seconds");
        assert!(time.abs_diff(now_s) < 60, "{time} vs {now_s}");
        assert_eq!(
            *value,
            json!({"object": "whatsapp_business_account", "entry": [{"id": waba, "time": time, "changes": [{
                "field": "business_capability_update",
                "value": {"max_daily_conversations_per_business": 2000, "max_phone_numbers_per_business": 2},
            }]}]})
        );
        wabas.push(waba);
    }
    wabas.sort();
    assert_eq!(wabas, [WABA, SIBLING_WABA]);
    // The deliveries log has them, as POSTs with no statuses and no messages.
    eventually(Duration::from_secs(5), || {
        let logged = sim.deliveries().into_iter().filter(|d| d.statuses == 0 && d.messages == 0).collect::<Vec<_>>();
        (logged.len() == 2 && logged.iter().all(|d| d.status_code == Some(200))).then_some(())
    })
    .await;

    // The same from Rust, up to unlimited: −1 in the webhook.
    assert_eq!(sim.set_messaging_limit(BUSINESS, "TIER_9K"), Err(TierChangeError::UnknownTier("TIER_9K".to_owned())));
    assert_eq!(sim.set_messaging_limit("000", "TIER_2K"), Err(TierChangeError::UnknownPortfolio("000".to_owned())));
    let view = sim.set_messaging_limit(BUSINESS, "TIER_UNLIMITED").expect("changed");
    assert_eq!((view.tier.as_str(), view.limit, view.used), ("TIER_UNLIMITED", None, 0));
    assert_eq!(portfolio_json(&sim, BUSINESS).await["limit"], Value::Null);
    let unlimited = eventually(Duration::from_secs(5), || {
        let updates = bodies_with(&received, "business_capability_update");
        (updates.len() >= 4).then_some(updates)
    })
    .await;
    for (_, _, value) in &unlimited[2..] {
        assert_eq!(value["entry"][0]["changes"][0]["value"]["max_daily_conversations_per_business"], -1);
    }
}

/// HMAC-SHA256 (RFC 2104) from `sha2`, to check the signature independently
/// of the `whatsapp` crate.
fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|k| k ^ byte).collect::<Vec<_>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    let outer = Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize();
    hex::encode(outer)
}

#[tokio::test]
async fn the_waba_node_names_its_business_portfolio() {
    let (sim, _client) = start(portfolios("TIER_250", LONG_WINDOW)).await;
    let node = |waba: &str, fields: &str| format!("{}/v23.0/{waba}{fields}", sim.base_url());

    let (status, body) = get(&node(WABA, "?fields=owner_business_info"), Some(TOKEN)).await;
    assert_eq!(
        (status, body),
        (200, json!({"id": WABA, "owner_business_info": {"id": BUSINESS, "name": BUSINESS_NAME}}))
    );
    let (_, body) = get(&node(WABA, "?fields=id,name,owner_business_info"), Some(TOKEN)).await;
    assert_eq!(
        body,
        json!({"id": WABA, "name": BUSINESS_NAME, "owner_business_info": {"id": BUSINESS, "name": BUSINESS_NAME}})
    );
    let (_, body) = get(&node(WABA, ""), Some(TOKEN)).await;
    assert_eq!(body, json!({"id": WABA, "name": BUSINESS_NAME}), "Graph's default fields");
    let (_, body) = get(&node(SIBLING_WABA, "?fields=owner_business_info"), Some(SIBLING_TOKEN)).await;
    assert_eq!(body["owner_business_info"], json!({"id": BUSINESS, "name": BUSINESS_NAME}), "the portfolio's name");
    let (_, body) = get(&node(STRANGER_WABA, "?fields=owner_business_info"), Some(STRANGER_TOKEN)).await;
    assert_eq!(body["owner_business_info"], json!({"id": STRANGER_BUSINESS, "name": "Simulated Business Portfolio"}));
    assert_eq!(sim.business_id_of(SIBLING_WABA).as_deref(), Some(BUSINESS));
    assert_eq!(sim.business_id_of(STRANGER_WABA).as_deref(), Some(STRANGER_BUSINESS));

    // Meta's token and field errors.
    let (status, body) = get(&node(WABA, "?fields=owner_business_info"), Some("nobody's")).await;
    assert_eq!((status, &body["error"]["code"]), (401, &json!(190)), "{body}");
    let (status, body) = get(&node(WABA, "?fields=owner_business_info"), None).await;
    assert_eq!((status, &body["error"]["code"]), (401, &json!(190)), "{body}");
    for token in [STRANGER_TOKEN, SIBLING_TOKEN] {
        let (status, body) = get(&node(WABA, "?fields=owner_business_info"), Some(token)).await;
        let error = &body["error"];
        assert_eq!((status, &error["code"], &error["error_subcode"]), (400, &json!(100), &json!(33)), "{body}");
        assert_eq!(error["type"], "GraphMethodException");
    }
    let (status, body) = get(&node(WABA, "?fields=owner_business_info,nope"), Some(TOKEN)).await;
    assert_eq!((status, &body["error"]["code"]), (400, &json!(100)));
    assert_eq!(
        body["error"]["message"],
        "(#100) Tried accessing nonexisting field (nope) on node type (WhatsAppBusinessAccount)"
    );
}

#[tokio::test]
async fn an_unlimited_portfolio_never_refuses_and_counts_nothing() {
    let (sim, _client) = start(portfolios("TIER_UNLIMITED", LONG_WINDOW)).await;
    send_all(&sim, PNID, 0..1_200).await;
    send_all(&sim, SIBLING, 1_200..1_500).await;
    assert_eq!(sim.accepted_count(), 1_500);
    assert_eq!(
        portfolio_json(&sim, BUSINESS).await,
        json!({"business_id": BUSINESS, "tier": "TIER_UNLIMITED", "limit": null, "window_ms": 600_000, "used": 0, "refused": 0})
    );
}

#[tokio::test]
async fn the_limit_can_be_turned_off() {
    let mut cfg = portfolios("TIER_250", LONG_WINDOW);
    cfg.limits.messaging_limit_enabled = false;
    let (sim, _client) = start(cfg).await;
    send_all(&sim, PNID, 0..300).await;
    let view = sim.portfolio(BUSINESS).expect("the portfolio");
    assert_eq!((view.tier.as_str(), view.used, view.refused), ("TIER_250", 0, 0), "the tier is still reported");
}

#[tokio::test]
async fn an_unknown_tier_in_the_config_does_not_start() {
    let error = Simulator::start(portfolios("TIER_1M", LONG_WINDOW)).await.expect_err("refused");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("TIER_1M"), "{error}");
}
