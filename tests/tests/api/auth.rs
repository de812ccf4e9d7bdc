use e2e::{StatusCode, TestApp, code, send, sim};
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
    let number = json!({"phone_number_id": sim::PHONE_NUMBER_ID, "waba_id": sim::WABA_ID,
                        "access_token": sim::ACCESS_TOKEN, "app_secret": sim::APP_SECRET});
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

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_last_active_admin_key_cannot_be_revoked(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (_, keys) = app.get("/v1/api-keys").await;
    let own = keys[0]["id"].as_i64().unwrap();
    let (status, body) = app.delete(&format!("/v1/api-keys/{own}")).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "last_admin_key"), "{body}");
    assert_eq!(app.get("/v1/api-keys").await.0, StatusCode::OK, "the key still works");

    // With a second admin key, one of the two can go, then not the other.
    let (_, second) = app.post("/v1/api-keys", json!({"name": "second", "scopes": ["admin"]})).await;
    let (second_id, second_key) = (second["id"].as_i64().unwrap(), second["secret"].as_str().unwrap().to_owned());
    let (_, reader) = app.post("/v1/api-keys", json!({"name": "reader"})).await;
    assert_eq!(app.delete(&format!("/v1/api-keys/{}", reader["id"])).await.0, StatusCode::OK, "not an admin key");
    let (own_path, second_path) = (format!("/v1/api-keys/{own}"), format!("/v1/api-keys/{second_id}"));
    let (a, b) =
        tokio::join!(app.delete(&own_path), send(app.http.delete(app.url(&second_path)).bearer_auth(&second_key)),);
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "two concurrent revocations: one stays ({a:?} {b:?})");
}
