use e2e::{StatusCode, TestApp, code, send, sim};
use serde_json::json;
use sqlx::PgPool;

fn number() -> serde_json::Value {
    json!({
        "phone_number_id": sim::PHONE_NUMBER_ID,
        "waba_id": sim::WABA_ID,
        "access_token": sim::ACCESS_TOKEN,
        "app_secret": sim::APP_SECRET,
    })
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn numbers_are_verified_with_meta_registered_listed_updated_and_deleted_without_exposing_secrets(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (status, n) = app.post("/v1/numbers", number()).await;
    assert_eq!(status, StatusCode::CREATED, "{n}");
    // What Meta says about the number, not what a client claims.
    assert_eq!(n["display_number"], "+34910000001");
    assert_eq!(n["verified_name"], sim::VERIFIED_NAME);
    assert_eq!((n["quality_rating"].as_str(), n["messaging_tier"].as_str()), (Some("GREEN"), Some("TIER_10K")));
    assert_eq!(n["throughput_per_sec"], 80, "Meta's STANDARD throughput level");
    assert!(n["verified_at"].is_string(), "{n}");
    let id = n["id"].as_i64().unwrap();

    let (_, list) = app.get("/v1/numbers").await;
    let text = list.to_string();
    assert!(!text.contains(sim::ACCESS_TOKEN) && !text.contains(sim::APP_SECRET), "secrets are never returned: {text}");
    assert!(!text.contains("access_token") && !text.contains("app_secret"), "{text}");

    let row: (Vec<u8>, Vec<u8>) =
        sqlx::query_as("select access_token_enc, app_secret_enc from wa_numbers").fetch_one(&app.pg).await.unwrap();
    for stored in [&row.0, &row.1] {
        assert!(!String::from_utf8_lossy(stored).contains("sim-"), "secrets are encrypted at rest");
    }

    // A token Meta does not accept is refused, and the stored one stays.
    let (status, err) = app.patch(&format!("/v1/numbers/{id}"), json!({"access_token": "EAAGnot-a-token"})).await;
    assert_eq!((status, code(&err)), (StatusCode::UNPROCESSABLE_ENTITY, "number_not_verified"), "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("190"), "Meta's answer is named: {err}");
    let (status, n) = app.patch(&format!("/v1/numbers/{id}"), json!({"app_secret": "rotated-app-secret"})).await;
    assert_eq!(status, StatusCode::OK, "{n}");
    let stored: (Vec<u8>, Vec<u8>) =
        sqlx::query_as("select access_token_enc, app_secret_enc from wa_numbers").fetch_one(&app.pg).await.unwrap();
    assert_eq!(stored.0, row.0, "the refused token changed nothing");
    assert_ne!(stored.1, row.1, "a new app secret replaces the stored ciphertext");

    assert_eq!(app.delete(&format!("/v1/numbers/{id}")).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/v1/numbers/{id}")).await.0, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_number_meta_does_not_confirm_for_the_token_and_waba_is_not_stored(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let mut cases = Vec::new();
    // Someone else's number (with a valid token of another business), a made-up one, a bad token.
    let mut squat = number();
    squat["access_token"] = json!(sim::OTHER_ACCESS_TOKEN);
    cases.push((squat, "phone_number_id", "does not show phone number"));
    let mut unknown = number();
    unknown["phone_number_id"] = json!("1001");
    cases.push((unknown, "phone_number_id", "does not show phone number"));
    let mut bad_token = number();
    bad_token["access_token"] = json!("EAAGnot-a-token");
    cases.push((bad_token, "phone_number_id", "190"));
    // The caller's own number, claimed on another business's WABA.
    let mut wrong_waba = number();
    wrong_waba["waba_id"] = json!(sim::OTHER_WABA_ID);
    cases.push((wrong_waba, "waba_id", "does not show WABA"));
    for (body, field, says) in cases {
        let (status, err) = app.post("/v1/numbers", body.clone()).await;
        assert_eq!((status, code(&err)), (StatusCode::UNPROCESSABLE_ENTITY, "number_not_verified"), "{body}: {err}");
        assert_eq!(err["error"]["field"], field, "{err}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
        assert!(!message.contains(sim::OTHER_ACCESS_TOKEN) && !message.contains(sim::ACCESS_TOKEN), "{message}");
    }
    let stored: i64 = sqlx::query_scalar("select count(*) from wa_numbers").fetch_one(&app.pg).await.unwrap();
    assert_eq!(stored, 0, "nothing stored");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_verified_number_can_be_registered_only_once_in_the_deployment(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    assert_eq!(app.post("/v1/numbers", number()).await.0, StatusCode::CREATED);
    let (status, body) = app.post("/v1/numbers", number()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(code(&body), "number_already_registered");
    let (_, other) = app.other_org().await;
    let (status, body) = send(app.http.post(app.url("/v1/numbers")).bearer_auth(&other).json(&number())).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "number_already_registered"), "{body}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn invalid_number_fields_are_named(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    for (field, value, expected) in [
        ("phone_number_id", json!("abc"), "invalid_meta_id"),
        ("waba_id", json!(""), "invalid_meta_id"),
        ("access_token", json!(""), "invalid_secret"),
        ("app_secret", json!("has space"), "invalid_secret"),
    ] {
        let mut body = number();
        body[field] = value;
        let (status, err) = app.post("/v1/numbers", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {err}");
        assert_eq!(code(&err), expected, "{field}");
        assert_eq!(err["error"]["field"], field);
        assert!(!err.to_string().contains(sim::ACCESS_TOKEN), "errors never echo secrets");
    }
    // Meta's facts cannot be set by a client.
    for (field, value) in [("display_number", json!("+34910000001")), ("throughput_per_sec", json!(1000))] {
        let mut body = number();
        body[field] = value;
        let (status, err) = app.post("/v1/numbers", body).await;
        assert_eq!((status, code(&err)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"), "{field}: {err}");
    }
    let (status, err) = app.post("/v1/numbers", json!({"phone_number_id": "1"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&err), "invalid_body");
}
