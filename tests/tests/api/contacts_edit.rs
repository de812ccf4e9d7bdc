use e2e::{StatusCode, TestApp, code};
use serde_json::{Value, json};
use sqlx::PgPool;

async fn seed(app: &TestApp, n: usize) -> Vec<i64> {
    let contacts: Vec<_> = (0..n)
        .map(|i| json!({"phone": format!("+3461{i:07}"), "tags": if i % 2 == 0 { json!(["even"]) } else { json!(["odd"]) }}))
        .collect();
    let (status, body) = app.post("/v1/contacts/bulk", json!({ "contacts": contacts })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    sqlx::query_scalar("select id from contacts order by id").fetch_all(&app.pg).await.unwrap()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn listing_pages_through_a_filtered_audience_without_gaps_or_repeats(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    seed(&app, 25).await;
    let mut seen = Vec::new();
    let mut path = "/v1/contacts?tag=even&limit=5".to_owned();
    loop {
        let (status, page) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for c in page["data"].as_array().unwrap() {
            assert_eq!(c["tags"], json!(["even"]));
            seen.push(c["phone"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/contacts?tag=even&limit=5&cursor={cursor}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).step_by(2).map(|i| format!("+3461{i:07}")).collect();
    assert_eq!(seen, expected);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn bad_list_parameters_are_refused(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let invalid = StatusCode::UNPROCESSABLE_ENTITY;
    for (query, expected_status, expected) in [
        ("limit=0", invalid, "invalid_limit"),
        ("limit=5000", invalid, "invalid_limit"),
        ("cursor=abc", invalid, "invalid_cursor"),
        ("cursor=p12x", invalid, "invalid_cursor"),
        ("tag=a%3Db", invalid, "invalid_tag"),
        ("valued_tag=nokey", invalid, "invalid_valued_tag_key"),
        ("valued_tag=plan=gold&valued_tag=plan=silver", invalid, "conflicting_filter"),
        ("limit=ten", StatusCode::BAD_REQUEST, "invalid_query"),
    ] {
        let (status, body) = app.get(&format!("/v1/contacts?{query}")).await;
        assert_eq!(status, expected_status, "{query}: {body}");
        assert_eq!(code(&body), expected, "{query}");
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn tags_and_valued_tags_can_be_added_and_removed(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let id = seed(&app, 1).await[0];
    let (status, c) =
        app.post(&format!("/v1/contacts/{id}/tags"), json!({"tags": ["Gold", "gold", "Spring Sale"]})).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["tags"], json!(["even", "gold", "spring sale"]));

    let (status, c) = app.delete(&format!("/v1/contacts/{id}/tags/Spring%20Sale")).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["tags"], json!(["even", "gold"]));

    let (status, c) = app.put(&format!("/v1/contacts/{id}/valued-tags/Customer_Id"), json!({"value": "C-77"})).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["valued_tags"], json!({"customer_id": "C-77"}));

    let (status, c) = app.delete(&format!("/v1/contacts/{id}/valued-tags/customer_id")).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["valued_tags"], json!({}));

    let (status, body) = app.post(&format!("/v1/contacts/{id}/tags"), json!({"tags": ["=bad"]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&body), "invalid_tag");
    let (status, body) = app.put(&format!("/v1/contacts/{id}/valued-tags/bad-key"), json!({"value": "x"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&body), "invalid_valued_tag_key");
    let (status, _) = app.post("/v1/contacts/999999/tags", json!({"tags": ["x"]})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn inbox_cases_open_once_show_on_the_contact_and_close(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let id = seed(&app, 1).await[0];
    let (status, case) = app.post(&format!("/v1/contacts/{id}/inbox-case"), json!({"note": "billing question"})).await;
    assert_eq!(status, StatusCode::OK, "{case}");
    let (_, again) = app.post(&format!("/v1/contacts/{id}/inbox-case"), json!({})).await;
    assert_eq!(again["id"], case["id"], "opening an open case returns it");
    assert_eq!(again["note"], "billing question");

    let (_, contact) = app.get(&format!("/v1/contacts/{id}")).await;
    assert_eq!(contact["inbox_case_opened_at"], case["opened_at"]);

    let (status, closed) = app.delete(&format!("/v1/contacts/{id}/inbox-case")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(closed["closed_at"].is_string());
    let (status, body) = app.delete(&format!("/v1/contacts/{id}/inbox-case")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, contact) = app.get(&format!("/v1/contacts/{id}")).await;
    assert_eq!(contact["inbox_case_opened_at"], Value::Null);

    // Opening without a body works too; a body of the wrong shape is named.
    let (status, _) = e2e::send(app.req(reqwest::Method::POST, &format!("/v1/contacts/{id}/inbox-case"))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.post(&format!("/v1/contacts/{id}/inbox-case"), json!({"note": 5})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(code(&body), "invalid_body");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn concurrent_opens_of_an_inbox_case_all_get_the_same_case(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let id = seed(&app, 1).await[0];
    let path = format!("/v1/contacts/{id}/inbox-case");
    let opens = (0..10).map(|_| app.post(&path, json!({"note": "n"})));
    let results = futures::future::join_all(opens).await;
    let ids: std::collections::BTreeSet<i64> = results
        .iter()
        .map(|(status, case)| {
            assert_eq!(*status, StatusCode::OK, "{case}");
            case["id"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(ids.len(), 1, "one open case, whoever wins the race");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn tag_limits_hold_after_merging(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let id = seed(&app, 1).await[0];
    let tags: Vec<String> = (0..99).map(|i| format!("t{i}")).collect();
    let (status, _) = app.post(&format!("/v1/contacts/{id}/tags"), json!({ "tags": tags })).await;
    assert_eq!(status, StatusCode::OK, "99 + the seeded tag = 100 is allowed");
    let (status, body) = app.post(&format!("/v1/contacts/{id}/tags"), json!({"tags": ["one-too-many"]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(code(&body), "too_many_tags");
    let (_, contact) = app.get(&format!("/v1/contacts/{id}")).await;
    assert_eq!(contact["tags"].as_array().unwrap().len(), 100, "the refused change wrote nothing");

    let valued: serde_json::Map<String, Value> = (0..50).map(|i| (format!("k{i}"), json!("v"))).collect();
    let (status, body) =
        app.post("/v1/contacts/bulk", json!({"contacts": [{"phone": "+34610000000", "valued_tags": valued}]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.put(&format!("/v1/contacts/{id}/valued-tags/k50"), json!({"value": "x"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(code(&body), "too_many_valued_tags");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn deleting_a_contact_removes_it(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let id = seed(&app, 1).await[0];
    assert_eq!(app.delete(&format!("/v1/contacts/{id}")).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/v1/contacts/{id}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.delete(&format!("/v1/contacts/{id}")).await.0, StatusCode::NOT_FOUND);
    let (status, body) = app.get("/v1/contacts/not-a-number").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "invalid_path");
}
