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
use wa_sim::config::ScriptedFailure;

/// A bot that accepts every reply.
async fn bot() -> String {
    let app = axum::Router::new().route("/bot", post(|| async { HttpStatus::OK }));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let url = format!("http://{}/bot", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The templates of the journey: the simulator's, and `spring_promo` with
/// an IMAGE header and three body placeholders (one per binding kind).
fn sim_config() -> wa_sim::Config {
    let mut config = e2e::sim::config();
    let mut promo = e2e::sim::template("spring_promo", "en_US", "Hi {{1}}, order {{2}} ships today with {{3}} off");
    promo.header_format = Some(wa_sim::config::HeaderFormat::Image);
    promo.footer = Some("Reply STOP to opt out".to_owned());
    config.wabas[0].templates.push(promo);
    config
}

/// Three contacts the campaign can reach and one without the valued tag its
/// template needs.
const CONTACTS_CSV: &str = "phone,name,tags,vt:order_id\n+34612600001,Ana,vip,A-1\n+34612600002,Rui,vip,A-2\n\
                            +34612600003,Eva,vip,A-3\n+34612600004,Leo,vip,\n";

/// The contact Meta holds back in the mouse journey (131049, its marketing
/// limit): not sent, and worth retrying later.
const HELD_BACK: &str = "+34612600003";

/// The scene of a journey: an app whose wa-sim sends statuses and replies
/// (and fails the messages to the phones of `failures`), a
/// registered number, a bot flow, an operator account and the worker
/// pipeline running. Contacts, templates and the campaign are the
/// operator's to make in the browser.
async fn scene(pg: PgPool, failures: Vec<ScriptedFailure>) -> (TestApp, e2e::console::Account, CancellationToken) {
    let app = TestApp::spawn_with_sim_webhooks(pg, sim_config(), |w| {
        w.scripted_failures = failures;
        (w.sent_delay_ms, w.delivered_delay_ms, w.read_delay_ms, w.read_probability) = (50, 300, 600, 1.0);
        w.flush_interval_ms = 50;
        w.replies.text_probability = 1.0;
        w.replies.delay_ms = 100;
    })
    .await;
    let bot_url = bot().await;
    app.register_number().await;
    let (status, flow) = app
        .post(
            "/v1/bot-flows",
            json!({"name": "Support bot", "endpoint_url": bot_url, "secret": "0123456789abcdef-bot"}),
        )
        .await;
    assert_eq!(status, 201, "{flow}");
    let account = app.operator(app.org, "marta@acme.example", Role::Admin).await;
    let stop = pipeline(&app).await;
    (app, account, stop)
}

/// A file for the browser to upload.
fn file(dir: &std::path::Path, name: &str, content: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

/// The id in a campaign URL (`/console/campaigns/{id}/...`).
fn campaign_in(path: &str) -> Option<i64> {
    path.strip_prefix("/console/campaigns/")?.split('/').next()?.parse().ok()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_operator_builds_a_campaign_in_the_wizard_sends_it_watches_it_live_and_finds_who_was_not_sent_to(
    pg: PgPool,
) {
    let (app, account, stop) =
        scene(pg, vec![ScriptedFailure { numbers: vec![HELD_BACK.to_owned()], prefix: None, code: 131049 }]).await;
    let files = std::env::temp_dir().join(format!("console-journey-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&files).unwrap();
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

    browser.screenshot("03-campaign-list-empty").await;
    browser.check_accessibility("campaign-list-empty").await;

    // Contacts: a file with a bad row is refused whole, with a report; the fixed one is imported.
    c.find(Locator::LinkText("Contacts")).await.unwrap().click().await.unwrap();
    browser.wait_for_text("h1", "Contacts").await;
    let bad = file(&files, "bad.csv", b"phone,name,tags\n+34612600001,Ana,vip\nnot-a-phone,Rui,vip\n");
    c.find(Locator::Css("#file")).await.unwrap().send_keys(&bad).await.unwrap();
    c.find(Locator::Css("form.import button")).await.unwrap().click().await.unwrap();
    let report = browser.wait_for_text(".error-summary", "Nothing was imported").await;
    assert!(report.contains("3"), "the bad row's line is named: {report}");
    browser.screenshot("04-import-refused").await;
    browser.check_accessibility("import-refused").await;
    let good = file(&files, "contacts.csv", CONTACTS_CSV.as_bytes());
    c.find(Locator::Css("#file")).await.unwrap().send_keys(&good).await.unwrap();
    c.find(Locator::Css("form.import button")).await.unwrap().click().await.unwrap();
    browser.wait_for_text(".notice", "Imported 4 rows: 4 contacts created").await;
    browser.wait_for_text("table.list tbody", "+34612600004").await;
    browser.check_accessibility("contacts").await;

    // Settings: sync the templates from Meta.
    c.find(Locator::LinkText("Settings")).await.unwrap().click().await.unwrap();
    c.find(Locator::Css("form[action='/console/templates/sync'] button")).await.unwrap().click().await.unwrap();
    browser.wait_for_text(".notice", "Templates synced from Meta: 10 new").await;
    browser.wait_for_text("#templates ~ .scroll table", "spring_promo").await;
    browser.check_accessibility("settings").await;

    // The wizard: basic settings.
    c.find(Locator::LinkText("Campaigns")).await.unwrap().click().await.unwrap();
    c.find(Locator::LinkText("New campaign")).await.unwrap().click().await.unwrap();
    browser.wait_for_text("h1", "New campaign").await;
    browser.check_accessibility("wizard-new").await;
    c.find(Locator::Css("#name")).await.unwrap().send_keys("Spring sale").await.unwrap();
    c.find(Locator::Css("#number")).await.unwrap().select_by_index(1).await.unwrap();
    c.find(Locator::Css("button[value=next]")).await.unwrap().click().await.unwrap();
    // Audience, with its live count.
    browser.wait_for_text("h1", "Spring sale: Audience").await;
    let campaign = campaign_in(c.current_url().await.unwrap().path()).expect("the new campaign's id");
    assert!(browser.text(".error-summary").await.contains("choose the audience"), "the draft lists what is missing");
    c.find(Locator::Css("#tags")).await.unwrap().send_keys("vip").await.unwrap();
    browser.wait_for_text("#audience-count", "4 contacts match").await;
    browser.screenshot("05-wizard-audience").await;
    browser.check_accessibility("wizard-audience").await;
    c.find(Locator::Css("button[value=next]")).await.unwrap().click().await.unwrap();
    // The template, then one binding of each kind, and the header image.
    browser.wait_for_text("h1", "Template and message").await;
    let template = browser.wait_for_text("#template", "spring_promo").await;
    assert!(!template.contains("old_promo"), "only approved templates: {template}");
    c.find(Locator::Css("#template")).await.unwrap().select_by_label("spring_promo (en_US, MARKETING)").await.unwrap();
    c.find(Locator::Css("button[value=next]")).await.unwrap().click().await.unwrap();
    browser.wait_for_text(".notice", "bind each of its placeholders").await;
    c.find(Locator::Id("body.1.kind")).await.unwrap().select_by_value("contact_name").await.unwrap();
    c.find(Locator::Id("body.2.kind")).await.unwrap().select_by_value("valued_tag").await.unwrap();
    c.find(Locator::Id("body.2.key")).await.unwrap().send_keys("order_id").await.unwrap();
    c.find(Locator::Id("body.3.value")).await.unwrap().send_keys("20%").await.unwrap();
    c.find(Locator::Css("button[value=stay]")).await.unwrap().click().await.unwrap();
    let preview = browser.wait_for_text(".bubble", "Hi Ana, order A-1 ships today with 20% off").await;
    assert!(preview.contains("Reply STOP to opt out"), "{preview}");
    assert!(browser.text(".error-summary").await.contains("image"), "the header image is still missing");
    let image = file(&files, "spring.png", &e2e::campaigns::png());
    c.find(Locator::Css("#media")).await.unwrap().send_keys(&image).await.unwrap();
    c.find(Locator::Css("form[action$='/header-media'] button")).await.unwrap().click().await.unwrap();
    browser.wait_for_text(".notice", "spring.png was uploaded to Meta").await;
    browser.screenshot("06-wizard-message").await;
    browser.check_accessibility("wizard-message").await;
    c.find(Locator::Css("button[value=next]")).await.unwrap().click().await.unwrap();
    // The bot flow and the pace.
    browser.wait_for_text("h1", "Bot flow and pace").await;
    // Quiet hours need both ends: one alone is refused, naming the field. (A
    // time input's typing depends on the browser's locale: the value is set directly.)
    c.execute("document.getElementById('send_from').value = '09:00';", vec![]).await.unwrap();
    c.find(Locator::Css("button[value=next]")).await.unwrap().click().await.unwrap();
    browser.wait_for_text("main", "quiet hours need both").await;
    c.find(Locator::Css("#bot_flow")).await.unwrap().select_by_label("Support bot").await.unwrap();
    c.find(Locator::Css("#pace")).await.unwrap().send_keys("20").await.unwrap();
    // The support team's capacity: generous enough not to slow three contacts down.
    c.find(Locator::Css("#replies_per_hour")).await.unwrap().send_keys("36000").await.unwrap();
    browser.screenshot("06b-wizard-bot").await;
    browser.check_accessibility("wizard-bot").await;
    c.find(Locator::Css("button[value=next]")).await.unwrap().click().await.unwrap();
    // The review: the forecast, with who will not be sent to and why.
    browser.wait_for_text("h1", "Review and send").await;
    let summary = browser.text("main").await;
    assert!(summary.contains("Support capacity") && summary.contains("36000 replies per hour"), "{summary}");
    assert!(summary.contains("Messaging limit") && summary.contains("TIER_10K"), "{summary}");
    assert_eq!(browser.text("[data-forecast=will_send]").await, "3 of 4");
    let exclusions = browser.text("#forecast-title ~ table").await;
    assert!(exclusions.contains("missing_valued_tag") && exclusions.contains("+34612600004"), "{exclusions}");
    browser.screenshot("07-wizard-review").await;
    browser.check_accessibility("wizard-review").await;
    c.find(Locator::Css("form[action$='/ready'] button")).await.unwrap().click().await.unwrap();
    browser.wait_for_text(".notice", "“Spring sale” is ready to launch.").await;
    let row = browser.wait_for_text("table.list tbody tr", "Spring sale").await;
    assert!(row.contains("Ready to launch"), "{row}");
    browser.screenshot("08-campaign-list").await;
    browser.check_accessibility("campaign-list").await;

    // Send a test to one contact: its own test campaign, sent at once.
    c.goto(&app.url(&format!("/console/campaigns/{campaign}/review"))).await.unwrap();
    c.find(Locator::Css("#test_phones")).await.unwrap().send_keys("+34612600001").await.unwrap();
    c.find(Locator::Css("form[action$='/test-send'] button")).await.unwrap().click().await.unwrap();
    browser.wait_for_text(".notice", "The test is being sent.").await;
    assert!(browser.text("h1").await.starts_with("Test of Spring sale"));
    browser
        .wait_for(60, "the test received", || async {
            browser.try_text("[data-stat=received]").await.as_deref() == Some("1")
        })
        .await;

    // Start now, from the review (confirm.js asks first).
    c.goto(&app.url(&format!("/console/campaigns/{campaign}/review"))).await.unwrap();
    c.find(Locator::Css("form[action$='/start'] button")).await.unwrap().click().await.unwrap();
    let question = c.get_alert_text().await.unwrap();
    assert!(question.contains("Start sending"), "{question}");
    c.accept_alert().await.unwrap();
    browser.wait_for_text(".notice", "The campaign started.").await;
    browser
        .wait_for(10, "the campaign page", || async {
            c.current_url().await.unwrap().path() == format!("/console/campaigns/{campaign}")
        })
        .await;
    c.execute("window.notReloaded = true;", vec![]).await.unwrap();
    browser.screenshot("09-campaign-live").await;
    browser
        .wait_for(60, "two read and replied, two not sent, live", || async {
            browser.try_text("[data-stat=received]").await.as_deref() == Some("2")
                && browser.try_text("[data-stat=read]").await.as_deref() == Some("2")
                && browser.try_text("[data-stat=replied]").await.as_deref() == Some("2")
                && browser.try_text("[data-stat=not_sent_to]").await.as_deref() == Some("2")
                && browser.try_text("[data-stat=progress_pct]").await.as_deref() == Some("100")
        })
        .await;
    // The messaging limit's use moves live too: three distinct phones were
    // queued (the test send's contact is among them; the fourth was excluded).
    browser
        .wait_for(10, "the messaging limit's use, live", || async {
            browser.try_text("[data-stat='messaging_limit.used']").await.as_deref() == Some("3")
        })
        .await;
    let same_page = c.execute("return window.notReloaded === true;", vec![]).await.unwrap();
    assert_eq!(same_page, json!(true), "the numbers moved without a reload (server-sent events)");
    assert_eq!(browser.text("[data-stat=could_send]").await, "3", "received of the contacts we could send to");
    let reasons = browser.text("#reasons tbody").await;
    assert!(reasons.contains("the contact lacks a valued tag the template needs"), "{reasons}");
    assert!(reasons.contains("healthy ecosystem engagement"), "Meta's 131049, readable: {reasons}");
    browser.screenshot("10-campaign-final").await;
    browser.check_accessibility("campaign-page").await;

    // Who was not sent to, and why.
    c.find(Locator::Css("#outcome")).await.unwrap().select_by_value("not_sent").await.unwrap();
    c.find(Locator::Css("#recipients form button[type=submit]")).await.unwrap().click().await.unwrap();
    browser
        .wait_for(10, "the filtered recipients", || async {
            c.current_url().await.unwrap().query().is_some_and(|q| q.contains("outcome=not_sent"))
        })
        .await;
    browser.wait_for_text("#recipients-table tbody", "+34612600004").await;
    let rows = c.find_all(Locator::Css("#recipients-table tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 2, "only the contacts that were not sent to");
    let (held_back, leo) = (rows[0].text().await.unwrap(), rows[1].text().await.unwrap());
    assert!(held_back.contains(HELD_BACK) && held_back.contains("Not sent"), "{held_back}");
    assert!(held_back.contains("wait at least 24 hours before resending"), "{held_back}");
    assert!(held_back.contains("(ecosystem_limited)"), "{held_back}");
    assert!(leo.contains("+34612600004") && leo.contains("Not sent"), "{leo}");
    assert!(leo.contains("the contact lacks a valued tag the template needs (missing_valued_tag)"), "{leo}");
    browser.screenshot("11-recipients-not-sent").await;
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
    browser.screenshot("12-report-ready").await;
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

    // Retry failed: a new Draft for exactly the contact Meta held back, the same message.
    c.goto(&app.url(&format!("/console/campaigns/{campaign}"))).await.unwrap();
    c.find(Locator::Css("form[action$='/retry-failed'] button")).await.unwrap().click().await.unwrap();
    browser.wait_for_text(".notice", "retrying the 1 contact(s)").await;
    assert!(browser.text("h1").await.contains("Review and send"));
    let summary = browser.text("main").await;
    assert!(summary.contains("Retry of Spring sale") && summary.contains("the 1 contact(s) retried"), "{summary}");
    assert_eq!(browser.text("[data-forecast=will_send]").await, "1 of 1", "it need not wait for Spring sale to finish");
    browser.check_accessibility("retry-review").await;

    // Operations: a dead letter of the organization, replayed.
    e2e::dead::make_dead(&app, queue::DeadQueue::Launch, &[queue::LaunchJob { campaign_id: campaign }]).await;
    c.find(Locator::LinkText("Operations")).await.unwrap().click().await.unwrap();
    let dead = browser.wait_for_text("#dead-launch ~ article", "the handler said no").await;
    assert!(dead.contains(&format!("\"campaign_id\": {campaign}")) || dead.contains("Payload"), "{dead}");
    browser.screenshot("13-operations").await;
    browser.check_accessibility("operations").await;
    c.find(Locator::Css("#dead-launch ~ article form[action$='/replay'] button")).await.unwrap().click().await.unwrap();
    browser.wait_for_text(".notice", "The dead letter is back in its queue.").await;
    assert!(c.find(Locator::Css("#dead-launch")).await.is_err(), "no dead letter left in the launch queue");

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
    let (app, account, stop) = scene(pg, vec![]).await;
    // A file cannot be chosen without a mouse (the file dialog is the
    // system's): the contacts come through the API.
    let (status, imported) = app.import_csv(CONTACTS_CSV).await;
    assert_eq!(status, 200, "{imported}");
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
    browser.tab_to("a[href='/console/settings']", 10).await;
    browser.keys(&enter).await;
    browser.tab_to("form[action='/console/templates/sync'] button", 20).await;
    browser.keys(&enter).await;
    browser.wait_for_text(".notice", "Templates synced from Meta").await;
    // From the templates, past the accounts and API keys forms, round to the navigation.
    browser.tab_to("a[href='/console/campaigns']", 40).await;
    browser.keys(&enter).await;
    browser.tab_to("a[href='/console/campaigns/new']", 20).await;
    browser.keys(&enter).await;
    // Every step of the wizard, from the keyboard.
    browser.tab_to("#name", 20).await;
    browser.keys("Spring sale").await;
    browser.tab_to("#number", 6).await;
    choose(&browser, "number", "+").await;
    browser.tab_to("button[value=next]", 6).await;
    browser.keys(&enter).await;
    browser.wait_for_text("h1", "Spring sale: Audience").await;
    let campaign = campaign_in(c.current_url().await.unwrap().path()).expect("the new campaign's id");
    browser.tab_to("#tags", 40).await;
    browser.keys("vip").await;
    browser.wait_for_text("#audience-count", "4 contacts match").await;
    browser.tab_to("button[value=next]", 10).await;
    browser.keys(&enter).await;
    browser.wait_for_text("h1", "Template and message").await;
    browser.tab_to("#template", 40).await;
    choose(&browser, "template", "order_update (en_US").await;
    browser.tab_to("button[value=next]", 6).await;
    browser.keys(&enter).await;
    browser.wait_for_text(".notice", "bind each of its placeholders").await;
    browser.tab_to("[id='body.1.kind']", 40).await;
    choose(&browser, "body.1.kind", "The contact's name").await;
    browser.tab_to("[id='body.2.kind']", 6).await;
    choose(&browser, "body.2.kind", "A valued tag").await;
    browser.tab_to("[id='body.2.key']", 4).await;
    browser.keys("order_id").await;
    browser.tab_to("button[value=next]", 6).await;
    browser.keys(&enter).await;
    browser.wait_for_text("h1", "Bot flow and pace").await;
    browser.tab_to("#bot_flow", 40).await;
    choose(&browser, "bot_flow", "Support bot").await;
    browser.tab_to("button[value=next]", 20).await;
    browser.keys(&enter).await;
    browser.wait_for_text("h1", "Review and send").await;
    assert_eq!(browser.text("[data-forecast=will_send]").await, "3 of 4");
    browser.tab_to("form[action$='/start'] button", 60).await;
    browser.keys(&enter).await;
    c.accept_alert().await.unwrap();
    browser.wait_for_text(".notice", "The campaign started.").await;
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

/// Moves a focused `<select>` with the arrow keys until its chosen option's
/// text contains `part`.
async fn choose(browser: &Browser, id: &str, part: &str) {
    let down = String::from(char::from(fantoccini::key::Key::Down));
    let script = format!("const s = document.getElementById('{id}'); return s.options[s.selectedIndex].text;");
    for _ in 0..30 {
        let text = browser.client.execute(&script, vec![]).await.unwrap();
        if text.as_str().is_some_and(|t| t.contains(part)) {
            return;
        }
        browser.keys(&down).await;
    }
    panic!("no option of #{id} reads {part:?}");
}
