use e2e::{StatusCode, TestApp, send};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn another_organizations_resources_are_not_found(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    app.post("/v1/contacts/bulk", json!({"contacts": [{"phone": "+34612345678", "tags": ["vip"]}]})).await;
    let contact: i64 = sqlx::query_scalar("select id from contacts").fetch_one(&app.pg).await.unwrap();
    let number = app.register_number().await;
    let key_id: i64 = sqlx::query_scalar("select id from api_keys").fetch_one(&app.pg).await.unwrap();

    let (_, other) = app.other_org().await;
    let as_other = |m: reqwest::Method, path: &str| app.http.request(m, app.url(path)).bearer_auth(&other);
    use reqwest::Method as M;
    for (method, path, body) in [
        (M::GET, format!("/v1/contacts/{contact}"), None),
        (M::DELETE, format!("/v1/contacts/{contact}"), None),
        (M::POST, format!("/v1/contacts/{contact}/tags"), Some(json!({"tags": ["x"]}))),
        (M::PUT, format!("/v1/contacts/{contact}/valued-tags/k"), Some(json!({"value": "v"}))),
        (M::DELETE, format!("/v1/contacts/{contact}/tags/vip"), None),
        (M::DELETE, format!("/v1/contacts/{contact}/valued-tags/k"), None),
        (M::POST, format!("/v1/contacts/{contact}/inbox-case"), Some(json!({}))),
        (M::DELETE, format!("/v1/contacts/{contact}/inbox-case"), None),
        (M::GET, format!("/v1/numbers/{number}"), None),
        (M::PATCH, format!("/v1/numbers/{number}"), Some(json!({"app_secret": "stolen-secret"}))),
        (M::DELETE, format!("/v1/numbers/{number}"), None),
        (M::DELETE, format!("/v1/api-keys/{key_id}"), None),
    ] {
        let mut req = as_other(method.clone(), &path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let (status, body) = send(req).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        assert!(!body.to_string().contains("+34612345678"), "{body}");
    }
    let (_, list) = send(as_other(M::GET, "/v1/contacts")).await;
    assert_eq!(list["data"], json!([]));
    let (_, numbers) = send(as_other(M::GET, "/v1/numbers")).await;
    assert_eq!(numbers, json!([]));

    // Nothing of the first organization changed.
    let (status, c) = app.get(&format!("/v1/contacts/{contact}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(c["tags"], json!(["vip"]));
    assert_eq!(app.get(&format!("/v1/numbers/{number}")).await.1["throughput_per_sec"], 80);
    let secret: Vec<u8> = sqlx::query_scalar("select app_secret_enc from wa_numbers").fetch_one(&app.pg).await.unwrap();
    let secret = app.state.cipher.decrypt(&format!("wa_numbers.app_secret:org={}", app.org.0), &secret).unwrap();
    assert_eq!(secret, e2e::sim::APP_SECRET);
}
