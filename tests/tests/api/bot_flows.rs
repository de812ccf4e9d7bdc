use e2e::{StatusCode, TestApp, code, send};
use serde_json::{Value, json};
use sqlx::PgPool;
use store::{OrgId, bot_flows};

const SECRET: &str = "whsec_0123456789abcdef";

fn flow(name: &str) -> Value {
    json!({"name": name, "endpoint_url": "https://bot.example.com/hooks/wa", "secret": SECRET})
}

async fn create(app: &TestApp, name: &str) -> i64 {
    let (status, body) = app.post("/v1/bot-flows", flow(name)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().unwrap()
}

/// A campaign row of the given lifecycle pointing at the flow (campaign routes are not needed for this).
async fn campaign(app: &TestApp, name: &str, lifecycle: &str, bot_flow_id: i64) -> i64 {
    sqlx::query_scalar(
        "insert into campaigns (org_id, kind, name, lifecycle, bot_flow_id) values ($1, 'real', $2, $3, $4) returning id",
    )
    .bind(app.org.0)
    .bind(name)
    .bind(lifecycle)
    .bind(bot_flow_id)
    .fetch_one(&app.pg)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn bot_flows_are_created_listed_changed_and_deleted_without_exposing_the_secret(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (status, created) = app.post("/v1/bot-flows", flow("Support bot")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["name"], "Support bot");
    assert_eq!(created["endpoint_url"], "https://bot.example.com/hooks/wa");
    let id = created["id"].as_i64().unwrap();
    create(&app, "Another bot").await;

    let (_, list) = app.get("/v1/bot-flows").await;
    let names: Vec<_> = list.as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Another bot", "Support bot"], "sorted by name");
    let (_, one) = app.get(&format!("/v1/bot-flows/{id}")).await;
    for body in [&created, &list, &one] {
        let text = body.to_string();
        assert!(!text.contains(SECRET) && !text.contains("secret"), "the secret is write-only: {text}");
    }
    let stored: Vec<u8> =
        sqlx::query_scalar("select secret_enc from bot_flows where id = $1").bind(id).fetch_one(&app.pg).await.unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains("whsec"), "encrypted at rest");
    let secret = bot_flows::secret(&app.pg, &app.state.cipher, app.org, id).await.unwrap();
    assert_eq!(secret.as_deref(), Some(SECRET), "the reply worker can read it");
    assert_eq!(bot_flows::secret(&app.pg, &app.state.cipher, OrgId(app.org.0 + 1), id).await.unwrap(), None);

    let (status, changed) = app
        .patch(
            &format!("/v1/bot-flows/{id}"),
            json!({"endpoint_url": "http://10.0.0.7:8080/wa", "secret": "another-secret-0123"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (changed["name"].as_str(), changed["endpoint_url"].as_str()),
        (Some("Support bot"), Some("http://10.0.0.7:8080/wa"))
    );
    let secret = bot_flows::secret(&app.pg, &app.state.cipher, app.org, id).await.unwrap();
    assert_eq!(secret.as_deref(), Some("another-secret-0123"));

    assert_eq!(app.delete(&format!("/v1/bot-flows/{id}")).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/v1/bot-flows/{id}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.delete(&format!("/v1/bot-flows/{id}")).await.0, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn invalid_bot_flow_fields_are_named_and_names_are_unique(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    for (field, value, expected) in [
        ("name", json!(""), "invalid_name"),
        ("name", json!("x".repeat(201)), "invalid_name"),
        ("endpoint_url", json!("bot.example.com/hook"), "invalid_url"),
        ("endpoint_url", json!("ftp://bot.example.com/hook"), "invalid_url"),
        ("endpoint_url", json!("https://user:pw@bot.example.com/hook"), "invalid_url"),
        ("endpoint_url", json!(format!("https://bot.example.com/{}", "a".repeat(2048))), "invalid_url"),
        ("secret", json!("too-short"), "invalid_secret"),
        ("secret", json!("has whitespace in the middle"), "invalid_secret"),
        ("secret", json!("x".repeat(513)), "invalid_secret"),
    ] {
        let mut body = flow("Bot");
        body[field] = value;
        let (status, err) = app.post("/v1/bot-flows", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {err}");
        assert_eq!((code(&err), err["error"]["field"].as_str()), (expected, Some(field)), "{err}");
        assert!(!err.to_string().contains("has whitespace"), "a secret is never echoed: {err}");
    }
    assert_eq!(app.get("/v1/bot-flows").await.1, json!([]), "nothing was created");

    let id = create(&app, "Bot").await;
    let (status, err) = app.post("/v1/bot-flows", flow("Bot")).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "bot_flow_name_taken"), "{err}");
    let other = create(&app, "Other").await;
    let (status, err) = app.patch(&format!("/v1/bot-flows/{other}"), json!({"name": "Bot"})).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "bot_flow_name_taken"), "{err}");
    let (status, err) = app.patch(&format!("/v1/bot-flows/{id}"), json!({"secret": "short"})).await;
    assert_eq!((status, err["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("secret")));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_bot_flow_in_use_by_a_running_campaign_cannot_be_deleted_and_drafts_lose_it(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let id = create(&app, "Sales bot").await;
    let active = campaign(&app, "Black Friday", "active", id).await;
    let draft = campaign(&app, "Next week", "editable", id).await;

    let (status, err) = app.delete(&format!("/v1/bot-flows/{id}")).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "bot_flow_in_use"), "{err}");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Black Friday") && !message.contains("Next week"),
        "names the running campaign: {message}"
    );
    let kept: Option<i64> = sqlx::query_scalar("select bot_flow_id from campaigns where id = $1")
        .bind(draft)
        .fetch_one(&app.pg)
        .await
        .unwrap();
    assert_eq!(kept, Some(id), "a refused delete changes nothing");

    sqlx::query("update campaigns set lifecycle = 'scheduled' where id = $1")
        .bind(active)
        .execute(&app.pg)
        .await
        .unwrap();
    assert_eq!(
        app.delete(&format!("/v1/bot-flows/{id}")).await.0,
        StatusCode::CONFLICT,
        "scheduled campaigns block too"
    );

    sqlx::query("update campaigns set lifecycle = 'finished' where id = $1")
        .bind(active)
        .execute(&app.pg)
        .await
        .unwrap();
    assert_eq!(app.delete(&format!("/v1/bot-flows/{id}")).await.0, StatusCode::NO_CONTENT);
    let refs: Vec<Option<i64>> =
        sqlx::query_scalar("select bot_flow_id from campaigns order by id").fetch_all(&app.pg).await.unwrap();
    assert_eq!(refs, [None, None], "the other campaigns lose the flow");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn another_organizations_bot_flows_are_not_found(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let id = create(&app, "Bot").await;
    let (_, other) = app.other_org().await;
    use reqwest::Method as M;
    for (method, body) in [(M::GET, None), (M::PATCH, Some(json!({"name": "Mine"}))), (M::DELETE, None)] {
        let mut req = app.http.request(method.clone(), app.url(&format!("/v1/bot-flows/{id}"))).bearer_auth(&other);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let (status, err) = send(req).await;
        assert_eq!((status, code(&err)), (StatusCode::NOT_FOUND, "not_found"), "{method} {err}");
    }
    let (status, list) = send(app.http.get(app.url("/v1/bot-flows")).bearer_auth(&other)).await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));
    let (status, _) = send(app.http.post(app.url("/v1/bot-flows")).bearer_auth(&other).json(&flow("Bot"))).await;
    assert_eq!(status, StatusCode::CREATED, "names are unique per organization only");
    assert_eq!(app.get(&format!("/v1/bot-flows/{id}")).await.1["name"], "Bot", "untouched");
}
