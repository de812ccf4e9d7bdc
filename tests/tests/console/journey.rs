//! An operator's journey in the browser: sign in, find the campaign, start
//! it, watch its live numbers move to their final values (wa-sim sending
//! statuses and replies through the webhook, the worker pipeline sending),
//! find who was not sent to and why, sign out.

use std::net::SocketAddr;

use crate::pipeline::pipeline;
use axum::{http::StatusCode as HttpStatus, routing::post};
use e2e::{TestApp, browser::Browser};
use fantoccini::Locator;
use serde_json::json;
use sqlx::PgPool;
use store::operators::Role;
use tokio_util::sync::CancellationToken;

/// A bot that accepts every reply.
async fn bot() -> String {
    let app = axum::Router::new().route("/bot", post(|| async { HttpStatus::OK }));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let url = format!("http://{}/bot", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The scene of a journey: an app whose wa-sim sends statuses and replies,
/// three contacts the campaign can reach and one it cannot, a Ready
/// campaign, an operator account and the worker pipeline running.
async fn scene(pg: PgPool) -> (TestApp, i64, e2e::console::Account, CancellationToken) {
    let app = TestApp::spawn_with_webhooks(pg, |w| {
        (w.sent_delay_ms, w.delivered_delay_ms, w.read_delay_ms, w.read_probability) = (50, 300, 600, 1.0);
        w.flush_interval_ms = 50;
        w.replies.text_probability = 1.0;
        w.replies.delay_ms = 100;
    })
    .await;
    let bot_url = bot().await;
    let number = app.register_number().await;
    assert_eq!(app.post("/v1/templates/sync", json!({})).await.0, 200);
    let (_, flow) = app
        .post("/v1/bot-flows", json!({"name": "Bot", "endpoint_url": bot_url, "secret": "0123456789abcdef-bot"}))
        .await;
    // Three contacts the template can be sent to, and one without the valued tag it needs.
    let (status, imported) = app
        .import_csv(
            "phone,name,tags,vt:order_id\n+34612600001,Ana,vip,A-1\n+34612600002,Rui,vip,A-2\n\
             +34612600003,Eva,vip,A-3\n+34612600004,Leo,vip,\n",
        )
        .await;
    assert_eq!(status, 200, "{imported}");
    let template = app.template_id("order_update", "en_US").await;
    let (status, campaign) = app
        .post(
            "/v1/campaigns",
            json!({"name": "Spring sale", "number_id": number, "audience": {"tags": ["vip"]}, "template_id": template,
                   "bot_flow_id": flow["id"], "pace_per_second": 20,
                   "bindings": [{"param": "1", "kind": "contact_name"}, {"param": "2", "kind": "valued_tag", "key": "order_id"}]}),
        )
        .await;
    assert_eq!(status, 201, "{campaign}");
    let campaign = campaign["id"].as_i64().unwrap();
    let account = app.operator(app.org, "marta@acme.example", Role::Operator).await;
    let stop = pipeline(&app).await;

    (app, campaign, account, stop)
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_operator_starts_a_campaign_watches_it_live_and_finds_who_was_not_sent_to(pg: PgPool) {
    let (app, campaign, account, stop) = scene(pg).await;
    let browser = Browser::start("journey").await;
    let c = &browser.client;
    // Signed out, the console sends the browser to sign in, then back.
    c.goto(&app.url("/console/campaigns")).await.unwrap();
    browser
        .wait_for(10, "the sign-in page", || async { c.current_url().await.unwrap().path() == "/console/sign-in" })
        .await;
    browser.screenshot("01-sign-in").await;
    browser.check_accessibility("sign-in").await;
    c.find(Locator::Css("#email")).await.unwrap().send_keys(&account.email).await.unwrap();
    c.find(Locator::Css("#password")).await.unwrap().send_keys("not the password").await.unwrap();
    c.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    browser.wait_for_text(".error-summary", "The email or the password is not right").await;
    browser.screenshot("02-sign-in-refused").await;
    browser.check_accessibility("sign-in-refused").await;
    c.find(Locator::Css("#password")).await.unwrap().send_keys(&account.password).await.unwrap();
    c.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    browser
        .wait_for(10, "the campaign list", || async { c.current_url().await.unwrap().path() == "/console/campaigns" })
        .await;

    // The list shows the campaign, ready, with "Start now".
    let row = browser.wait_for_text("table.list tbody tr", "Spring sale").await;
    assert!(row.contains("Ready to launch"), "{row}");
    browser.screenshot("03-campaign-list").await;
    browser.check_accessibility("campaign-list").await;
    c.find(Locator::Css("table.list tbody tr button")).await.unwrap().click().await.unwrap();
    // confirm.js asks first.
    let question = c.get_alert_text().await.unwrap();
    assert!(question.contains("Start sending"), "{question}");
    c.accept_alert().await.unwrap();
    browser.wait_for_text(".notice", "The campaign started.").await;
    assert_eq!(browser.text(".notice").await, "The campaign started.");

    // The campaign page's numbers move by themselves to their final values.
    c.find(Locator::LinkText("Spring sale")).await.unwrap().click().await.unwrap();
    browser
        .wait_for(10, "the campaign page", || async {
            c.current_url().await.unwrap().path() == format!("/console/campaigns/{campaign}")
        })
        .await;
    c.execute("window.notReloaded = true;", vec![]).await.unwrap();
    browser.screenshot("04-campaign-live").await;
    browser
        .wait_for(60, "all three read and replied, live", || async {
            browser.try_text("[data-stat=received]").await.as_deref() == Some("3")
                && browser.try_text("[data-stat=read]").await.as_deref() == Some("3")
                && browser.try_text("[data-stat=replied]").await.as_deref() == Some("3")
                && browser.try_text("[data-stat=not_sent_to]").await.as_deref() == Some("1")
                && browser.try_text("[data-stat=progress_pct]").await.as_deref() == Some("100")
        })
        .await;
    let same_page = c.execute("return window.notReloaded === true;", vec![]).await.unwrap();
    assert_eq!(same_page, json!(true), "the numbers moved without a reload (server-sent events)");
    assert_eq!(browser.text("[data-stat=could_send]").await, "3", "received of the contacts we could send to");
    assert_eq!(browser.text("[data-stat=received_pct]").await, "100");
    let reasons = browser.text("#reasons tbody").await;
    assert!(
        reasons.contains("the contact lacks a valued tag the template needs") && reasons.contains("1"),
        "{reasons}"
    );
    browser.screenshot("05-campaign-final").await;
    browser.check_accessibility("campaign-page").await;

    // Who was not sent to, and why.
    c.find(Locator::Css("#outcome")).await.unwrap().select_by_value("not_sent").await.unwrap();
    c.find(Locator::Css("#recipients form button[type=submit]")).await.unwrap().click().await.unwrap();
    browser
        .wait_for(10, "the filtered recipients", || async {
            c.current_url().await.unwrap().query().is_some_and(|q| q.contains("outcome=not_sent"))
        })
        .await;
    browser.wait_for_text("#recipients-table tbody tr", "+34612600004").await;
    let rows = c.find_all(Locator::Css("#recipients-table tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 1, "only the contact that was not sent to");
    let row = rows[0].text().await.unwrap();
    assert!(row.contains("+34612600004") && row.contains("Not sent"), "{row}");
    assert!(row.contains("the contact lacks a valued tag the template needs (missing_valued_tag)"), "{row}");
    browser.screenshot("06-recipients-not-sent").await;
    browser.check_accessibility("recipients-filtered").await;

    // Export report: request it, follow it to ready, download it.
    c.find(Locator::Css("form[action$='/reports'] button")).await.unwrap().click().await.unwrap();
    browser.wait_for_text(".notice", "The report was requested").await;
    browser
        .wait_for(30, "the report ready to download", || async {
            c.refresh().await.unwrap();
            c.find(Locator::Css("#reports-table a[download]")).await.is_ok()
        })
        .await;
    browser.screenshot("07-report-ready").await;
    let href = c.find(Locator::Css("#reports-table a[download]")).await.unwrap().attr("href").await.unwrap().unwrap();
    let cookie = c.get_named_cookie("wce_session").await.unwrap();
    let csv =
        app.http.get(app.url(&href)).header("cookie", format!("wce_session={}", cookie.value())).send().await.unwrap();
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-disposition"].to_str().unwrap().contains(".csv"));
    let csv = csv.text().await.unwrap();
    assert_eq!(csv.lines().count(), 5, "a header and one row per contact: {csv}");
    assert!(csv.lines().any(|l| l.contains("+34612600004") && l.contains("missing_valued_tag")), "{csv}");
    // Without the session, the file is not given.
    let anonymous = TestApp::browser_client().get(app.url(&href)).send().await.unwrap();
    assert_eq!(anonymous.status(), 303);

    // Clone into a new Draft: the same settings, ready to launch again, none of the history.
    c.find(Locator::Css("form[action$='/clone'] button")).await.unwrap().click().await.unwrap();
    browser
        .wait_for(10, "the clone's page", || async {
            let path = c.current_url().await.unwrap().path().to_owned();
            path.starts_with("/console/campaigns/") && path != format!("/console/campaigns/{campaign}")
        })
        .await;
    browser.wait_for_text(".notice", "new Draft").await;
    assert_eq!(browser.text("h1 .badge").await, "Ready to launch");
    assert!(browser.text("h1").await.starts_with("Copy of Spring sale"));
    assert_eq!(browser.text("[data-stat=targeted]").await, "0");

    // Signing out ends the session: the console asks to sign in again.
    c.find(Locator::Css("form[action='/console/sign-out'] button")).await.unwrap().click().await.unwrap();
    browser.wait_for(10, "signed out", || async { c.current_url().await.unwrap().path() == "/console/sign-in" }).await;
    browser.wait_for_text(".notice", "You are signed out.").await;
    c.goto(&app.url(&format!("/console/campaigns/{campaign}"))).await.unwrap();
    browser
        .wait_for(10, "sign in again", || async { c.current_url().await.unwrap().path() == "/console/sign-in" })
        .await;
    stop.cancel();
    c.clone().close().await.unwrap();
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_same_journey_works_with_the_keyboard_only(pg: PgPool) {
    let (app, campaign, account, stop) = scene(pg).await;
    let browser = Browser::start("keyboard").await;
    let c = &browser.client;
    let enter = Browser::enter();
    c.goto(&app.url("/console/sign-in")).await.unwrap();
    browser.tab_to("#email", 10).await;
    browser.keys(&account.email).await;
    browser.tab_to("#password", 3).await;
    browser.keys(&account.password).await;
    browser.keys(&enter).await;
    browser
        .wait_for(10, "the campaign list", || async { c.current_url().await.unwrap().path() == "/console/campaigns" })
        .await;
    // The skip link comes first, and every action is a focusable control.
    browser.tab_to("a.skip", 3).await;
    browser.tab_to("table.list tbody tr form[action$='/start'] button", 40).await;
    browser.keys(&enter).await;
    c.accept_alert().await.unwrap();
    browser.wait_for_text(".notice", "The campaign started.").await;
    browser.tab_to(&format!("a[href='/console/campaigns/{campaign}']"), 40).await;
    browser.keys(&enter).await;
    browser
        .wait_for(60, "the final numbers", || async {
            c.current_url().await.unwrap().path() == format!("/console/campaigns/{campaign}")
                && browser.try_text("[data-stat=replied]").await.as_deref() == Some("3")
                && browser.try_text("[data-stat=progress_pct]").await.as_deref() == Some("100")
        })
        .await;
    // Choose "Not sent" in the outcome list with the arrow keys, then send the filter.
    browser.tab_to("#outcome", 60).await;
    let down = String::from(char::from(fantoccini::key::Key::Down));
    for _ in 0..8 {
        let value = c.execute("return document.getElementById('outcome').value;", vec![]).await.unwrap();
        if value == json!("not_sent") {
            break;
        }
        browser.keys(&down).await;
    }
    browser.tab_to("#recipients form button[type=submit]", 6).await;
    browser.keys(&enter).await;
    browser
        .wait_for(10, "the filtered recipients", || async {
            c.current_url().await.unwrap().query().is_some_and(|q| q.contains("outcome=not_sent"))
        })
        .await;
    let row = browser.wait_for_text("#recipients-table tbody tr", "+34612600004").await;
    assert!(row.contains("missing_valued_tag"), "{row}");
    browser.screenshot("keyboard-recipients").await;
    c.goto(&app.url("/console/campaigns")).await.unwrap();
    browser.tab_to("form[action='/console/sign-out'] button", 10).await;
    browser.keys(&enter).await;
    browser.wait_for(10, "signed out", || async { c.current_url().await.unwrap().path() == "/console/sign-in" }).await;
    stop.cancel();
    c.clone().close().await.unwrap();
}
