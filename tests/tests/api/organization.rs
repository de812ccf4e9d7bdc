use e2e::{StatusCode, TestApp, code, send};
use serde_json::{Value, json};
use sqlx::PgPool;
use store::api_keys;

async fn bot_flow(app: &TestApp, key: &str, name: &str) -> i64 {
    let body = json!({"name": name, "endpoint_url": "https://bot.example.com/wa", "secret": "0123456789abcdef-bot"});
    let (status, flow) = send(app.http.post(app.url("/v1/bot-flows")).bearer_auth(key).json(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{flow}");
    flow["id"].as_i64().unwrap()
}

fn keywords(body: &Value) -> Vec<&str> {
    body["opt_out_keywords"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn organization_settings_round_trip(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (status, org) = app.get("/v1/organization").await;
    assert_eq!(status, StatusCode::OK, "{org}");
    assert_eq!((org["id"].as_i64(), org["name"].as_str()), (Some(app.org.0), Some("Acme")));
    assert_eq!(org["default_bot_flow_id"], Value::Null);
    assert!(keywords(&org).contains(&"STOP") && keywords(&org).contains(&"BAJA"), "the defaults: {org}");

    let flow = bot_flow(&app, &app.key, "Fallback bot").await;
    let (status, changed) = app
        .patch(
            "/v1/organization",
            json!({"default_bot_flow_id": flow, "opt_out_keywords": [" stop ", "Baja", "STOP", "opt   out", "stöp"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["default_bot_flow_id"].as_i64(), Some(flow));
    assert_eq!(keywords(&changed), ["STOP", "BAJA", "OPT OUT", "STÖP"], "trimmed, upper-case, no duplicates");
    assert_eq!(app.get("/v1/organization").await.1, changed);

    let (status, unchanged) = app.patch("/v1/organization", json!({})).await;
    assert_eq!((status, &unchanged), (StatusCode::OK, &changed), "absent fields stay");
    let (_, cleared) = app.patch("/v1/organization", json!({"default_bot_flow_id": null})).await;
    assert_eq!(cleared["default_bot_flow_id"], Value::Null);
    assert_eq!(keywords(&cleared), ["STOP", "BAJA", "OPT OUT", "STÖP"]);

    // Deleting the default bot flow clears it.
    app.patch("/v1/organization", json!({"default_bot_flow_id": flow})).await;
    assert_eq!(app.delete(&format!("/v1/bot-flows/{flow}")).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/v1/organization").await.1["default_bot_flow_id"], Value::Null);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn invalid_organization_settings_are_refused_and_change_nothing(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (_, other_key) = app.other_org().await;
    let foreign_flow = bot_flow(&app, &other_key, "Their bot").await;
    let (_, before) = app.get("/v1/organization").await;
    let many: Vec<String> = (0..51).map(|i| format!("word{i}")).collect();
    for (body, expected, field) in [
        (json!({"default_bot_flow_id": foreign_flow}), "unknown_reference", "default_bot_flow_id"),
        (json!({"default_bot_flow_id": foreign_flow + 1000}), "unknown_reference", "default_bot_flow_id"),
        (json!({"opt_out_keywords": []}), "invalid_opt_out_keywords", "opt_out_keywords"),
        (json!({"opt_out_keywords": many}), "invalid_opt_out_keywords", "opt_out_keywords"),
        (json!({"opt_out_keywords": ["STOP", "   "]}), "invalid_opt_out_keyword", "opt_out_keywords[1]"),
        (json!({"opt_out_keywords": ["x".repeat(31)]}), "invalid_opt_out_keyword", "opt_out_keywords[0]"),
        (
            json!({"opt_out_keywords": ["STOP"], "default_bot_flow_id": foreign_flow}),
            "unknown_reference",
            "default_bot_flow_id",
        ),
    ] {
        let (status, answer) = app.patch("/v1/organization", body.clone()).await;
        assert_eq!(
            (status, code(&answer), answer["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, expected, Some(field)),
            "{body}: {answer}"
        );
    }
    let (status, answer) = app.patch("/v1/organization", json!({"name": "Renamed"})).await;
    assert_eq!((status, code(&answer)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"), "{answer}");
    assert_eq!(app.get("/v1/organization").await.1, before, "nothing changed");
    let (status, _) = app.patch("/v1/organization", json!({"opt_out_keywords": ["x".repeat(30)]})).await;
    assert_eq!(status, StatusCode::OK, "30 characters are fine");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn any_key_reads_the_settings_and_only_admin_keys_change_them(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let key = api_keys::create(&app.pg, app.org, "ops", &[]).await.unwrap().secret;
    let (status, org) = send(app.http.get(app.url("/v1/organization")).bearer_auth(&key)).await;
    assert_eq!((status, org["id"].as_i64()), (StatusCode::OK, Some(app.org.0)));
    let req = app.http.patch(app.url("/v1/organization")).bearer_auth(&key).json(&json!({"opt_out_keywords": ["NO"]}));
    let (status, answer) = send(req).await;
    assert_eq!((status, code(&answer)), (StatusCode::FORBIDDEN, "missing_scope"), "{answer}");
    assert_eq!(send(app.http.get(app.url("/v1/organization"))).await.0, StatusCode::UNAUTHORIZED);

    // Each organization sees its own.
    let (other, other_key) = app.other_org().await;
    let (_, theirs) = send(app.http.get(app.url("/v1/organization")).bearer_auth(&other_key)).await;
    assert_eq!(theirs["id"].as_i64(), Some(other.0));
}
