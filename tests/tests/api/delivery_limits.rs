//! Delivery that respects Meta's messaging limit, the support team and the
//! recipients' night: a real pipeline sending to wa-sim, which enforces the
//! portfolio's messaging limit itself and answers the tier change with
//! Meta's webhook.

use std::time::{Duration, Instant};

use chrono::{Timelike, Utc};
use e2e::{StatusCode, TestApp, code, sim};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::pipeline::pipeline_with;

/// The simulator's compressed day, and the engine's: a little longer (the
/// margin the production default keeps too).
const SIM_WINDOW: Duration = Duration::from_secs(4);
const ENGINE_WINDOW: Duration = Duration::from_millis(4_600);

/// wa-sim's default portfolio id for the test number's WABA.
fn portfolio() -> String {
    format!("9{}", sim::WABA_ID)
}

/// `n` contacts tagged `vip` with the valued tag the test template needs.
fn audience(n: usize, first: u64) -> Value {
    (0..n as u64)
        .map(|i| {
            json!({"phone": format!("+346{:08}", first + i), "name": format!("C{i}"), "tags": ["vip"],
                        "valued_tags": {"order_id": format!("A-{i}")}})
        })
        .collect()
}

async fn stats(app: &TestApp, id: i64) -> Value {
    app.get(&format!("/v1/campaigns/{id}/stats")).await.1
}

/// Polls the statistics until `done` holds (up to `within`).
async fn stats_until(app: &TestApp, id: i64, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let s = stats(app, id).await;
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "campaign {id}: the statistics never got there: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `/_sim/...` inspection answer.
async fn sim_get(app: &TestApp, path: &str) -> Value {
    app.http.get(format!("{}{path}", app.sim.base_url())).send().await.unwrap().json().await.unwrap()
}

/// The most distinct recipients wa-sim accepted in any `window` (by its own clock).
fn busiest_window(app: &TestApp, window: Duration) -> usize {
    let mut times: Vec<u64> = app.sim.accepted().iter().map(|m| m.accepted_at).collect();
    times.sort_unstable();
    let w = window.as_millis() as u64;
    let (mut best, mut start) = (0, 0);
    for end in 0..times.len() {
        while times[end] - times[start] >= w {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

/// An app whose number is on a 250 tier that wa-sim enforces over its compressed day.
async fn on_a_250_tier(pg: PgPool) -> TestApp {
    let mut config = sim::config();
    config.numbers[0].messaging_limit_tier = "TIER_250".into();
    config.numbers[0].throughput_per_second = 1000.0;
    config.limits.messaging_window_ms = SIM_WINDOW.as_millis() as u64;
    let settings = api::Settings { messaging_window: ENGINE_WINDOW, ..e2e::test_settings() };
    TestApp::spawn_with_sim_and_settings(pg, config, settings).await
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_campaign_past_its_messaging_limit_waits_for_the_window_and_sends_the_rest_without_a_failure(pg: PgPool) {
    let app = on_a_250_tier(pg).await;
    let setup = app.campaign_setup().await;
    let (_, numbers) = app.get("/v1/numbers").await;
    assert_eq!(numbers[0]["messaging_tier"], "TIER_250", "{numbers}");
    assert_eq!(numbers[0]["portfolio_id"], portfolio(), "read from the WABA's owner: {numbers}");
    app.contacts(audience(300, 1)).await;
    let id = app.ready_campaign(&setup, "Big", json!({"pace_per_second": 1000})).await["id"].as_i64().unwrap();

    // The forecast says what the tier means: two windows.
    let (status, forecast) = app.get(&format!("/v1/campaigns/{id}/forecast")).await;
    assert_eq!(status, StatusCode::OK, "{forecast}");
    let limit = &forecast["messaging_limit"];
    assert_eq!((limit["tier"].as_str(), limit["limit"].as_i64()), (Some("TIER_250"), Some(250)), "{forecast}");
    assert_eq!((limit["used"].as_i64(), limit["windows_needed"].as_i64()), (Some(0), Some(2)), "{forecast}");
    assert!(forecast["eta_seconds"].as_i64().unwrap() >= ENGINE_WINDOW.as_secs() as i64, "{forecast}");

    let stop = pipeline_with(&app, |s| s.messaging_window = ENGINE_WINDOW).await;
    assert_eq!(app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await.0, StatusCode::OK);
    // 250 go out, then the campaign waits, saying why, until the window rolls.
    let waiting = stats_until(&app, id, Duration::from_secs(20), |s| {
        s["waiting"].as_array().is_some_and(|w| w.iter().any(|w| w["code"] == "messaging_limit"))
    })
    .await;
    let why = waiting["waiting"].as_array().unwrap().iter().find(|w| w["code"] == "messaging_limit").unwrap();
    assert!(
        why["reason"]
            .as_str()
            .unwrap()
            .starts_with("waiting for the messaging limit: 250 of 250 used, next capacity at "),
        "{why}"
    );
    assert!(why["until"].is_string(), "{why}");
    assert_eq!(waiting["messaging_limit"]["used"], 250, "{waiting}");
    assert_eq!(waiting["states"]["planned"], 50, "the rest stay planned: {waiting}");
    // (A phone counts from when it is queued: the 250 may still be on their way to wa-sim.)
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.sim.accepted_count() < 250 {
        assert!(Instant::now() < deadline, "the first 250 were not sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats(&app, id).await["states"]["planned"], 50, "and no more before the window rolls");

    let done = stats_until(&app, id, Duration::from_secs(30), |s| s["accepted"] == 300).await;
    stop.cancel();
    assert_eq!(done["not_sent_to"], 0, "nothing failed: {done}");
    assert_eq!(app.sim.accepted_count(), 300);
    assert!(busiest_window(&app, SIM_WINDOW) <= 250, "wa-sim never saw more than the tier in its window");
    let sim_portfolio = sim_get(&app, &format!("/_sim/portfolios/{}", portfolio())).await;
    assert_eq!(sim_portfolio["refused"], 0, "the budget kept Meta from refusing anything: {sim_portfolio}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn metas_refusal_past_the_limit_is_back_pressure_and_a_tier_change_webhook_updates_the_number(pg: PgPool) {
    // wa-sim's limit is lower than the tier it reports (another sender shares
    // the portfolio): Meta refuses, and nobody fails for it.
    let app = on_a_250_tier(pg).await;
    let setup = app.campaign_setup().await;
    // Our side believes in a larger tier than Meta enforces.
    sqlx::query("update wa_numbers set messaging_tier = 'TIER_2K'").execute(&app.pg).await.unwrap();
    app.contacts(audience(270, 1)).await;
    let id = app.ready_campaign(&setup, "Shared", json!({"pace_per_second": 1000})).await["id"].as_i64().unwrap();
    let stop = pipeline_with(&app, |s| {
        s.messaging_window = ENGINE_WINDOW;
        s.tier_refresh = Duration::from_secs(3_600);
    })
    .await;
    assert_eq!(app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await.0, StatusCode::OK);
    let done = stats_until(&app, id, Duration::from_secs(40), |s| s["accepted"] == 270).await;
    assert_eq!(done["not_sent_to"], 0, "a refusal for the limit is never a failure: {done}");
    let sim_portfolio = sim_get(&app, &format!("/_sim/portfolios/{}", portfolio())).await;
    assert!(sim_portfolio["refused"].as_u64().unwrap() > 0, "Meta did refuse: {sim_portfolio}");
    // The refusal made the engine read the tier again: Meta's, not ours.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, numbers) = app.get("/v1/numbers").await;
        if numbers[0]["messaging_tier"] == "TIER_250" {
            break;
        }
        assert!(Instant::now() < deadline, "the tier was not read again: {numbers}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Meta raises the tier: its business_capability_update webhook reaches the number at once.
    let url = format!("{}/_sim/portfolios/{}/messaging_limit", app.sim.base_url(), portfolio());
    let changed = app.http.post(url).json(&json!({"tier": "TIER_100K"})).send().await.unwrap();
    assert_eq!(changed.status(), StatusCode::OK, "{:?}", changed.text().await);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, numbers) = app.get("/v1/numbers").await;
        if numbers[0]["messaging_tier"] == "TIER_100K" {
            break;
        }
        assert!(Instant::now() < deadline, "the tier change did not arrive: {numbers}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_reply_storm_is_paced_to_the_support_teams_capacity_and_the_stats_say_why(pg: PgPool) {
    // Every recipient answers, at once: without pacing 120 replies would
    // arrive in 6 seconds. The team answers 1,800 an hour (one every 2 s).
    let app = TestApp::spawn_with_webhooks(pg, |w| {
        (w.sent_delay_ms, w.delivered_delay_ms, w.flush_interval_ms) = (10, 20, 20);
        w.replies.text_probability = 1.0;
        w.replies.delay_ms = 100;
    })
    .await;
    let setup = app.campaign_setup().await;
    app.contacts(audience(120, 1)).await;
    let capacity = json!({"replies_per_hour": 1800});
    let body = json!({"pace_per_second": 20, "support_capacity": capacity});
    let id = app.ready_campaign(&setup, "Storm", body).await["id"].as_i64().unwrap();
    let (_, view) = app.get(&format!("/v1/campaigns/{id}")).await;
    assert_eq!(view["support_capacity"], capacity, "{view}");

    const MEASURE: Duration = Duration::from_secs(10);
    let stop = pipeline_with(&app, |s| s.reply_window = MEASURE).await;
    let launched = Utc::now();
    assert_eq!(app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await.0, StatusCode::OK);
    let mut slowed = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let s = stats(&app, id).await;
        let pacing = &s["pacing"];
        assert!(pacing["current_per_second"].as_f64().unwrap() <= 20.0, "never above the configured pace: {s}");
        if pacing["code"] == "reply_capacity" && slowed.is_none() {
            slowed = Some(s.clone());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.cancel();
    let slowed = slowed.expect("the stats said the campaign slowed for the team's capacity");
    assert!(slowed["waiting"].as_array().unwrap().iter().any(|w| w["code"] == "reply_capacity"), "{slowed}");
    let events = slowed["pacing"]["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["code"] == "reply_capacity" && e["reason"].as_str().unwrap().contains("1800")));

    // Replies per 10 s stayed within the capacity (5 per 10 s) plus 60 %
    // (the controller reacts to replies it has seen; Meta's timestamps are
    // whole seconds); and the campaign kept going rather than stopping.
    let replies: Vec<chrono::DateTime<Utc>> =
        sqlx::query_scalar("select received_at from inbound_messages where campaign_id = $1 order by received_at")
            .bind(id)
            .fetch_all(&app.pg)
            .await
            .unwrap();
    let per_window = 1800.0 * MEASURE.as_secs_f64() / 3600.0;
    for (i, start) in replies.iter().enumerate() {
        let inside = replies[i..].iter().take_while(|t| **t - *start < chrono::Duration::from_std(MEASURE).unwrap());
        let n = inside.count();
        assert!(n as f64 <= per_window * 1.6 + 1.0, "{n} replies in 10 s from {start} (capacity {per_window})");
    }
    let elapsed = (Utc::now() - launched).num_seconds() as f64;
    let rate = replies.len() as f64 / elapsed * 3600.0;
    assert!(replies.len() < 60, "paced: {} replies in {elapsed} s", replies.len());
    assert!(rate >= 1800.0 * 0.3, "it sped up to use the capacity: {rate:.0} replies/hour");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn open_inbox_cases_at_the_teams_maximum_hold_sending_until_one_closes(pg: PgPool) {
    let app = TestApp::spawn_with_webhooks(pg, |w| {
        (w.sent_delay_ms, w.delivered_delay_ms, w.flush_interval_ms) = (10, 20, 20);
    })
    .await;
    let setup = app.campaign_setup().await;
    let ids = app.contacts(audience(20, 1)).await;
    let body = json!({"pace_per_second": 1, "support_capacity": {"max_open_cases": 1}});
    let id = app.ready_campaign(&setup, "Cases", body).await["id"].as_i64().unwrap();
    let stop = pipeline_with(&app, |_| {}).await;
    assert_eq!(app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await.0, StatusCode::OK);
    stats_until(&app, id, Duration::from_secs(10), |s| s["accepted"].as_i64() >= Some(2)).await;
    // An agent takes a case with one of the campaign's contacts: the team is full.
    let (status, case) = app.post(&format!("/v1/contacts/{}/inbox-case", ids[0]), json!({})).await;
    assert!(status.is_success(), "{case}");
    let held = stats_until(&app, id, Duration::from_secs(10), |s| s["pacing"]["code"] == "open_cases").await;
    let why = held["waiting"].as_array().unwrap().iter().find(|w| w["code"] == "open_cases").unwrap();
    assert!(why["reason"].as_str().unwrap().contains("maximum is 1"), "{why}");
    // While it is open nothing more is queued (what was already queued, 5 s
    // of the pace, may still go).
    let before = stats(&app, id).await["accepted"].as_i64().unwrap();
    let watch = Instant::now() + Duration::from_secs(3);
    while Instant::now() < watch {
        let now = stats(&app, id).await["accepted"].as_i64().unwrap();
        assert!(now <= before + 6, "sending went on with the team full: {before} → {now}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = app.delete(&format!("/v1/contacts/{}/inbox-case", ids[0])).await;
    assert!(status.is_success());
    let done = stats_until(&app, id, Duration::from_secs(60), |s| s["still_queued"] == 0).await;
    stop.cancel();
    assert_eq!(done["pacing"]["code"], Value::Null, "back at the configured pace: {done}");
    let codes: Vec<&str> =
        done["pacing"]["events"].as_array().unwrap().iter().filter_map(|e| e["code"].as_str()).collect();
    assert!(codes.contains(&"open_cases") && codes.contains(&"configured_pace"), "{codes:?}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn quiet_hours_send_only_inside_each_contacts_local_window(pg: PgPool) {
    let app = TestApp::spawn_with_webhooks(pg, |w| {
        (w.sent_delay_ms, w.delivered_delay_ms, w.flush_interval_ms) = (10, 20, 20);
    })
    .await;
    let setup = app.campaign_setup().await;
    // A window open now in UTC, and twelve hours away from UTC+12.
    let hour = Utc::now().hour();
    let (from, until) = (format!("{hour:02}:00"), format!("{:02}:00", (hour + 2) % 24));
    let vt = |i: u32| json!({"order_id": format!("A-{i}")});
    app.contacts(json!([
        {"phone": "+34612000101", "name": "Day", "tags": ["vip"], "valued_tags": vt(1), "time_zone": "Etc/UTC"},
        {"phone": "+34612000102", "name": "Night", "tags": ["vip"], "valued_tags": vt(2), "time_zone": "Etc/GMT-12"},
    ]))
    .await;
    // A time zone that is not one is refused, naming the field.
    let bad_zone = json!({"contacts": [{"phone": "+34612000103", "time_zone": "Mars/Olympus"}]});
    let (status, err) = app.post("/v1/contacts/bulk", bad_zone).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(err.to_string().contains("invalid_time_zone") && err.to_string().contains("time_zone"), "{err}");
    // So is a window without an end, or of no length.
    let bad = json!({"send_from": from, "send_until": from});
    let (status, err) = app.post("/v1/campaigns", json!({"name": "x", "quiet_hours": bad})).await;
    assert_eq!((status, code(&err)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_quiet_hours"), "{err}");
    let (status, err) = app.post("/v1/campaigns", json!({"name": "x", "quiet_hours": {"send_from": "9:00"}})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");

    let quiet = json!({"send_from": from, "send_until": until});
    let id = app.ready_campaign(&setup, "Local", json!({"quiet_hours": quiet})).await["id"].as_i64().unwrap();
    let (_, forecast) = app.get(&format!("/v1/campaigns/{id}/forecast")).await;
    let zones = forecast["quiet_hours"]["zones"].as_array().unwrap_or_else(|| panic!("{forecast}"));
    let zone = |name: &str| zones.iter().find(|z| z["time_zone"] == name).unwrap_or_else(|| panic!("{forecast}"));
    assert_eq!((zone("Etc/UTC")["contacts"].as_i64(), zone("Etc/UTC")["open_now"].as_bool()), (Some(1), Some(true)));
    assert_eq!(zone("Etc/GMT-12")["open_now"], false, "{forecast}");
    assert!(zone("Etc/GMT-12")["opens_at"].is_string(), "{forecast}");
    let eta = forecast["eta_seconds"].as_i64().unwrap();
    assert!(eta >= 9 * 3600, "the night contact's window opens in 10-12 hours: {forecast}");

    let stop = pipeline_with(&app, |_| {}).await;
    assert_eq!(app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await.0, StatusCode::OK);
    let s = stats_until(&app, id, Duration::from_secs(15), |s| {
        s["accepted"] == 1 && s["waiting"].as_array().is_some_and(|w| w.iter().any(|w| w["code"] == "quiet_hours"))
    })
    .await;
    stop.cancel();
    let why = s["waiting"].as_array().unwrap().iter().find(|w| w["code"] == "quiet_hours").unwrap();
    assert!(why["reason"].as_str().unwrap().contains("Etc/GMT-12"), "{why}");
    assert_eq!(s["states"]["planned"], 1, "the contact in the night waits: {s}");
    let sent: Vec<String> = app.sim.accepted().into_iter().map(|m| m.to).collect();
    assert_eq!(sent, ["+34612000101"], "only the contact inside the window");
}
