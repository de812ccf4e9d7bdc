//! The reply worker's egress policy against real Postgres and loopback HTTP
//! servers: refused targets are dead-lettered at once without a byte sent,
//! redirects are not followed, and a failed answer's body never reaches the
//! tenant.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    http::{StatusCode as HttpStatus, header},
    response::IntoResponse,
};
use chrono::Utc;
use e2e::{StatusCode, TestApp, sim};
use serde_json::json;
use sqlx::PgPool;
use store::inbound::{self, Inbound};
use workers::{
    egress::StaticLookup,
    reply::{Delivered, Replier, ReplyPolicy},
};

const HINT: &str = "; set BOT_EGRESS_ALLOW_PRIVATE=true to allow private targets";

/// An HTTP server on loopback answering every request with `answer`;
/// returns its port and how many requests it got.
async fn server(
    answer: impl Fn() -> axum::response::Response + Clone + Send + Sync + 'static,
) -> (u16, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        let answer = answer.clone();
        async move { answer() }
    });
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // The same port on ::1 where the machine has IPv6 loopback, so `[::1]` would reach it too.
    if let Ok(v6) = tokio::net::TcpListener::bind(SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], port))).await {
        let app = app.clone();
        tokio::spawn(async move { axum::serve(v6, app).await });
    }
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, hits)
}

/// The simulator's number and a bot flow that is the organization's default
/// route, so any message to the number is to be delivered to it; returns its id.
async fn default_flow(app: &TestApp) -> i64 {
    app.register_number().await;
    let (status, flow) = app
        .post(
            "/v1/bot-flows",
            json!({"name": "Bot", "endpoint_url": "https://bot.example.com/hook", "secret": "0123456789abcdef-bot"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{flow}");
    let id = flow["id"].as_i64().unwrap();
    let (status, org) = app.patch("/v1/organization", json!({"default_bot_flow_id": id})).await;
    assert_eq!(status, StatusCode::OK, "{org}");
    id
}

/// Points the flow at `url` as stored, bypassing the API's normalisation and
/// checks: the worker must hold on its own.
async fn point(app: &TestApp, flow: i64, url: &str) {
    sqlx::query("update bot_flows set endpoint_url = $2 where id = $1")
        .bind(flow)
        .bind(url)
        .execute(&app.pg)
        .await
        .unwrap();
}

/// Records a message from a stranger, as the status consumer does: routed to the default flow.
async fn receive(app: &TestApp, flow: i64, wamid: &str) {
    let message =
        json!({"from": "34699999999", "id": wamid, "timestamp": "1750000100", "type": "text", "text": {"body": "hi"}});
    let mut tx = app.pg.begin().await.unwrap();
    let m = Inbound {
        wamid,
        phone_number_id: sim::PHONE_NUMBER_ID,
        from: "34699999999",
        context_wamid: None,
        text: Some("hi"),
        received_at: Utc::now(),
        message: &message,
    };
    let recorded = inbound::record(&mut tx, &m).await.unwrap().unwrap();
    tx.commit().await.unwrap();
    assert_eq!(recorded.bot_flow_id, Some(flow));
}

#[derive(Debug, PartialEq, Eq, sqlx::FromRow)]
struct Row {
    route_attempts: i32,
    last_error: Option<String>,
    dead: bool,
    retry_scheduled: bool,
}

async fn row(app: &TestApp, wamid: &str) -> Row {
    sqlx::query_as(
        "select route_attempts, last_error, dead_at is not null as dead, next_attempt_at is not null as retry_scheduled
         from inbound_messages where wamid = $1",
    )
    .bind(wamid)
    .fetch_one(&app.pg)
    .await
    .unwrap()
}

fn replier(app: &TestApp, allow_private: bool, max_attempts: i32) -> Replier {
    let lookup = StaticLookup(HashMap::from([
        ("bot.example.test".to_owned(), vec![IpAddr::from([10, 0, 0, 1])]),
        ("mapped.example.test".to_owned(), vec!["::ffff:127.0.0.1".parse().unwrap()]),
        ("both.example.test".to_owned(), vec![IpAddr::from([127, 0, 0, 1]), "::1".parse().unwrap()]),
    ]));
    let policy = ReplyPolicy { allow_private, max_attempts, timeout: Duration::from_secs(5), ..ReplyPolicy::default() };
    Replier::with_lookup(app.pg.clone(), app.state.cipher.clone(), policy, Arc::new(lookup)).unwrap()
}

/// `replies_routed_total{outcome="refused"}` as rendered.
fn refused_count() -> u64 {
    let text = process::telemetry::metrics_handle().render();
    text.lines()
        .find_map(|l| l.strip_prefix("replies_routed_total{outcome=\"refused\"} "))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn refused_targets_are_dead_lettered_at_once_and_receive_nothing(pg: PgPool) {
    process::telemetry::metrics_handle();
    let app = TestApp::spawn(pg).await;
    let flow = default_flow(&app).await;
    let (port, hits) = server(|| HttpStatus::OK.into_response()).await;
    let replier = replier(&app, false, 8);
    let is = |refusal: &str| format!("the bot flow's endpoint is a refused address ({refusal}){HINT}");
    let resolves = |refusal: &str| format!("the bot flow's endpoint resolves to {refusal}{HINT}");
    let cases = [
        (format!("http://127.0.0.1:{port}/"), is("loopback 127.0.0.1")),
        (format!("http://[::1]:{port}/"), is("loopback ::1")),
        (format!("http://0x7f000001:{port}/"), is("loopback 127.0.0.1")),
        (format!("http://2130706433:{port}/bot"), is("loopback 127.0.0.1")),
        ("http://169.254.169.254/latest/meta-data/".to_owned(), is("link-local 169.254.169.254")),
        (format!("http://[::ffff:127.0.0.1]:{port}/"), is("loopback ::ffff:127.0.0.1")),
        (format!("http://localhost:{port}/"), is("loopback name localhost")),
        (format!("http://bot.example.test:{port}/"), resolves("a refused address (private (RFC 1918))")),
        (format!("http://mapped.example.test:{port}/"), resolves("a refused address (loopback)")),
        (format!("http://both.example.test:{port}/"), resolves("refused addresses only (loopback)")),
    ];
    for (i, (url, error)) in cases.iter().enumerate() {
        let wamid = format!("wamid.R{i}");
        point(&app, flow, url).await;
        receive(&app, flow, &wamid).await;
        let delivered = replier.deliver(&wamid).await.unwrap();
        assert_eq!(delivered, Delivered::Dead { error: error.clone() }, "{url}");
        let expected = Row { route_attempts: 1, last_error: Some(error.clone()), dead: true, retry_scheduled: false };
        assert_eq!(row(&app, &wamid).await, expected, "{url}: dead-lettered at the first attempt");
        assert_eq!(replier.deliver(&wamid).await.unwrap(), Delivered::NothingToDo, "{url}: not retried");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no request reached the loopback server");
    assert_eq!(refused_count(), cases.len() as u64, "each counted as refused");
    let (status, page) = app.get("/v1/dead-letters/reply").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["data"].as_array().unwrap().len(), cases.len(), "{page}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn allowing_private_targets_reaches_loopback_bots_by_address_or_name(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let flow = default_flow(&app).await;
    let (port, hits) = server(|| HttpStatus::OK.into_response()).await;
    let replier = replier(&app, true, 8);
    for (i, url) in
        [format!("http://127.0.0.1:{port}/bot"), format!("http://both.example.test:{port}/bot")].iter().enumerate()
    {
        let wamid = format!("wamid.P{i}");
        point(&app, flow, url).await;
        receive(&app, flow, &wamid).await;
        assert_eq!(replier.deliver(&wamid).await.unwrap(), Delivered::Routed, "{url}");
        assert_eq!(hits.load(Ordering::SeqCst), i + 1, "{url}");
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_redirect_is_a_retried_failure_and_is_never_followed(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let flow = default_flow(&app).await;
    let (target, target_hits) = server(|| HttpStatus::OK.into_response()).await;
    let location = format!("http://127.0.0.1:{target}/elsewhere");
    let (bot, bot_hits) =
        server(move || (HttpStatus::TEMPORARY_REDIRECT, [(header::LOCATION, location.clone())]).into_response()).await;
    point(&app, flow, &format!("http://127.0.0.1:{bot}/bot")).await;
    receive(&app, flow, "wamid.M0").await;
    let replier = replier(&app, true, 8);
    let delivered = replier.deliver("wamid.M0").await.unwrap();
    assert!(matches!(delivered, Delivered::Retry { .. }), "{delivered:?}");
    let error = "the bot flow answered 307 Temporary Redirect (redirects are not followed)";
    let expected = Row { route_attempts: 1, last_error: Some(error.to_owned()), dead: false, retry_scheduled: true };
    assert_eq!(row(&app, "wamid.M0").await, expected);
    assert_eq!(bot_hits.load(Ordering::SeqCst), 1);
    assert_eq!(target_hits.load(Ordering::SeqCst), 0, "the redirect's target got nothing");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_failed_answers_body_never_reaches_the_tenant(pg: PgPool) {
    const MARKER: &str = "internal-secret-7f3a9c";
    let app = TestApp::spawn(pg).await;
    let flow = default_flow(&app).await;
    let (bot, hits) =
        server(|| (HttpStatus::INTERNAL_SERVER_ERROR, format!("database password is {MARKER}")).into_response()).await;
    point(&app, flow, &format!("http://127.0.0.1:{bot}/bot")).await;
    receive(&app, flow, "wamid.F0").await;
    let delivered = replier(&app, true, 1).deliver("wamid.F0").await.unwrap();
    let error = "the bot flow answered 500 Internal Server Error";
    assert_eq!(delivered, Delivered::Dead { error: error.to_owned() });
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let stored: Vec<Option<String>> =
        sqlx::query_scalar("select last_error from inbound_messages").fetch_all(&app.pg).await.unwrap();
    assert_eq!(stored, [Some(error.to_owned())]);
    let (status, page) = app.get("/v1/dead-letters/reply").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["data"][0]["last_error"], error, "{page}");
    assert!(!page.to_string().contains(MARKER), "{page}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_api_refuses_a_bot_flow_on_a_literal_private_address_while_the_policy_is_on(pg: PgPool) {
    let app = TestApp::spawn_with_settings(pg, api::Settings::default()).await;
    let (status, flow) = app
        .post(
            "/v1/bot-flows",
            json!({"name": "Bot", "endpoint_url": "https://bot.example.com/hook", "secret": "0123456789abcdef-bot"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "a DNS name is checked when connecting, not now: {flow}");
    let id = flow["id"].as_i64().unwrap();
    for url in [
        "http://127.0.0.1/",
        "http://0x7f000001/",
        "http://[::1]:8080/",
        "http://169.254.169.254/latest",
        "http://10.1.2.3/hook",
        "http://[fd00::1]/",
        "http://localhost:9100/",
        "http://[::ffff:192.168.1.1]/",
    ] {
        let (status, err) = app
            .post(
                "/v1/bot-flows",
                json!({"name": format!("Bot {url}"), "endpoint_url": url, "secret": "0123456789abcdef-bot"}),
            )
            .await;
        assert_eq!(
            (status, e2e::code(&err)),
            (StatusCode::UNPROCESSABLE_ENTITY, "endpoint_not_allowed"),
            "{url}: {err}"
        );
        assert_eq!(err["error"]["field"], "endpoint_url");
        let (status, err) = app.patch(&format!("/v1/bot-flows/{id}"), json!({"endpoint_url": url})).await;
        assert_eq!(
            (status, e2e::code(&err)),
            (StatusCode::UNPROCESSABLE_ENTITY, "endpoint_not_allowed"),
            "{url}: {err}"
        );
    }
    let (_, flow) = app.get(&format!("/v1/bot-flows/{id}")).await;
    assert_eq!(flow["endpoint_url"], "https://bot.example.com/hook", "unchanged");
}
