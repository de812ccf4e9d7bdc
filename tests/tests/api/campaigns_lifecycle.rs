//! Launch now, schedule, cancel, finish, delete.

use chrono::{Duration, Utc};
use e2e::{
    StatusCode, TestApp,
    campaigns::{png, problem_codes},
    code,
};
use serde_json::json;
use sqlx::PgPool;

async fn outbox(app: &TestApp) -> Vec<(String, String, serde_json::Value)> {
    sqlx::query_as("select queue, dedupe_key, payload from job_outbox order by id").fetch_all(&app.pg).await.unwrap()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn launching_makes_the_campaign_active_and_records_the_launch_exactly_once(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    let c = app.ready_campaign(&setup, "Spring sale", json!({})).await;
    let id = c["id"].as_i64().unwrap();

    // Five launches at once: one wins, the others are told it already happened.
    let path = format!("/v1/campaigns/{id}/launch");
    let results = futures::future::join_all((0..5).map(|_| app.post(&path, json!({})))).await;
    let ok: Vec<_> = results.iter().filter(|(s, _)| *s == StatusCode::OK).collect();
    assert_eq!(ok.len(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter(|(s, _)| *s != StatusCode::OK)
            .all(|(s, b)| *s == StatusCode::CONFLICT && code(b) == "already_launched")
    );
    let active = &ok[0].1;
    assert_eq!(active["state"], "active");
    assert_eq!(active["pace_per_second"], 20.0, "launch now defaults to 20 contacts/s");
    assert!(active["launched_at"].is_string());

    // The launch is in Postgres, in the same transaction: Redis is not involved.
    assert_eq!(outbox(&app).await, vec![("launch".to_owned(), format!("launch:{id}"), json!({"campaign_id": id}))]);

    // Active campaigns cannot change or be deleted, or be scheduled.
    let (status, err) = app.patch(&format!("/v1/campaigns/{id}"), json!({"name": "renamed"})).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "campaign_immutable"));
    assert!(err["error"]["message"].as_str().unwrap().contains("active"), "{err}");
    let (status, err) = app.delete(&format!("/v1/campaigns/{id}")).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "campaign_active"));
    let at = (Utc::now() + Duration::hours(1)).to_rfc3339();
    let (status, err) =
        app.post(&format!("/v1/campaigns/{id}/schedule"), json!({"at": at, "contacts_per_hour": 100})).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "already_launched"));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_draft_cannot_launch_or_be_scheduled_and_says_why(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (_, draft) = app.post("/v1/campaigns", json!({"name": "incomplete"})).await;
    let id = draft["id"].as_i64().unwrap();
    let (status, err) = app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "campaign_not_ready"));
    assert_eq!(problem_codes(&err), ["number_required", "audience_required", "bot_flow_required", "template_required"]);
    let at = (Utc::now() + Duration::hours(1)).to_rfc3339();
    let (status, err) =
        app.post(&format!("/v1/campaigns/{id}/schedule"), json!({"at": at, "contacts_per_hour": 100})).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "campaign_not_ready"));
    assert!(outbox(&app).await.is_empty());
    let (status, err) = app.post(&format!("/v1/campaigns/{id}/finish"), json!({})).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "campaign_not_active"));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_launch_can_choose_its_pace_within_bounds(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    let c = app.ready_campaign(&setup, "slow", json!({"pace_per_second": 5})).await;
    for bad in [json!({"pace_per_second": 0}), json!({"pace_per_second": -3}), json!({"pace_per_second": 1e6})] {
        let (status, err) = app.post(&format!("/v1/campaigns/{}/launch", c["id"]), bad).await;
        assert_eq!((status, code(&err)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_pace"));
    }
    // Without a body the campaign's own pace applies.
    let (status, active) =
        e2e::send(app.req(reqwest::Method::POST, &format!("/v1/campaigns/{}/launch", c["id"]))).await;
    assert_eq!(status, StatusCode::OK, "{active}");
    assert_eq!(active["pace_per_second"], 5.0);

    let other = app.ready_campaign(&setup, "fast", json!({})).await;
    let (_, active) = app.post(&format!("/v1/campaigns/{}/launch", other["id"]), json!({"pace_per_second": 50})).await;
    assert_eq!(active["pace_per_second"], 50.0);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_schedule_can_be_set_moved_and_cancelled_back_to_ready(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    let c = app.ready_campaign(&setup, "weekend", json!({})).await;
    let path = format!("/v1/campaigns/{}/schedule", c["id"]);
    let past = (Utc::now() - Duration::minutes(1)).to_rfc3339();
    let soon = (Utc::now() + Duration::hours(2)).to_rfc3339();
    for (body, expected, field) in [
        (json!({"at": past, "contacts_per_hour": 100}), "schedule_in_past", "at"),
        (
            json!({"at": (Utc::now() + Duration::days(400)).to_rfc3339(), "contacts_per_hour": 100}),
            "schedule_too_far",
            "at",
        ),
        (json!({"at": soon, "contacts_per_hour": 0}), "invalid_pace", "contacts_per_hour"),
        (json!({"at": soon, "contacts_per_hour": 10_000_000}), "invalid_pace", "contacts_per_hour"),
    ] {
        let (status, err) = app.post(&path, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!((code(&err), err["error"]["field"].as_str()), (expected, Some(field)), "{body}");
    }
    let (status, err) = app.post(&path, json!({"at": "tomorrow", "contacts_per_hour": 5})).await;
    assert_eq!((status, code(&err)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"));

    let (status, scheduled) = app.post(&path, json!({"at": soon, "contacts_per_hour": 600})).await;
    assert_eq!(status, StatusCode::OK, "{scheduled}");
    assert_eq!(scheduled["state"], "scheduled");
    assert_eq!(scheduled["schedule"]["contacts_per_hour"], 600);
    // Scheduled campaigns are not edited; they are rescheduled or cancelled.
    let (status, err) = app.patch(&format!("/v1/campaigns/{}", c["id"]), json!({"name": "x"})).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "campaign_scheduled"));
    let (status, err) = app.post(&format!("/v1/campaigns/{}/launch", c["id"]), json!({})).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "campaign_scheduled"));

    let later = Utc::now() + Duration::days(3);
    let (_, moved) = app.post(&path, json!({"at": later.to_rfc3339(), "contacts_per_hour": 60})).await;
    assert_eq!(moved["schedule"]["contacts_per_hour"], 60);
    let at: chrono::DateTime<Utc> = moved["schedule"]["at"].as_str().unwrap().parse().unwrap();
    assert!((at - later).num_milliseconds().abs() < 1, "{moved}");

    let (status, ready) = app.delete(&path).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!((ready["state"].as_str(), &ready["schedule"]), (Some("ready"), &json!(null)));
    let (status, err) = app.delete(&path).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "not_scheduled"));
    assert!(outbox(&app).await.is_empty(), "scheduling launches nothing by itself");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn finishing_releases_the_contacts_and_stops_what_was_not_sent(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    let ids = app
        .contacts(json!([
            {"phone": "+34612345601", "name": "Ana", "tags": ["vip"], "valued_tags": {"order_id": "A1"}},
            {"phone": "+34612345602", "name": "Luis", "tags": ["vip"], "valued_tags": {"order_id": "A2"}}
        ]))
        .await;
    let first = app.ready_campaign(&setup, "first", json!({})).await;
    let first_id = first["id"].as_i64().unwrap();
    assert_eq!(app.post(&format!("/v1/campaigns/{first_id}/launch"), json!({})).await.0, StatusCode::OK);
    // As the launch job would have planned it: both engaged, one sent, one still queued.
    for (contact, state) in [(ids[0], "sent"), (ids[1], "queued")] {
        app.engage(contact, first_id).await;
        sqlx::query(
            "insert into recipients (campaign_id, contact_id, org_id, phone, state) values ($1, $2, $3, 'x', $4)",
        )
        .bind(first_id)
        .bind(contact)
        .bind(app.org.0)
        .bind(state)
        .execute(&app.pg)
        .await
        .unwrap();
    }
    let second = app.ready_campaign(&setup, "second", json!({})).await;
    let forecast = app.get(&format!("/v1/campaigns/{}/forecast", second["id"])).await.1;
    assert_eq!(forecast["will_send"], 0, "both are engaged by the first campaign: {forecast}");

    let (status, finished) = app.post(&format!("/v1/campaigns/{first_id}/finish"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{finished}");
    assert_eq!(finished["state"], "finished");
    assert!(finished["finished_at"].is_string());
    let states: Vec<(String, Option<String>)> =
        sqlx::query_as("select state, reason_code from recipients where campaign_id = $1 order by contact_id")
            .bind(first_id)
            .fetch_all(&app.pg)
            .await
            .unwrap();
    assert_eq!(states, [("sent".into(), None), ("excluded".into(), Some("campaign_finished".into()))]);
    let forecast = app.get(&format!("/v1/campaigns/{}/forecast", second["id"])).await.1;
    assert_eq!(forecast["will_send"], 2, "finishing released both contacts: {forecast}");

    // Finishing again is harmless; a finished campaign can be deleted.
    let (status, again) = app.post(&format!("/v1/campaigns/{first_id}/finish"), json!({})).await;
    assert_eq!((status, again["state"].as_str()), (StatusCode::OK, Some("finished")));
    let (status, err) = app.patch(&format!("/v1/campaigns/{first_id}"), json!({"name": "x"})).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "campaign_immutable"));
    assert_eq!(app.delete(&format!("/v1/campaigns/{first_id}")).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/v1/campaigns/{first_id}")).await.0, StatusCode::NOT_FOUND);
    let left: i64 = sqlx::query_scalar("select count(*) from recipients").fetch_one(&app.pg).await.unwrap();
    assert_eq!(left, 0, "the ledger goes with the campaign");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn draft_ready_and_scheduled_campaigns_can_be_deleted(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    let (_, draft) = app.post("/v1/campaigns", json!({"name": "draft"})).await;
    let ready = app.ready_campaign(&setup, "ready", json!({})).await;
    let scheduled = app.ready_campaign(&setup, "scheduled", json!({})).await;
    let at = (Utc::now() + Duration::hours(1)).to_rfc3339();
    let (status, body) = app
        .post(&format!("/v1/campaigns/{}/schedule", scheduled["id"]), json!({"at": at, "contacts_per_hour": 60}))
        .await;
    assert_eq!((status, body["state"].as_str()), (StatusCode::OK, Some("scheduled")), "{body}");
    for c in [draft, ready, scheduled] {
        assert_eq!(app.delete(&format!("/v1/campaigns/{}", c["id"])).await.0, StatusCode::NO_CONTENT);
    }
    assert_eq!(app.get("/v1/campaigns").await.1["data"], json!([]));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn launching_uploads_header_media_again_when_its_meta_id_is_about_to_expire(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    let image = app.upload_media(setup.number_id, "image/png", &png()).await;
    let template_id = app.template_id("promo_image", "en_US").await;
    let c = app
        .ready_campaign(
            &setup,
            "image promo",
            json!({"template_id": template_id, "header_media_id": image,
                   "bindings": [{"param": "1", "kind": "contact_name"}]}),
        )
        .await;
    assert_eq!(c["state"], "ready", "{c}");
    // Uploaded 28 days ago: Meta forgets the id in two days.
    let (old_id,): (String,) = sqlx::query_as(
        "update media_assets set meta_uploaded_at = now() - interval '28 days', meta_expires_at = now() + interval '2 days'
         where id = $1 returning meta_media_id",
    )
    .bind(image)
    .fetch_one(&app.pg)
    .await
    .unwrap();
    let (status, active) = app.post(&format!("/v1/campaigns/{}/launch", c["id"]), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{active}");
    let (new_id, expires): (String, chrono::DateTime<Utc>) =
        sqlx::query_as("select meta_media_id, meta_expires_at from media_assets where id = $1")
            .bind(image)
            .fetch_one(&app.pg)
            .await
            .unwrap();
    assert_ne!(new_id, old_id, "a fresh Meta media id");
    assert!(expires > Utc::now() + Duration::days(29), "valid for 30 days again: {expires}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn another_organization_can_neither_forecast_launch_schedule_nor_finish_a_campaign(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    let c = app.ready_campaign(&setup, "mine", json!({})).await;
    let (_, other_key) = app.other_org().await;
    let at = (Utc::now() + Duration::hours(1)).to_rfc3339();
    for (method, action, body) in [
        (reqwest::Method::GET, "forecast", json!(null)),
        (reqwest::Method::POST, "launch", json!({})),
        (reqwest::Method::POST, "schedule", json!({"at": at, "contacts_per_hour": 60})),
        (reqwest::Method::DELETE, "schedule", json!(null)),
        (reqwest::Method::POST, "finish", json!({})),
    ] {
        let mut req = app
            .http
            .request(method.clone(), app.url(&format!("/v1/campaigns/{}/{action}", c["id"])))
            .bearer_auth(&other_key);
        if !body.is_null() {
            req = req.json(&body);
        }
        let (status, err) = e2e::send(req).await;
        assert_eq!((status, code(&err)), (StatusCode::NOT_FOUND, "not_found"), "{method} {action}: {err}");
    }
    let (_, still) = app.get(&format!("/v1/campaigns/{}", c["id"])).await;
    assert_eq!(still["state"], "ready");
    assert!(outbox(&app).await.is_empty());
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_campaign_is_cloned_into_a_draft_with_its_settings_and_none_of_its_history(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    app.contacts(
        json!([{"phone": "+34612900001", "name": "Ana", "tags": ["vip"], "valued_tags": {"order_id": "A-1"}}]),
    )
    .await;
    let original = app.ready_campaign(&setup, "Spring", json!({"pace_per_second": 7})).await;
    let id = original["id"].as_i64().unwrap();
    assert_eq!(app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await.0, StatusCode::OK);
    let (status, copy) = app.post(&format!("/v1/campaigns/{id}/clone"), json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{copy}");
    assert_ne!(copy["id"], original["id"]);
    assert_eq!(copy["name"], "Copy of Spring");
    assert_eq!(copy["state"], "ready", "{copy}");
    for field in ["number_id", "audience", "template_id", "bindings", "bot_flow_id", "pace_per_second", "kind"] {
        assert_eq!(copy[field], original[field], "{field}");
    }
    let (status, named) = app.post(&format!("/v1/campaigns/{id}/clone"), json!({"name": "Autumn"})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(named["name"], "Autumn");
    let (status, body) = app.post(&format!("/v1/campaigns/{id}/clone"), json!({"name": "  "})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e2e::code(&body), "invalid_name");
    let (status, _) = app.post("/v1/campaigns/999999/clone", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_operator_pauses_an_active_campaign_with_a_reason_and_resumes_it(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    app.contacts(
        json!([{"phone": "+34612345601", "name": "Ana", "tags": ["vip"], "valued_tags": {"order_id": "A-1"}}]),
    )
    .await;
    let id = app.ready_campaign(&setup, "Spring", json!({})).await["id"].as_i64().unwrap();
    let pause = format!("/v1/campaigns/{id}/pause");
    let (status, err) = app.post(&pause, json!({})).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "not_active"), "a Ready campaign: {err}");
    assert_eq!(app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await.0, StatusCode::OK);
    let (status, err) = app.post(&pause, json!({"reason": "two\nlines"})).await;
    assert_eq!((status, code(&err)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_text"), "{err}");
    let (status, paused) = app.post(&pause, json!({"reason": "the support team is at lunch"})).await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert!(paused["paused_at"].is_string(), "{paused}");
    assert_eq!(
        (paused["pause_code"].as_str(), paused["pause_reason"].as_str()),
        (Some("operator"), Some("the support team is at lunch"))
    );
    let (status, err) = app.post(&pause, json!({})).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "already_paused"), "{err}");
    let (status, resumed) = app.post(&format!("/v1/campaigns/{id}/resume"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert!(resumed["paused_at"].is_null() && resumed["pause_reason"].is_null(), "{resumed}");
    let resp = app.req(reqwest::Method::POST, &pause).send().await.unwrap();
    let status = resp.status();
    let paused: serde_json::Value = resp.json().await.unwrap();
    assert_eq!((status, paused["pause_reason"].as_str()), (StatusCode::OK, Some("paused by an operator")), "{paused}");
}
