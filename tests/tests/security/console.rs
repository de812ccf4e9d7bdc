//! The console's routes (`api::console::ROUTES`): each one that is not
//! public sends a browser without a session to sign in and does nothing;
//! another organization's operator reaches none of this one's campaigns;
//! a form without this session's CSRF token changes nothing; hostile text
//! in a query is a 4xx page, never a 5xx; the session cookie is HttpOnly,
//! SameSite and Secure over HTTPS.

use api::console::{PUBLIC_ROUTES, ROUTES};
use e2e::{
    TestApp,
    console::{Account, hidden},
};
use serde_json::json;
use sqlx::PgPool;
use store::operators::Role;

/// A ready campaign of the app's organization: its id.
async fn campaign(app: &TestApp) -> i64 {
    let setup = app.campaign_setup().await;
    app.contacts(
        json!([{"phone": "+34612700001", "name": "Ana", "tags": ["vip"], "valued_tags": {"order_id": "A-1"}}]),
    )
    .await;
    app.ready_campaign(&setup, "Secret campaign of Acme", json!({})).await["id"].as_i64().unwrap()
}

async fn lifecycle(app: &TestApp, id: i64) -> String {
    sqlx::query_scalar("select lifecycle from campaigns where id = $1").bind(id).fetch_one(&app.pg).await.unwrap()
}

/// A route's path with `id` for its campaign or report, and the ids of an
/// account and an API key of the app's organization.
fn path(template: &str, id: i64, (account, key): (i64, i64)) -> String {
    template
        .replace("{id}", &id.to_string())
        .replace("{account}", &account.to_string())
        .replace("{key}", &key.to_string())
        .replace("{name}", "nothing.css")
        .replace("{step}", "basics")
        .replace("{queue}", "send")
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn every_console_route_but_the_public_ones_needs_a_session_and_does_nothing_without_one(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let id = campaign(&app).await;
    let client = TestApp::browser_client();
    for (method, template) in &ROUTES[PUBLIC_ROUTES..] {
        let url = app.url(&path(template, id, (1, 1)));
        let req = if *method == "GET" { client.get(&url) } else { client.post(&url).form(&[("csrf", "x")]) };
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 303, "{method} {template}");
        let to = resp.headers()["location"].to_str().unwrap();
        assert!(to.starts_with("/console/sign-in"), "{method} {template} leads to {to}");
    }
    assert_eq!(lifecycle(&app, id).await, "editable", "nothing was started without a session");
    // A cookie that names no session is no session either.
    let resp =
        client.get(app.url("/console/campaigns")).header("cookie", "wce_session=forged-token").send().await.unwrap();
    assert_eq!(resp.status(), 303);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn another_organizations_operator_reaches_none_of_its_campaigns(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let id = campaign(&app).await;
    let victims = (account_of(&app, "ana@acme.example").await, key_of(&app).await);
    let (other, _) = app.other_org().await;
    let intruder = app.operator(other, "eve@other.example", Role::Admin).await;
    let client = TestApp::browser_client();
    let csrf = app.sign_in(&client, &intruder).await;
    let list = client.get(app.url("/console/campaigns")).send().await.unwrap().text().await.unwrap();
    assert!(!list.contains("Secret campaign of Acme"), "the list is the operator's organization's");
    let settings = client.get(app.url("/console/settings")).send().await.unwrap().text().await.unwrap();
    assert!(!settings.contains("ana@acme.example"), "the accounts are the organization's");
    let with_ids = |t: &&(&str, &str)| ["{id}", "{account}", "{key}"].iter().any(|p| t.1.contains(p));
    for (method, template) in ROUTES[PUBLIC_ROUTES..].iter().filter(with_ids) {
        let url = app.url(&path(template, id, victims));
        let resp = if *method == "GET" {
            client.get(&url).send().await.unwrap()
        } else {
            client.post(&url).form(&[("csrf", csrf.as_str())]).send().await.unwrap()
        };
        let status = resp.status();
        let notice = resp.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let body = resp.text().await.unwrap();
        assert!(!body.contains("Secret campaign of Acme"), "{method} {template} shows nothing of it");
        if *method == "GET" {
            assert_eq!(status, 404, "{method} {template}");
        } else if status == 303 {
            assert!(notice.contains("not_found"), "{method} {template}: the notice says not found: {notice}");
        } else {
            // A wizard step answers with its page: not found. A file upload
            // posted as a plain form is refused before anything is read.
            assert!(status == 404 || status == 400, "{method} {template}: {status}");
        }
    }
    assert_eq!(lifecycle(&app, id).await, "editable");
    assert!(!disabled(&app, victims.0).await, "the other organization's account is untouched");
    let (status, _) = app.get("/v1/campaigns").await;
    assert_eq!(status, 200, "and so is its API key");
}

/// An account of the app's organization (created): its id.
async fn account_of(app: &TestApp, email: &str) -> i64 {
    app.operator(app.org, email, Role::Operator).await;
    sqlx::query_scalar("select id from operators where email = $1").bind(email).fetch_one(&app.pg).await.unwrap()
}

/// The app's own API key: its id.
async fn key_of(app: &TestApp) -> i64 {
    sqlx::query_scalar("select id from api_keys where org_id = $1 order by id limit 1")
        .bind(app.org.0)
        .fetch_one(&app.pg)
        .await
        .unwrap()
}

async fn disabled(app: &TestApp, account: i64) -> bool {
    sqlx::query_scalar("select disabled_at is not null from operators where id = $1")
        .bind(account)
        .fetch_one(&app.pg)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_form_without_the_sessions_csrf_token_changes_nothing(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let id = campaign(&app).await;
    let account = app.operator(app.org, "ops@acme.example", Role::Operator).await;
    let client = TestApp::browser_client();
    let csrf = app.sign_in(&client, &account).await;
    let start = app.url(&format!("/console/campaigns/{id}/start"));
    let resp = client.post(&start).form(&[("csrf", "not-the-token")]).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.unwrap().contains("csrf_token_mismatch"));
    let resp = client.post(&start).form(&[("back", "/console/campaigns")]).send().await.unwrap();
    assert!(resp.status().is_client_error(), "no token at all: {}", resp.status());
    // Another session's token is not this one's.
    let other = TestApp::browser_client();
    let other_csrf = app.sign_in(&other, &account).await;
    assert_ne!(other_csrf, csrf);
    let resp = client.post(&start).form(&[("csrf", other_csrf.as_str())]).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(lifecycle(&app, id).await, "editable");
    // A sign-in form not served to this browser is refused too (login CSRF).
    let fresh = TestApp::browser_client();
    let resp = fresh
        .post(app.url("/console/sign-in"))
        .form(&[("email", account.email.as_str()), ("password", account.password.as_str()), ("token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // With the token, the action runs.
    let resp = client.post(&start).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(lifecycle(&app, id).await, "active");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn hostile_text_in_console_queries_and_forms_is_a_4xx_page(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let id = campaign(&app).await;
    let account = app.operator(app.org, "ops@acme.example", Role::Operator).await;
    let client = TestApp::browser_client();
    app.sign_in(&client, &account).await;
    for hostile in ["%00", "a%0Ab", "%E2%80%AEevil", &"x".repeat(4_000)] {
        for url in [
            format!("/console/campaigns?q={hostile}"),
            format!("/console/campaigns/{id}?q={hostile}"),
            format!("/console/campaigns/{id}?reason={hostile}"),
            format!("/console/campaigns/{id}?outcome={hostile}&after=x"),
        ] {
            let resp = client.get(app.url(&url)).send().await.unwrap();
            let status = resp.status();
            assert!(status.is_client_error() || status == 200, "{url}: {status}");
            assert!(!status.is_server_error(), "{url}: {status}");
        }
    }
    let resp = client.get(app.url("/console/campaigns?q=%00")).send().await.unwrap();
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.unwrap().contains("invalid_text"));
    // The sign-in form, with NUL in the email: refused, readable.
    let page = TestApp::browser_client();
    let html = page.get(app.url("/console/sign-in")).send().await.unwrap().text().await.unwrap();
    let token = hidden(&html, "token").unwrap();
    let resp = page
        .post(app.url("/console/sign-in"))
        .form(&[("email", "ops\u{0}@acme.example"), ("password", "x"), ("token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_session_cookie_is_http_only_same_site_and_secure_over_https(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let account: Account = app.operator(app.org, "ops@acme.example", Role::Operator).await;
    for https in [false, true] {
        let client = TestApp::browser_client();
        let get = client.get(app.url("/console/sign-in"));
        let get = if https { get.header("x-forwarded-proto", "https") } else { get };
        let html = get.send().await.unwrap().text().await.unwrap();
        let token = hidden(&html, "token").unwrap();
        let post = client.post(app.url("/console/sign-in"));
        let post = if https { post.header("x-forwarded-proto", "https") } else { post };
        let resp = post
            .form(&[("email", account.email.as_str()), ("password", account.password.as_str()), ("token", &token)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303);
        let cookie = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|c| c.starts_with("wce_session="))
            .expect("a session cookie");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
        assert_eq!(cookie.contains("Secure"), https, "Secure exactly over HTTPS: {cookie}");
        // The token in the cookie is not what Postgres stores.
        let value = cookie.trim_start_matches("wce_session=").split(';').next().unwrap().to_owned();
        let stored: i64 = sqlx::query_scalar("select count(*) from console_sessions where token_hash = $1")
            .bind(value.as_bytes())
            .fetch_one(&app.pg)
            .await
            .unwrap();
        assert_eq!(stored, 0, "only the token's hash is stored");
    }
    // Console pages forbid framing and foreign scripts.
    let resp = TestApp::browser_client().get(app.url("/console/sign-in")).send().await.unwrap();
    let csp = resp.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
}

async fn name_of(app: &TestApp, id: i64) -> String {
    sqlx::query_scalar("select name from campaigns where id = $1").bind(id).fetch_one(&app.pg).await.unwrap()
}

async fn contacts(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from contacts").fetch_one(&app.pg).await.unwrap()
}

fn csv_form(csrf: &str, csv: &str) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().text("csrf", csrf.to_owned()).part(
        "file",
        reqwest::multipart::Part::bytes(csv.as_bytes().to_vec())
            .file_name("contacts.csv")
            .mime_str("text/csv")
            .unwrap(),
    )
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_wizard_the_import_and_the_operations_page_refuse_forged_hostile_and_unauthorised_forms(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let id = campaign(&app).await;
    let account = app.operator(app.org, "ops@acme.example", Role::Operator).await;
    let client = TestApp::browser_client();
    let csrf = app.sign_in(&client, &account).await;
    let save = app.url(&format!("/console/campaigns/{id}/edit/basics"));

    let resp = client.post(&save).form(&[("name", "Renamed"), ("then", "stay")]).send().await.unwrap();
    assert!(resp.status().is_client_error(), "no token: {}", resp.status());
    let resp = client.post(&save).form(&[("csrf", "forged"), ("name", "Renamed")]).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    for hostile in ["Evil\u{0}name", "two\nlines", "\u{202e}reversed"] {
        let resp = client.post(&save).form(&[("csrf", csrf.as_str()), ("name", hostile)]).send().await.unwrap();
        assert_eq!(resp.status(), 422, "{hostile:?}");
        let page = resp.text().await.unwrap();
        assert!(page.contains("invalid_text") || page.contains("invalid_name"), "{hostile:?}: the code is named");
    }
    assert_eq!(name_of(&app, id).await, "Secret campaign of Acme", "nothing was saved");
    // A valued-tag filter that is not key=value is named, and changes nothing.
    let audience = app.url(&format!("/console/campaigns/{id}/edit/audience"));
    let resp = client
        .post(&audience)
        .form(&[("csrf", csrf.as_str()), ("tags", "vip"), ("valued_tags", "no equals sign"), ("match", "all")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.unwrap().contains("invalid_valued_tag_filter"));

    // The import: a forged token imports nothing; hostile cells are a
    // per-row report, and nothing is imported either.
    let before = contacts(&app).await;
    let import = app.url("/console/contacts/import");
    let resp = client.post(&import).multipart(csv_form("forged", "phone\n+34612700009\n")).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    let resp = client
        .post(&import)
        .multipart(csv_form(&csrf, "phone,name\n+34612700009,Ok\n+34612700010,Bad\u{0}name\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let page = resp.text().await.unwrap();
    assert!(page.contains("Nothing was imported") && page.contains("invalid_text"), "the row report is shown");
    assert_eq!(contacts(&app).await, before, "all rows or none");

    // Operations are for admins.
    let resp = client.get(app.url("/console/operations")).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    let resp = client
        .post(app.url("/console/dead-letters/send/x/delete"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // The live audience count is the operator's organization's only.
    let (other, _) = app.other_org().await;
    let intruder = app.operator(other, "eve@other.example", Role::Admin).await;
    let theirs = TestApp::browser_client();
    app.sign_in(&theirs, &intruder).await;
    let count: serde_json::Value =
        theirs.get(app.url("/console/audience-count?tags=vip")).send().await.unwrap().json().await.unwrap();
    assert_eq!(count["count"], 0, "{count}");
    let ours: serde_json::Value =
        client.get(app.url("/console/audience-count?tags=vip")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ours["count"], 1, "{ours}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn accounts_and_api_keys_are_managed_by_admins_only_and_refuse_forged_and_hostile_forms(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let admin = app.operator(app.org, "marta@acme.example", Role::Admin).await;
    let operator = account_of(&app, "ops@acme.example").await;
    let key = key_of(&app).await;
    let accounts =
        || async { sqlx::query_scalar::<_, i64>("select count(*) from operators").fetch_one(&app.pg).await.unwrap() };
    let keys =
        || async { sqlx::query_scalar::<_, i64>("select count(*) from api_keys").fetch_one(&app.pg).await.unwrap() };
    let (accounts_before, keys_before) = (accounts().await, keys().await);

    // An operator who is not an admin sees none of it and changes none of it.
    let ops = TestApp::browser_client();
    let ops_account: Account = app.operator(app.org, "ops2@acme.example", Role::Operator).await;
    let csrf = app.sign_in(&ops, &ops_account).await;
    let settings = ops.get(app.url("/console/settings")).send().await.unwrap().text().await.unwrap();
    assert!(!settings.contains("marta@acme.example") && !settings.contains("/console/api-keys"), "no admin part");
    let forms: [(String, Vec<(&str, &str)>); 4] = [
        ("/console/accounts".into(), vec![("email", "mallory@acme.example"), ("role", "admin")]),
        (format!("/console/accounts/{operator}/disable"), vec![]),
        ("/console/api-keys".into(), vec![("name", "Mallory"), ("admin", "yes")]),
        (format!("/console/api-keys/{key}/revoke"), vec![]),
    ];
    for (path, fields) in &forms {
        let mut form = fields.clone();
        form.push(("csrf", csrf.as_str()));
        let resp = ops.post(app.url(path)).form(&form).send().await.unwrap();
        assert_eq!(resp.status(), 403, "{path}");
        assert!(resp.text().await.unwrap().contains("admin_only"), "{path}: the code is named");
    }

    // An admin's forms need the session's token, and name bad fields.
    let client = TestApp::browser_client();
    let csrf = app.sign_in(&client, &admin).await;
    for (path, fields) in &forms {
        let mut form = fields.clone();
        form.push(("csrf", "forged"));
        assert_eq!(client.post(app.url(path)).form(&form).send().await.unwrap().status(), 403, "{path}");
    }
    for (fields, code) in [
        (vec![("email", "not an email"), ("role", "operator")], "invalid_email"),
        (vec![("email", "eve\u{0}@acme.example"), ("role", "operator")], "invalid_email"),
        (vec![("email", "eve@acme.example"), ("role", "root")], "invalid_role"),
        (vec![("email", "MARTA@acme.example"), ("role", "operator")], "email_taken"),
    ] {
        let mut form = fields.clone();
        form.push(("csrf", csrf.as_str()));
        let resp = client.post(app.url("/console/accounts")).form(&form).send().await.unwrap();
        assert!(resp.status().is_client_error(), "{fields:?}: {}", resp.status());
        assert!(resp.text().await.unwrap().contains(code), "{fields:?}: {code} is named");
    }
    for name in ["two\nlines", "\u{202e}reversed", ""] {
        let resp = client
            .post(app.url("/console/api-keys"))
            .form(&[("csrf", csrf.as_str()), ("name", name)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 422, "{name:?}");
    }
    assert_eq!((accounts().await, keys().await), (accounts_before + 1, keys_before), "nothing was created");
    // An admin cannot disable their own account.
    let me: i64 = sqlx::query_scalar("select id from operators where email = 'marta@acme.example'")
        .fetch_one(&app.pg)
        .await
        .unwrap();
    let resp = client.post(app.url(&format!("/console/accounts/{me}/disable"))).form(&[("csrf", csrf.as_str())]).send();
    let resp = resp.await.unwrap();
    assert_eq!(resp.status(), 409);
    assert!(resp.text().await.unwrap().contains("own_account"));
    assert!(!disabled(&app, me).await);

    // What is shown once is never kept by the browser.
    let resp = client
        .post(app.url("/console/api-keys"))
        .form(&[("csrf", csrf.as_str()), ("name", "CRM")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let secret = hidden(&resp.text().await.unwrap(), "secret").expect("the key, shown once");
    let (_, listed) = app.get("/v1/api-keys").await;
    assert!(!listed.to_string().contains(&secret), "never shown again");
}
