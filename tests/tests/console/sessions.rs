//! Sessions over HTTP: throttled sign-ins, sign out everywhere, and where a
//! sign-in may lead back to.

use e2e::{TestApp, console::hidden};
use sqlx::PgPool;
use store::operators::Role;

async fn try_sign_in(app: &TestApp, client: &reqwest::Client, email: &str, password: &str) -> reqwest::Response {
    let html = client.get(app.url("/console/sign-in")).send().await.unwrap().text().await.unwrap();
    let token = hidden(&html, "token").unwrap();
    client
        .post(app.url("/console/sign-in"))
        .form(&[("email", email), ("password", password), ("token", &token)])
        .send()
        .await
        .unwrap()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn failed_sign_ins_are_throttled_per_email_and_read_the_same_for_unknown_emails(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let account = app.operator(app.org, "ops@acme.example", Role::Operator).await;
    let client = TestApp::browser_client();
    let unknown = try_sign_in(&app, &client, "nobody@acme.example", "whatever").await;
    assert_eq!(unknown.status(), 422);
    let unknown = unknown.text().await.unwrap();
    for _ in 0..5 {
        let wrong = try_sign_in(&app, &client, "OPS@acme.example", "wrong password").await;
        assert_eq!(wrong.status(), 422);
        assert!(wrong.text().await.unwrap().contains("The email or the password is not right"));
    }
    assert!(unknown.contains("The email or the password is not right"), "an unknown email reads the same");
    // Five failures for the email: even the right password waits now.
    let throttled = try_sign_in(&app, &client, &account.email, &account.password).await;
    assert_eq!(throttled.status(), 429);
    assert!(throttled.text().await.unwrap().contains("too_many_sign_in_attempts"));
    // Other accounts are not locked out by it.
    let other = app.operator(app.org, "ana@acme.example", Role::Admin).await;
    let ok = try_sign_in(&app, &TestApp::browser_client(), &other.email, &other.password).await;
    assert_eq!(ok.status(), 303);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn signing_out_everywhere_ends_every_session_of_the_account(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let account = app.operator(app.org, "ops@acme.example", Role::Operator).await;
    let laptop = TestApp::browser_client();
    let phone = TestApp::browser_client();
    let csrf = app.sign_in(&laptop, &account).await;
    app.sign_in(&phone, &account).await;
    let colleague = app.operator(app.org, "ana@acme.example", Role::Operator).await;
    let colleagues = TestApp::browser_client();
    app.sign_in(&colleagues, &colleague).await;
    assert_eq!(phone.get(app.url("/console/campaigns")).send().await.unwrap().status(), 200);
    let resp =
        laptop.post(app.url("/console/sign-out-everywhere")).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    for client in [&laptop, &phone] {
        let resp = client.get(app.url("/console/campaigns")).send().await.unwrap();
        assert_eq!(resp.status(), 303, "signed out");
    }
    assert_eq!(colleagues.get(app.url("/console/campaigns")).send().await.unwrap().status(), 200);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_sign_in_leads_back_only_to_a_console_page(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let account = app.operator(app.org, "ops@acme.example", Role::Operator).await;
    for (next, lands) in [
        ("/console/campaigns?kind=test", "/console/campaigns?kind=test"),
        ("//evil.example/console/", "/console/campaigns"),
        ("https://evil.example/", "/console/campaigns"),
        ("/v1/campaigns", "/console/campaigns"),
    ] {
        let client = TestApp::browser_client();
        let q = url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>();
        let html =
            client.get(app.url(&format!("/console/sign-in?next={q}"))).send().await.unwrap().text().await.unwrap();
        let token = hidden(&html, "token").unwrap();
        let next_field = hidden(&html, "next").unwrap().replace("&amp;", "&");
        let resp = client
            .post(app.url("/console/sign-in"))
            .form(&[
                ("email", account.email.as_str()),
                ("password", &account.password),
                ("token", &token),
                ("next", &next_field),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303);
        assert_eq!(resp.headers()["location"], lands, "next={next}");
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_live_stats_stream_ends_when_its_session_is_signed_out(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    let id = app.ready_campaign(&setup, "Spring", serde_json::json!({})).await["id"].as_i64().unwrap();
    let account = app.operator(app.org, "ops@acme.example", Role::Operator).await;
    let client = TestApp::browser_client();
    let csrf = app.sign_in(&client, &account).await;
    let mut stream = client.get(app.url(&format!("/console/campaigns/{id}/live"))).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let first = stream.chunk().await.unwrap().expect("the first event");
    assert!(String::from_utf8_lossy(&first).contains("event: stats"));
    let other = TestApp::browser_client();
    app.sign_in(&other, &account).await;
    let other_csrf = e2e::console::hidden(
        &other.get(app.url("/console/campaigns")).send().await.unwrap().text().await.unwrap(),
        "csrf",
    )
    .unwrap();
    assert_ne!(other_csrf, csrf);
    let resp = other
        .post(app.url("/console/sign-out-everywhere"))
        .form(&[("csrf", other_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    // The stream ends within its 5-second check (keep-alive comments may come first).
    let ended = tokio::time::timeout(std::time::Duration::from_secs(15), async {
        while let Some(_chunk) = stream.chunk().await.unwrap() {}
    })
    .await;
    assert!(ended.is_ok(), "the stream of a signed-out session ended");
}
