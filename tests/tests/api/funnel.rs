use chrono::{DateTime, Duration, Utc};
use e2e::{StatusCode, TestApp, code};
use serde_json::{Value, json};
use sqlx::PgPool;

/// A campaign with three contacts: the first two are recipients (sent to),
/// the third was excluded. Returns the campaign id and the contact ids.
async fn campaign_with_recipients(app: &TestApp) -> (i64, Vec<i64>) {
    let setup = app.campaign_setup().await;
    let campaign = app.ready_campaign(&setup, "Spring sale", json!({})).await;
    let id = campaign["id"].as_i64().unwrap();
    let contacts = app
        .contacts(json!([
            {"phone": "+34612345601", "name": "Ana", "tags": ["vip"], "valued_tags": {"order_id": "A-1"}},
            {"phone": "+34612345602", "name": "Bea", "tags": ["vip"], "valued_tags": {"order_id": "A-2"}},
            {"phone": "+34612345603", "name": "Carla", "tags": ["vip"]},
            {"phone": "+34612345604", "name": "Dora"},
        ]))
        .await;
    // As planning and sending would have left the ledger.
    for (contact, phone, state) in [
        (contacts[0], "+34612345601", "sent"),
        (contacts[1], "+34612345602", "read"),
        (contacts[2], "+34612345603", "excluded"),
    ] {
        sqlx::query(
            "insert into recipients (campaign_id, contact_id, org_id, phone, state) values ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(contact)
        .bind(app.org.0)
        .bind(phone)
        .bind(state)
        .execute(&app.pg)
        .await
        .unwrap();
    }
    (id, contacts)
}

async fn record(app: &TestApp, campaign: i64, body: Value) -> (StatusCode, Value) {
    app.post(&format!("/v1/campaigns/{campaign}/funnel-steps"), body).await
}

fn at(body: &Value) -> DateTime<Utc> {
    body["reached_at"].as_str().unwrap().parse().unwrap()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_funnel_step_is_recorded_once_and_the_first_time_stays(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, contacts) = campaign_with_recipients(&app).await;
    let first = "2026-11-20T10:15:00Z".parse::<DateTime<Utc>>().unwrap();
    let (status, recorded) =
        record(&app, campaign, json!({"contact_id": contacts[0], "step": "  asked_price ", "reached_at": first})).await;
    assert_eq!(status, StatusCode::CREATED, "{recorded}");
    assert_eq!(
        (recorded["campaign_id"].as_i64(), recorded["contact_id"].as_i64(), recorded["step"].as_str()),
        (Some(campaign), Some(contacts[0]), Some("asked_price")),
        "trimmed"
    );
    assert_eq!(at(&recorded), first);

    let later = first + Duration::hours(1);
    let (status, again) =
        record(&app, campaign, json!({"contact_id": contacts[0], "step": "asked_price", "reached_at": later})).await;
    assert_eq!(status, StatusCode::OK, "already recorded: {again}");
    assert_eq!(at(&again), first, "the first time stays");
    let rows: i64 = sqlx::query_scalar("select count(*) from funnel_steps").fetch_one(&app.pg).await.unwrap();
    assert_eq!(rows, 1);

    // Without reached_at: now.
    let before = Utc::now();
    let (status, now) = record(&app, campaign, json!({"contact_id": contacts[0], "step": "bought"})).await;
    assert_eq!(status, StatusCode::CREATED, "{now}");
    assert!(at(&now) >= before - Duration::seconds(1) && at(&now) <= Utc::now() + Duration::seconds(1), "{now}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_step_can_be_recorded_by_the_contacts_phone(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, contacts) = campaign_with_recipients(&app).await;
    let (status, recorded) = record(&app, campaign, json!({"phone": "+34 612 34 56 02", "step": "opened"})).await;
    assert_eq!(status, StatusCode::CREATED, "{recorded}");
    assert_eq!(recorded["contact_id"].as_i64(), Some(contacts[1]), "normalised like contacts are");
    let (status, again) = record(&app, campaign, json!({"phone": "0034612345602", "step": "opened"})).await;
    assert_eq!((status, again["contact_id"].as_i64()), (StatusCode::OK, Some(contacts[1])));

    let (status, body) = record(&app, campaign, json!({"phone": "+34612345699", "step": "opened"})).await;
    assert_eq!(
        (status, code(&body), body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "not_a_recipient", Some("phone"))
    );
    let (status, body) = record(&app, campaign, json!({"phone": "612345602", "step": "opened"})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("phone")), "{body}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn only_recipients_of_the_campaign_reach_its_funnel(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, contacts) = campaign_with_recipients(&app).await;
    for (contact, why) in
        [(contacts[2], "excluded"), (contacts[3], "not in the audience"), (i64::MAX, "no such contact")]
    {
        let (status, body) = record(&app, campaign, json!({"contact_id": contact, "step": "opened"})).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "not_a_recipient"), "{why}: {body}");
    }
    let (status, body) = record(&app, campaign + 1000, json!({"contact_id": contacts[0], "step": "opened"})).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));

    // Another organization sees neither the campaign nor its funnel.
    let (_, other_key) = app.other_org().await;
    let path = format!("/v1/campaigns/{campaign}/funnel-steps");
    let req =
        app.http.post(app.url(&path)).bearer_auth(&other_key).json(&json!({"contact_id": contacts[0], "step": "x"}));
    assert_eq!(e2e::send(req).await.0, StatusCode::NOT_FOUND);
    let req = app.http.get(app.url(&format!("/v1/campaigns/{campaign}/funnel"))).bearer_auth(&other_key);
    assert_eq!(e2e::send(req).await.0, StatusCode::NOT_FOUND);
    let rows: i64 = sqlx::query_scalar("select count(*) from funnel_steps").fetch_one(&app.pg).await.unwrap();
    assert_eq!(rows, 0);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn invalid_funnel_steps_are_refused_with_the_field_named(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, contacts) = campaign_with_recipients(&app).await;
    let soon = Utc::now() + Duration::minutes(10);
    let contact = contacts[0];
    for (body, expected, field) in [
        (json!({"contact_id": contact, "step": "   "}), "invalid_step", "step"),
        (json!({"contact_id": contact, "step": "x".repeat(101)}), "invalid_step", "step"),
        (json!({"contact_id": contact, "step": "a", "reached_at": soon}), "reached_at_in_future", "reached_at"),
        (json!({"contact_id": contact, "phone": "+34612345601", "step": "a"}), "ambiguous_contact", "contact_id"),
        (json!({"step": "a"}), "missing_contact", "contact_id"),
    ] {
        let (status, answer) = record(&app, campaign, body.clone()).await;
        assert_eq!(
            (status, code(&answer), answer["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, expected, Some(field)),
            "{body}: {answer}"
        );
    }
    let (status, answer) =
        record(&app, campaign, json!({"contact_id": contact, "step": "a", "reached_at": "yesterday"})).await;
    assert_eq!((status, code(&answer)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"), "{answer}");
    let (status, _) = record(&app, campaign, json!({"contact_id": contact, "step": "x".repeat(100)})).await;
    assert_eq!(status, StatusCode::CREATED, "100 characters are fine");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_funnel_counts_contacts_per_step_most_reached_first(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, contacts) = campaign_with_recipients(&app).await;
    let (_, empty) = app.get(&format!("/v1/campaigns/{campaign}/funnel")).await;
    assert_eq!(empty, json!({"campaign_id": campaign, "steps": []}));

    let t0 = "2026-11-20T10:00:00Z".parse::<DateTime<Utc>>().unwrap();
    for (contact, step, minutes) in [
        (contacts[0], "opened", 0),
        (contacts[1], "opened", 5),
        (contacts[0], "asked_price", 10),
        (contacts[1], "asked_price", 30),
        (contacts[1], "bought", 40),
    ] {
        let reached_at = t0 + Duration::minutes(minutes);
        let (status, body) =
            record(&app, campaign, json!({"contact_id": contact, "step": step, "reached_at": reached_at})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, funnel) = app.get(&format!("/v1/campaigns/{campaign}/funnel")).await;
    assert_eq!(status, StatusCode::OK, "{funnel}");
    let steps: Vec<(&str, i64, DateTime<Utc>, DateTime<Utc>)> = funnel["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap(),
                s["contacts"].as_i64().unwrap(),
                s["first_reached_at"].as_str().unwrap().parse().unwrap(),
                s["last_reached_at"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    let m = |minutes| t0 + Duration::minutes(minutes);
    assert_eq!(steps, [("opened", 2, m(0), m(5)), ("asked_price", 2, m(10), m(30)), ("bought", 1, m(40), m(40))]);
    assert_eq!(app.get(&format!("/v1/campaigns/{}/funnel", campaign + 1000)).await.0, StatusCode::NOT_FOUND);
}
