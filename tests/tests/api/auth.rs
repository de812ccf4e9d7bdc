use e2e::{StatusCode, TestApp, code, send};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn requests_without_a_valid_key_are_refused(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (status, body) = send(app.http.get(app.url("/v1/contacts"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "missing_api_key");

    let (status, body) = send(app.http.get(app.url("/v1/contacts")).header("authorization", "Basic abc")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "malformed_authorization");

    let (status, body) = send(app.http.get(app.url("/v1/contacts")).bearer_auth("wce_not-a-real-key")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "invalid_api_key");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_revoked_key_stops_working_at_once(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (status, created) = app.post("/v1/api-keys", json!({"name": "ci"})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("wce_"));
    assert_eq!(send(app.http.get(app.url("/v1/contacts")).bearer_auth(&secret)).await.0, StatusCode::OK);

    let (_, keys) = app.get("/v1/api-keys").await;
    assert!(!keys.to_string().contains(&secret), "the full key is shown only once");
    let stored: Vec<u8> =
        sqlx::query_scalar("select key_hash from api_keys where name = 'ci'").fetch_one(&app.pg).await.unwrap();
    assert_eq!(stored.len(), 32, "keys are stored as SHA-256 hashes");

    let id = created["id"].as_i64().unwrap();
    let (status, revoked) = app.delete(&format!("/v1/api-keys/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(revoked["revoked_at"].is_string());
    let (status, body) = send(app.http.get(app.url("/v1/contacts")).bearer_auth(&secret)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "revoked_api_key");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn only_admin_keys_manage_keys(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (_, created) = app.post("/v1/api-keys", json!({"name": "plain"})).await;
    let plain = created["secret"].as_str().unwrap();
    let (status, body) =
        send(app.http.post(app.url("/v1/api-keys")).bearer_auth(plain).json(&json!({"name": "x"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "missing_scope");
    let (status, body) = app.post("/v1/api-keys", json!({"name": "x", "scopes": ["root"]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&body), "invalid_scope");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_bearer_scheme_is_case_insensitive(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let req = app.http.get(app.url("/v1/contacts")).header("authorization", format!("{scheme} {}", app.key));
        assert_eq!(send(req).await.0, StatusCode::OK, "{scheme}");
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn only_admin_keys_change_numbers(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (_, created) = app.post("/v1/api-keys", json!({"name": "reader"})).await;
    let plain = created["secret"].as_str().unwrap().to_owned();
    let number = json!({"phone_number_id": "1001", "waba_id": "2002", "display_number": "+34910000001",
                        "access_token": "t", "app_secret": "s"});
    let (status, body) = send(app.http.post(app.url("/v1/numbers")).bearer_auth(&plain).json(&number)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "missing_scope");
    let (_, n) = app.post("/v1/numbers", number).await;
    let path = format!("/v1/numbers/{}", n["id"]);
    assert_eq!(send(app.http.get(app.url(&path)).bearer_auth(&plain)).await.0, StatusCode::OK, "reading is allowed");
    let patch = send(app.http.patch(app.url(&path)).bearer_auth(&plain).json(&json!({"access_token": "stolen"}))).await;
    assert_eq!(patch.0, StatusCode::FORBIDDEN);
    assert_eq!(send(app.http.delete(app.url(&path)).bearer_auth(&plain)).await.0, StatusCode::FORBIDDEN);
}
