//! Secrets never leak: a whole scenario (a number registered and verified,
//! templates synced, a bot flow, header media, contacts, a campaign sent
//! with Meta's statuses and replies coming back through the webhook, a bot
//! that fails before it accepts, a refused token, a report, dead letters,
//! console sign-ins and the accounts and API keys an admin makes there)
//! runs with every log line of every component captured at TRACE, and every
//! answer kept. None of them may show the access token, the app secret, the
//! bot's secret, an API key, a password or the encryption key.

use std::{
    io::Write,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::pipeline::pipeline;
use axum::{http::StatusCode as HttpStatus, routing::post};
use e2e::{StatusCode, TestApp, eventually, sim};
use serde_json::{Value, json};
use sqlx::PgPool;
use tracing_subscriber::fmt::MakeWriter;

const BOT_SECRET: &str = "0123456789abcdef-bot-secret-never-logged";
const WRONG_PASSWORD: &str = "a-mistyped-password-never-logged";

/// Every log line, in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
    }
}

/// A bot on loopback that fails its first delivery and accepts the rest.
async fn bot() -> String {
    let failed_once = Arc::new(Mutex::new(false));
    let app = axum::Router::new().route(
        "/bot",
        post(move || {
            let failed_once = failed_once.clone();
            async move {
                let mut failed = failed_once.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if *failed {
                    HttpStatus::OK
                } else {
                    *failed = true;
                    HttpStatus::INTERNAL_SERVER_ERROR
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let url = format!("http://{}/bot", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_whole_scenario_never_shows_a_secret_in_any_log_line_or_answer(pg: PgPool) {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    // The test runs on one thread, and so do the API, the workers and wa-sim it spawns.
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = TestApp::spawn_with_webhooks(pg, |w| {
        (w.sent_delay_ms, w.delivered_delay_ms, w.read_delay_ms, w.read_probability) = (0, 10, 20, 1.0);
        w.flush_interval_ms = 10;
        w.replies.text_probability = 1.0;
        w.replies.delay_ms = 10;
    })
    .await;
    let mut answers: Vec<Value> = Vec::new();
    let mut keep = |(status, body): (StatusCode, Value)| {
        answers.push(body.clone());
        (status, body)
    };
    let bot_url = bot().await;
    let number = app.register_number().await;
    keep(app.post("/v1/templates/sync", json!({})).await);
    let (_, flow) =
        keep(app.post("/v1/bot-flows", json!({"name": "Bot", "endpoint_url": bot_url, "secret": BOT_SECRET})).await);
    let flow = flow["id"].as_i64().unwrap();
    let media = app.upload_media(number, "image/png", &e2e::campaigns::png()).await;
    keep(app.get(&format!("/v1/media/{media}")).await);
    keep(app.import_csv("phone,name,tags,vt:order_id\n+34612500001,Ana,vip,A-1\n+34612500002,Rui,vip,A-2\n").await);
    // A token Meta refuses, and a number that is someone else's: refused, and the answers name neither token.
    keep(app.patch(&format!("/v1/numbers/{number}"), json!({"access_token": "EAAGrefused-token"})).await);
    keep(
        app.post(
            "/v1/numbers",
            json!({"phone_number_id": sim::OTHER_PHONE_NUMBER_ID, "waba_id": sim::OTHER_WABA_ID,
        "access_token": sim::ACCESS_TOKEN, "app_secret": sim::APP_SECRET}),
        )
        .await,
    );
    let template = app.template_id("order_update", "en_US").await;
    let (_, campaign) = keep(
        app.post(
            "/v1/campaigns",
            json!({"name": "Spring", "number_id": number, "audience": {"tags": ["vip"]}, "template_id": template,
                   "bot_flow_id": flow, "pace_per_second": 100,
                   "bindings": [{"param": "1", "kind": "contact_name"}, {"param": "2", "kind": "valued_tag", "key": "order_id"}]}),
        )
        .await,
    );
    let campaign = campaign["id"].as_i64().unwrap();
    let stop = pipeline(&app).await;
    keep(app.post(&format!("/v1/campaigns/{campaign}/launch"), json!({})).await);
    eventually(Duration::from_secs(30), "both messages read and both replies at the bot", || async {
        let routed: i64 = sqlx::query_scalar("select count(*) from inbound_messages where routed_at is not null")
            .fetch_one(&app.pg)
            .await
            .unwrap();
        let (_, stats) = app.get(&format!("/v1/campaigns/{campaign}/stats")).await;
        (routed == 2 && stats["read"] == 2).then_some(())
    })
    .await;
    keep(app.get(&format!("/v1/campaigns/{campaign}/stats")).await);
    let (_, report) = keep(app.post(&format!("/v1/campaigns/{campaign}/reports"), json!({})).await);
    let report = report["id"].as_i64().unwrap();
    eventually(Duration::from_secs(20), "the report", || async {
        let (_, r) = app.get(&format!("/v1/reports/{report}")).await;
        (r["status"] == "ready").then_some(())
    })
    .await;
    keep(app.get(&format!("/v1/reports/{report}/download")).await);
    for path in [
        "/v1/numbers",
        "/v1/bot-flows",
        "/v1/api-keys",
        "/v1/organization",
        "/v1/dead-letters/reply",
        "/v1/dead-letters/status",
        "/v1/contacts",
        "/v1/campaigns",
    ] {
        keep(app.get(path).await);
    }
    // The console: an admin signs in (after a wrong password), creates an
    // account and an API key; their secrets are shown once, to them only.
    let admin = app.operator(app.org, "marta@acme.example", store::operators::Role::Admin).await;
    let browser = TestApp::browser_client();
    let page = browser.get(app.url("/console/sign-in")).send().await.unwrap().text().await.unwrap();
    let token = e2e::console::hidden(&page, "token").unwrap();
    let wrong = [("email", admin.email.as_str()), ("password", WRONG_PASSWORD), ("token", token.as_str())];
    assert_eq!(browser.post(app.url("/console/sign-in")).form(&wrong).send().await.unwrap().status(), 422);
    let csrf = app.sign_in(&browser, &admin).await;
    let account = [("csrf", csrf.as_str()), ("email", "luis@acme.example"), ("role", "operator")];
    let page = browser.post(app.url("/console/accounts")).form(&account).send().await.unwrap().text().await.unwrap();
    let one_time_password = e2e::console::hidden(&page, "secret").expect("the new account's password, shown once");
    let key = [("csrf", csrf.as_str()), ("name", "CRM")];
    let page = browser.post(app.url("/console/api-keys")).form(&key).send().await.unwrap().text().await.unwrap();
    let console_key = e2e::console::hidden(&page, "secret").expect("the new key, shown once");
    let session = browser.get(app.url("/console/settings")).send().await.unwrap();
    assert_eq!(session.status(), 200);
    stop.cancel();

    let logs = logs.text();
    let _ = std::fs::write(concat!(env!("CARGO_TARGET_TMPDIR"), "/security-secrets.log"), &logs);
    for line in ["contacts imported", "deliver{", "send_with{"] {
        assert!(logs.contains(line), "the logs of the API, the reply and the send workers were captured: {line:?}");
    }
    let answers = serde_json::to_string(&answers).unwrap();
    for (what, secret) in [
        ("the access token", sim::ACCESS_TOKEN),
        ("the refused access token", "EAAGrefused-token"),
        ("the app secret", sim::APP_SECRET),
        ("the bot flow's secret", BOT_SECRET),
        ("the API key", app.key.as_str()),
        ("the encryption key", app.encryption_key.as_str()),
        ("an operator's password", admin.password.as_str()),
        ("a mistyped password", WRONG_PASSWORD),
        ("a new account's one-time password", one_time_password.as_str()),
        ("an API key made in the console", console_key.as_str()),
    ] {
        assert!(!logs.contains(secret), "{what} is in the logs");
        assert!(!answers.contains(secret), "{what} is in an answer");
    }
}
