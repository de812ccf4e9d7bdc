use e2e::{StatusCode, TestApp, send};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn health_and_readiness_answer_without_a_key_and_metrics_only_on_their_own_listener(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (status, body) = send(app.http.get(app.url("/healthz"))).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, body) = send(app.http.get(app.url("/readyz"))).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"postgres": "ok", "redis": "ok"})));

    app.get("/v1/contacts?tag=vip").await;
    // Metrics name every organization's campaigns: never on the public port.
    let (status, body) = send(app.http.get(app.url("/metrics"))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (status, metrics) = send(app.http.get(format!("{}/metrics", app.metrics_base))).await;
    assert_eq!(status, StatusCode::OK);
    let text = metrics.as_str().unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/v1/contacts",status="200"}"#),
        "requests are counted by matched route, not raw path: {text}"
    );
    assert!(text.contains("http_request_duration_seconds_bucket"), "latency is a histogram");
    assert!(!text.contains("tag=vip"), "query strings never become labels");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn readiness_fails_when_postgres_is_unreachable(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    app.pg.close().await;
    let (status, body) = send(app.http.get(app.url("/readyz"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, json!({"postgres": "unreachable", "redis": "ok"}));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_openapi_document_covers_every_route(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (status, doc) = send(app.http.get(app.url("/openapi.json"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let expected = [
        ("/v1/contacts", vec!["get"]),
        ("/v1/contacts/bulk", vec!["post"]),
        ("/v1/contacts/import", vec!["post"]),
        ("/v1/contacts/{id}", vec!["get", "delete"]),
        ("/v1/contacts/{id}/tags", vec!["post"]),
        ("/v1/contacts/{id}/tags/{tag}", vec!["delete"]),
        ("/v1/contacts/{id}/valued-tags/{key}", vec!["put", "delete"]),
        ("/v1/contacts/{id}/inbox-case", vec!["post", "delete"]),
        ("/v1/numbers", vec!["get", "post"]),
        ("/v1/numbers/{id}", vec!["get", "patch", "delete"]),
        ("/v1/api-keys", vec!["get", "post"]),
        ("/v1/api-keys/{id}", vec!["delete"]),
        ("/v1/templates", vec!["get"]),
        ("/v1/templates/sync", vec!["post"]),
        ("/v1/templates/{id}", vec!["get"]),
        ("/v1/bot-flows", vec!["get", "post"]),
        ("/v1/bot-flows/{id}", vec!["get", "patch", "delete"]),
        ("/v1/media", vec!["get", "post"]),
        ("/v1/media/{id}", vec!["get", "delete"]),
        ("/v1/media/{id}/refresh", vec!["post"]),
        ("/v1/campaigns", vec!["get", "post"]),
        ("/v1/campaigns/{id}", vec!["get", "patch", "delete"]),
        ("/v1/campaigns/{id}/clone", vec!["post"]),
        ("/v1/campaigns/{id}/forecast", vec!["get"]),
        ("/v1/campaigns/{id}/launch", vec!["post"]),
        ("/v1/campaigns/{id}/schedule", vec!["post", "delete"]),
        ("/v1/campaigns/{id}/finish", vec!["post"]),
        ("/v1/campaigns/{id}/pause", vec!["post"]),
        ("/v1/campaigns/{id}/resume", vec!["post"]),
        ("/v1/campaigns/{id}/funnel-steps", vec!["post"]),
        ("/v1/campaigns/{id}/funnel", vec!["get"]),
        ("/v1/campaigns/{id}/recipients", vec!["get"]),
        ("/v1/campaigns/{id}/test-send", vec!["post"]),
        ("/v1/campaigns/{id}/retry-failed", vec!["post"]),
        ("/v1/campaigns/{id}/stats", vec!["get"]),
        ("/v1/campaigns/{id}/stats/stream", vec!["get"]),
        ("/v1/organization", vec!["get", "patch"]),
        ("/v1/campaigns/{id}/reports", vec!["get", "post"]),
        ("/v1/reports/{id}", vec!["get"]),
        ("/v1/reports/{id}/download", vec!["get"]),
        ("/v1/dead-letters", vec!["get"]),
        ("/v1/dead-letters/{queue}", vec!["get"]),
        ("/v1/dead-letters/{queue}/replay", vec!["post"]),
        ("/v1/dead-letters/{queue}/{id}", vec!["delete"]),
        ("/v1/dead-letters/{queue}/{id}/replay", vec!["post"]),
        ("/webhooks/whatsapp", vec!["get", "post"]),
        ("/healthz", vec!["get"]),
        ("/readyz", vec!["get"]),
        ("/openapi.json", vec!["get"]),
    ];
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), expected.len(), "{:?}", paths.keys().collect::<Vec<_>>());
    for (path, methods) in expected {
        for m in methods {
            assert!(doc["paths"][path][m].is_object(), "{m} {path} missing from the OpenAPI document");
        }
    }
    // Every documented route is really served (a 404 would mean a stale document).
    let (status, _) = app.get("/v1/numbers").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.get("/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
}
