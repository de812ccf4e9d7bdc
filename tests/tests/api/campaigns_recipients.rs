//! `GET /v1/campaigns/{id}/recipients`: each contact's outcome and readable
//! reason, filtered by outcome, reason and phone, a page at a time.

use e2e::{StatusCode, TestApp, code};
use serde_json::json;
use sqlx::PgPool;
use store::campaigns::{PlanOutcome, plan};

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn recipients_are_listed_with_their_outcome_and_reason_and_filtered(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    app.contacts(json!([
        {"phone": "+34612800001", "name": "Ana", "tags": ["vip"], "valued_tags": {"order_id": "A-1"}},
        {"phone": "+34612800002", "name": "Rui", "tags": ["vip"], "valued_tags": {"order_id": "A-2"}},
        {"phone": "+34612800003", "name": "Leo", "tags": ["vip"]},
    ]))
    .await;
    let id = app.ready_campaign(&setup, "Spring", json!({})).await["id"].as_i64().unwrap();
    let (status, body) = app.get(&format!("/v1/campaigns/{id}/recipients")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], json!([]), "nothing planned before the launch");
    assert_eq!(app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await.0, StatusCode::OK);
    let mut tx = app.pg.begin().await.unwrap();
    assert!(matches!(plan(&mut tx, id).await.unwrap(), PlanOutcome::Planned(_)));
    tx.commit().await.unwrap();

    let (_, all) = app.get(&format!("/v1/campaigns/{id}/recipients")).await;
    let phones: Vec<&str> = all["data"].as_array().unwrap().iter().map(|r| r["phone"].as_str().unwrap()).collect();
    assert_eq!(phones, ["+34612800001", "+34612800002", "+34612800003"]);
    let (_, not_sent) = app.get(&format!("/v1/campaigns/{id}/recipients?outcome=not_sent")).await;
    assert_eq!(not_sent["data"].as_array().unwrap().len(), 1, "{not_sent}");
    let leo = &not_sent["data"][0];
    assert_eq!((leo["phone"].as_str(), leo["outcome"].as_str()), (Some("+34612800003"), Some("not_sent")));
    assert_eq!(leo["reason_code"], "missing_valued_tag");
    assert_eq!(leo["reason"], "the contact lacks a valued tag the template needs");
    let (_, by_reason) = app.get(&format!("/v1/campaigns/{id}/recipients?reason=missing_valued_tag")).await;
    assert_eq!(by_reason["data"].as_array().unwrap().len(), 1);
    let (_, by_phone) = app.get(&format!("/v1/campaigns/{id}/recipients?q=800002")).await;
    assert_eq!(by_phone["data"][0]["name"], "Rui");
    // Pages of one, in contact order, to the end.
    let (_, first) = app.get(&format!("/v1/campaigns/{id}/recipients?limit=2")).await;
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let (_, second) = app.get(&format!("/v1/campaigns/{id}/recipients?limit=2&cursor={cursor}")).await;
    assert_eq!(second["data"][0]["phone"], "+34612800003");
    assert!(second.get("next_cursor").is_none(), "{second}");
    // Bad filters are named.
    for (query, expected) in [
        ("outcome=lost", "invalid_outcome"),
        ("limit=0", "invalid_limit"),
        ("cursor=zz", "invalid_cursor"),
        ("q=abc", "invalid_phone_query"),
    ] {
        let (status, body) = app.get(&format!("/v1/campaigns/{id}/recipients?{query}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(code(&body), expected, "{query}");
    }
    let (status, _) = app.get("/v1/campaigns/999999/recipients").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
