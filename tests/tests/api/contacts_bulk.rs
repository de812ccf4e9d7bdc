use e2e::{StatusCode, TestApp, code};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn bulk_upsert_creates_then_merges_tags_and_valued_tags(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (status, body) = app
        .post(
            "/v1/contacts/bulk",
            json!({"contacts": [
                {"phone": "+34 612 34 56 78", "name": "Ana", "tags": ["VIP", "Madrid"], "valued_tags": {"customer_id": "C-1", "plan": "gold"}},
                {"phone": "+5491123456789", "tags": ["lead"]}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"created": 2, "updated": 0}));

    let (status, body) = app
        .post(
            "/v1/contacts/bulk",
            json!({"contacts": [{"phone": "+34612345678", "tags": ["newsletter", "vip"], "valued_tags": {"plan": "silver"}}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"created": 0, "updated": 1}));

    let (_, page) = app.get("/v1/contacts?tag=newsletter").await;
    let ana = &page["data"][0];
    assert_eq!(ana["phone"], "+34612345678");
    assert_eq!(ana["name"], "Ana", "a missing name keeps the stored one");
    assert_eq!(ana["tags"], json!(["madrid", "newsletter", "vip"]), "tags are a normalised union");
    assert_eq!(ana["valued_tags"], json!({"customer_id": "C-1", "plan": "silver"}));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn bulk_upsert_with_an_invalid_row_writes_nothing_and_names_the_rows(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (status, body) = app
        .post(
            "/v1/contacts/bulk",
            json!({"contacts": [
                {"phone": "+34612345678"},
                {"phone": "612345678"},
                {"phone": "+34612345679", "tags": ["ok", "bad;tag"]},
                {"phone": "+34612345670", "valued_tags": {"1bad": "x"}}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(code(&body), "invalid_rows");
    let rows: Vec<_> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["row"].as_u64().unwrap(),
                d["field"].as_str().unwrap().to_owned(),
                d["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (1, "contacts[1].phone".into(), "invalid_phone".into()),
            (2, "contacts[2].tags".into(), "invalid_tag".into()),
            (3, "contacts[3].valued_tags".into(), "invalid_valued_tag_key".into()),
        ]
    );
    let count: i64 = sqlx::query_scalar("select count(*) from contacts").fetch_one(&app.pg).await.unwrap();
    assert_eq!(count, 0, "a request with a bad row must not be half-applied");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn bulk_upsert_refuses_more_than_ten_thousand_contacts(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let contacts: Vec<_> = (0..10_001).map(|i| json!({"phone": format!("+3461{:07}", i)})).collect();
    let (status, body) = app.post("/v1/contacts/bulk", json!({ "contacts": contacts })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(code(&body), "too_many_contacts");
    assert_eq!(body["error"]["field"], "contacts");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn bulk_upsert_accepts_ten_thousand_contacts_in_one_request(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let contacts: Vec<_> = (0..10_000)
        .map(|i| json!({"phone": format!("+3461{:07}", i), "tags": ["bulk"], "valued_tags": {"n": i.to_string()}}))
        .collect();
    let (status, body) = app.post("/v1/contacts/bulk", json!({ "contacts": contacts })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["created"], 10_000);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn oversized_and_malformed_bodies_get_clear_errors(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let huge = "x".repeat(17 << 20);
    let (status, body) = e2e::send(
        app.req(reqwest::Method::POST, "/v1/contacts/bulk").header("content-type", "application/json").body(huge),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(code(&body), "payload_too_large");

    let (status, body) = e2e::send(
        app.req(reqwest::Method::POST, "/v1/contacts/bulk")
            .header("content-type", "application/json")
            .body("{\"contacts\": [}"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(code(&body), "malformed_json");

    let (status, body) = e2e::send(app.req(reqwest::Method::POST, "/v1/contacts/bulk").body("{}")).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");

    // Ordinary JSON routes take at most 1 MiB.
    let padded =
        json!({"phone_number_id": "1", "waba_id": "2", "access_token": "t".repeat(2 << 20), "app_secret": "s"});
    let (status, body) = app.post("/v1/numbers", padded).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(code(&body), "payload_too_large");

    let (status, body) = e2e::send(app.req(reqwest::Method::PUT, "/v1/contacts/bulk").json(&json!({}))).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(code(&body), "method_not_allowed");

    let (status, body) =
        app.post("/v1/contacts/bulk", json!({"contacts": [{"phone": "+34612345678", "colour": "red"}]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(code(&body), "invalid_body");
    assert!(body["error"]["message"].as_str().unwrap().contains("colour"), "{body}");
}
