use e2e::{StatusCode, TestApp, code};
use serde_json::json;
use sqlx::PgPool;

const TOKEN: &str = "EAAGm0PX4ZCpsBAKZCsecret-token";
const APP_SECRET: &str = "0123456789abcdefapp-secret";

fn number() -> serde_json::Value {
    json!({
        "phone_number_id": "106540352242922",
        "waba_id": "102290129340398",
        "display_number": "+34 910 00 00 01",
        "access_token": TOKEN,
        "app_secret": APP_SECRET,
        "throughput_per_sec": 250
    })
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn numbers_are_registered_listed_updated_and_deleted_without_exposing_secrets(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (status, n) = app.post("/v1/numbers", number()).await;
    assert_eq!(status, StatusCode::CREATED, "{n}");
    assert_eq!(n["display_number"], "+34910000001");
    assert_eq!(n["throughput_per_sec"], 250);
    let id = n["id"].as_i64().unwrap();

    let (_, list) = app.get("/v1/numbers").await;
    let text = list.to_string();
    assert!(!text.contains(TOKEN) && !text.contains(APP_SECRET), "secrets must never be returned: {text}");
    assert!(!text.contains("access_token") && !text.contains("app_secret"), "{text}");

    let row: (Vec<u8>, Vec<u8>) =
        sqlx::query_as("select access_token_enc, app_secret_enc from wa_numbers").fetch_one(&app.pg).await.unwrap();
    for stored in [&row.0, &row.1] {
        assert!(!String::from_utf8_lossy(stored).contains("secret"), "secrets are encrypted at rest");
    }

    let (status, n) =
        app.patch(&format!("/v1/numbers/{id}"), json!({"throughput_per_sec": 1000, "access_token": "EAAGnew"})).await;
    assert_eq!(status, StatusCode::OK, "{n}");
    assert_eq!(n["throughput_per_sec"], 1000);
    assert_eq!(n["waba_id"], "102290129340398");
    let stored: Vec<u8> =
        sqlx::query_scalar("select access_token_enc from wa_numbers").fetch_one(&app.pg).await.unwrap();
    assert_ne!(stored, row.0, "a new token replaces the stored ciphertext");

    assert_eq!(app.delete(&format!("/v1/numbers/{id}")).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/v1/numbers/{id}")).await.0, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_phone_number_id_can_be_registered_only_once(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    assert_eq!(app.post("/v1/numbers", number()).await.0, StatusCode::CREATED);
    let (status, body) = app.post("/v1/numbers", number()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(code(&body), "number_already_registered");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn invalid_number_fields_are_named(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    for (field, value, expected) in [
        ("phone_number_id", json!("abc"), "invalid_meta_id"),
        ("waba_id", json!(""), "invalid_meta_id"),
        ("display_number", json!("910000001"), "invalid_phone"),
        ("access_token", json!(""), "invalid_secret"),
        ("app_secret", json!("has space"), "invalid_secret"),
        ("throughput_per_sec", json!(1001), "invalid_throughput"),
        ("throughput_per_sec", json!(0), "invalid_throughput"),
    ] {
        let mut body = number();
        body[field] = value;
        let (status, err) = app.post("/v1/numbers", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {err}");
        assert_eq!(code(&err), expected, "{field}");
        assert_eq!(err["error"]["field"], field);
        assert!(!err.to_string().contains(TOKEN), "errors never echo secrets");
    }
    let (status, err) = app.post("/v1/numbers", json!({"phone_number_id": "1"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&err), "invalid_body");
}
