//! Test campaigns: test phones must be contacts; same rules as real ones.

use e2e::{StatusCode, TestApp, campaigns::problem_codes, code};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn test_phones_must_already_be_contacts_and_the_error_names_the_missing_ones(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    app.contacts(json!([{"phone": "+34612345601", "name": "Ana"}, {"phone": "+34612345602", "name": "Luis"}])).await;
    let template_id = app.template_id("order_update", "en_US").await;
    let base = json!({
        "name": "pilot", "kind": "test", "number_id": setup.number_id, "template_id": template_id,
        "bot_flow_id": setup.bot_flow_id,
        "bindings": [{"param": "1", "kind": "contact_name"}, {"param": "2", "kind": "text", "value": "T-1"}],
    });

    let mut body = base.clone();
    body["test_phones"] = json!(["+34 612 34 56 01", "+34612345699", "+34612345698"]);
    let (status, err) = app.post("/v1/campaigns", body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!((code(&err), err["error"]["field"].as_str()), ("unknown_test_phones", Some("test_phones")));
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.contains("+34612345699") && message.contains("+34612345698"), "{message}");
    assert!(!message.contains("+34612345601"), "existing contacts are not named: {message}");

    let mut body = base.clone();
    body["test_phones"] = json!(["notaphone"]);
    let (_, err) = app.post("/v1/campaigns", body).await;
    assert_eq!((code(&err), err["error"]["field"].as_str()), ("invalid_phone", Some("test_phones[0]")));

    let (status, draft) = app.post("/v1/campaigns", base.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(problem_codes(&draft), ["test_phones_required"]);
    assert!(draft.get("audience").is_none(), "a test campaign has no audience: {draft}");

    let mut body = base.clone();
    body["test_phones"] = json!(["+34612345602", "0034612345601"]);
    let (status, ready) = app.post("/v1/campaigns", body).await;
    assert_eq!(status, StatusCode::CREATED, "{ready}");
    assert_eq!(ready["state"], "ready", "{ready}");
    assert_eq!(ready["test_phones"], json!(["+34612345601", "+34612345602"]));

    let (_, err) = app.patch(&format!("/v1/campaigns/{}", ready["id"]), json!({"audience": {"tags": ["vip"]}})).await;
    assert_eq!(code(&err), "audience_not_for_test");
    let too_many: Vec<String> = (0..51).map(|i| format!("+346123457{i:02}")).collect();
    let (_, err) = app.patch(&format!("/v1/campaigns/{}", ready["id"]), json!({"test_phones": too_many})).await;
    assert_eq!(code(&err), "too_many_test_phones");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_test_number_engaged_in_an_active_campaign_is_excluded_like_in_a_real_one(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    let ids = app
        .contacts(json!([
            {"phone": "+34612345601", "name": "Ana", "tags": ["vip"], "valued_tags": {"order_id": "A1"}},
            {"phone": "+34612345602", "name": "Luis", "tags": ["vip"], "valued_tags": {"order_id": "A2"}}
        ]))
        .await;
    let real = app.ready_campaign(&setup, "Spring sale", json!({})).await;
    let (status, _) = app.post(&format!("/v1/campaigns/{}/launch", real["id"]), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    // The launch job (a worker) takes the engagements when it plans; here, as it would.
    app.engage(ids[0], real["id"].as_i64().unwrap()).await;

    let template_id = app.template_id("order_update", "en_US").await;
    let (_, pilot) = app
        .post(
            "/v1/campaigns",
            json!({
                "name": "pilot", "kind": "test", "number_id": setup.number_id, "template_id": template_id,
                "bot_flow_id": setup.bot_flow_id, "test_phones": ["+34612345601", "+34612345602"],
                "bindings": [{"param": "1", "kind": "contact_name"}, {"param": "2", "kind": "valued_tag", "key": "order_id"}],
            }),
        )
        .await;
    let (status, forecast) = app.get(&format!("/v1/campaigns/{}/forecast", pilot["id"])).await;
    assert_eq!(status, StatusCode::OK, "{forecast}");
    assert_eq!((forecast["audience"].as_i64(), forecast["will_send"].as_i64()), (Some(2), Some(1)));
    assert_eq!(forecast["exclusions"][0]["code"], "already_engaged");
    assert_eq!(forecast["exclusions"][0]["campaign"]["name"], "Spring sale");
    assert_eq!(forecast["exclusions"][0]["sample"][0]["phone"], "+34612345601");
}

async fn campaign_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from campaigns").fetch_one(&app.pg).await.unwrap()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn send_a_test_starts_a_test_campaign_of_the_same_message_and_leaves_nothing_when_refused(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    app.contacts(
        json!([{"phone": "+34612345601", "name": "Ana", "tags": ["vip"], "valued_tags": {"order_id": "A-1"}}]),
    )
    .await;
    let campaign = app.ready_campaign(&setup, "Spring", json!({})).await;
    let id = campaign["id"].as_i64().unwrap();
    let before = campaign_count(&app).await;

    // Refusals: no phones, a phone that is not a contact, a draft.
    let url = format!("/v1/campaigns/{id}/test-send");
    let (status, err) = app.post(&url, json!({"test_phones": []})).await;
    assert_eq!((status, code(&err)), (StatusCode::UNPROCESSABLE_ENTITY, "no_test_phones"), "{err}");
    let (status, err) = app.post(&url, json!({"test_phones": ["+34612345699"]})).await;
    assert_eq!((status, code(&err)), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_test_phones"), "{err}");
    let (_, draft) = app.post("/v1/campaigns", json!({"name": "Draft"})).await;
    let (status, err) =
        app.post(&format!("/v1/campaigns/{}/test-send", draft["id"]), json!({"test_phones": ["+34612345601"]})).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "campaign_not_ready"), "{err}");
    assert_eq!(campaign_count(&app).await, before + 1, "only the draft was created; refused tests left nothing");

    let (status, test) = app.post(&url, json!({"test_phones": ["+34 612 34 56 01"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{test}");
    assert_eq!(test["kind"], "test");
    assert_eq!(test["state"], "active", "{test}");
    assert_eq!(test["name"], "Test of Spring");
    assert_eq!(test["test_phones"], json!(["+34612345601"]));
    assert_eq!(test["template"]["id"], campaign["template"]["id"], "the same template");
    assert_eq!(test["bindings"], campaign["bindings"], "and the same bindings");
    let (_, tested) = app.get(&format!("/v1/campaigns/{id}")).await;
    assert_eq!(tested["state"], campaign["state"], "the campaign tested is unchanged");
}
