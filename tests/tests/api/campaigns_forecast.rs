//! The forecast: who would be sent to, one reason for everyone else,
//! counts, samples and the ETA.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use e2e::{StatusCode, TestApp, code};
use serde_json::{Value, json};
use sqlx::PgPool;

fn by_reason(forecast: &Value) -> BTreeMap<String, (i64, Vec<String>)> {
    forecast["exclusions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let label = match (e["key"].as_str(), e["campaign"]["name"].as_str()) {
                (Some(k), _) => format!("{}:{k}", e["code"].as_str().unwrap()),
                (_, Some(c)) => format!("{}:{c}", e["code"].as_str().unwrap()),
                _ => e["code"].as_str().unwrap().to_owned(),
            };
            let sample =
                e["sample"].as_array().unwrap().iter().map(|s| s["phone"].as_str().unwrap().to_owned()).collect();
            (label, (e["count"].as_i64().unwrap(), sample))
        })
        .collect()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn every_excluded_contact_gets_exactly_one_readable_reason(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    let contact = |n: u32, name: Option<&str>, order: Option<&str>| {
        let mut c = json!({"phone": format!("+346123456{n:02}"), "tags": ["vip"]});
        if let Some(name) = name {
            c["name"] = json!(name);
        }
        if let Some(order) = order {
            c["valued_tags"] = json!({"order_id": order});
        }
        c
    };
    let ids = app
        .contacts(json!([
            contact(1, Some("Ana"), Some("A1")),            // sent to
            contact(2, Some("Luis"), Some("A2")),           // sent to
            contact(3, Some("Eva"), None),                  // missing valued tag
            contact(4, Some("Rui"), Some("")),              // empty value
            contact(5, Some("Ivo"), Some("line\nbreak")),   // new-line
            contact(6, Some("Bea"), Some("tab\there")),     // tab
            contact(7, Some("Pau"), Some("a     b")),       // five spaces
            contact(8, None, Some("A8")),                   // no name for {{1}}
            contact(9, Some("Ona"), Some("A9")),            // opted out
            contact(10, Some("Leo"), Some("A10")),          // open inbox case
            contact(11, Some("Max"), Some("A11")),          // engaged elsewhere
            contact(12, Some("Lia"), Some("A12")),          // engaged elsewhere and opted out: opted out wins
            {"phone": "+34612345613", "name": "Nil", "tags": ["other"], "valued_tags": {"order_id": "A13"}}, // not in the audience
        ]))
        .await;
    let elsewhere = app.ready_campaign(&setup, "Black Friday", json!({"audience": {"tags": ["other"]}})).await;
    let elsewhere_id = elsewhere["id"].as_i64().unwrap();
    assert_eq!(app.post(&format!("/v1/campaigns/{elsewhere_id}/launch"), json!({})).await.0, StatusCode::OK);
    for i in [10, 11] {
        app.engage(ids[i], elsewhere_id).await;
    }
    for phone in ["+34612345609", "+34612345612"] {
        sqlx::query("insert into opt_outs (org_id, phone, source) values ($1, $2, 'user_reply')")
            .bind(app.org.0)
            .bind(phone)
            .execute(&app.pg)
            .await
            .unwrap();
    }
    assert_eq!(app.post(&format!("/v1/contacts/{}/inbox-case", ids[9]), json!({})).await.0.as_u16() / 100, 2);
    // A phone stored before today's validation rules (the API refuses it now).
    sqlx::query("insert into contacts (org_id, phone, name, tags, valued_tags) values ($1, '12345', 'Old', '{vip}', '{\"order_id\": \"Z\"}')")
        .bind(app.org.0)
        .execute(&app.pg)
        .await
        .unwrap();

    let c = app.ready_campaign(&setup, "Spring sale", json!({"pace_per_second": 2})).await;
    let (status, f) = app.get(&format!("/v1/campaigns/{}/forecast", c["id"])).await;
    assert_eq!(status, StatusCode::OK, "{f}");
    assert_eq!(
        (f["audience"].as_i64(), f["will_send"].as_i64(), f["excluded"].as_i64()),
        (Some(13), Some(2), Some(11))
    );
    let reasons = by_reason(&f);
    let expect = |label: &str, phones: &[&str]| {
        let (count, sample) = reasons.get(label).unwrap_or_else(|| panic!("no {label} in {reasons:?}"));
        assert_eq!(*count, phones.len() as i64, "{label}");
        assert_eq!(sample, phones, "{label}");
    };
    expect("missing_valued_tag:order_id", &["+34612345603"]);
    expect("invalid_param_value:order_id", &["+34612345604", "+34612345605", "+34612345606", "+34612345607"]);
    expect("missing_name", &["+34612345608"]);
    expect("opted_out", &["+34612345609", "+34612345612"]);
    expect("open_inbox_case", &["+34612345610"]);
    expect("already_engaged:Black Friday", &["+34612345611"]);
    expect("invalid_phone", &["12345"]);
    assert_eq!(reasons.len(), 7, "{reasons:?}");
    let engaged = f["exclusions"].as_array().unwrap().iter().find(|e| e["code"] == "already_engaged").unwrap();
    assert_eq!(
        engaged["reason"],
        format!("already engaged in the active campaign \"Black Friday\" (#{elsewhere_id})"),
        "the reason names the campaign"
    );
    let missing = f["exclusions"].as_array().unwrap().iter().find(|e| e["code"] == "missing_valued_tag").unwrap();
    assert!(missing["reason"].as_str().unwrap().contains("\"order_id\""), "{missing}");

    // Two contacts at 2/s: one second.
    assert_eq!(f["pace"], json!({"contacts_per_second": 2.0, "mode": "launch_now", "limited_by_number": false}));
    assert_eq!(f["eta_seconds"], 1);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_eta_follows_the_schedule_and_the_numbers_throughput(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    let contacts: Vec<Value> = (0..30)
        .map(|i| json!({"phone": format!("+346123457{i:02}"), "name": "N", "tags": ["vip"], "valued_tags": {"order_id": "1"}}))
        .collect();
    app.contacts(Value::Array(contacts)).await;
    let c = app.ready_campaign(&setup, "paced", json!({"pace_per_second": 500})).await;
    let (_, f) = app.get(&format!("/v1/campaigns/{}/forecast", c["id"])).await;
    assert_eq!(f["pace"], json!({"contacts_per_second": 80.0, "mode": "launch_now", "limited_by_number": true}));

    let at = Utc::now() + Duration::hours(5);
    let (status, scheduled) = app
        .post(&format!("/v1/campaigns/{}/schedule", c["id"]), json!({"at": at.to_rfc3339(), "contacts_per_hour": 60}))
        .await;
    assert_eq!(status, StatusCode::OK, "{scheduled}");
    let (status, f) = app.get(&format!("/v1/campaigns/{}/forecast", c["id"])).await;
    assert_eq!(status, StatusCode::OK, "{f}");
    assert_eq!(f["pace"]["mode"], "schedule");
    assert_eq!(f["eta_seconds"], 30 * 60, "30 contacts at 60/hour: {f}");
    let starts: chrono::DateTime<Utc> = f["starts_at"].as_str().unwrap().parse().unwrap();
    let ends: chrono::DateTime<Utc> = f["finishes_at"].as_str().unwrap().parse().unwrap();
    assert!((starts - at).num_milliseconds().abs() < 1 && ends - starts == Duration::minutes(30), "{f}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn drafts_and_launched_campaigns_have_no_forecast(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    let (_, draft) = app.post("/v1/campaigns", json!({"name": "draft"})).await;
    let (status, err) = app.get(&format!("/v1/campaigns/{}/forecast", draft["id"])).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "campaign_not_ready"));
    assert!(!err["error"]["problems"].as_array().unwrap().is_empty());
    let c = app.ready_campaign(&setup, "launched", json!({})).await;
    app.post(&format!("/v1/campaigns/{}/launch", c["id"]), json!({})).await;
    let (status, err) = app.get(&format!("/v1/campaigns/{}/forecast", c["id"])).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "already_launched"));
    assert_eq!(app.get("/v1/campaigns/424242/forecast").await.0, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn any_and_all_audiences_name_precedence_and_every_bound_key_are_honoured(pg: PgPool) {
    let mut config = e2e::sim::config();
    config.wabas[0].templates.push(e2e::sim::template("survey", "en_US", "{{1}}: {{2}} {{3}} {{4}} {{5}} {{6}}"));
    let app = TestApp::spawn_with_sim(pg, config).await;
    let setup = app.campaign_setup().await;
    let keys = ["k_a", "k_b", "k_c", "k_d", "k_e"];
    let contact = |n: u32, name: &str, tags: Value, plan: Option<&str>, tweak: &dyn Fn(&mut Value)| {
        let mut vt = json!({});
        for k in keys {
            vt[k] = json!(format!("{k}-{n}"));
        }
        if let Some(plan) = plan {
            vt["plan"] = json!(plan);
        }
        tweak(&mut vt);
        json!({"phone": format!("+346123458{n:02}"), "name": name, "tags": tags, "valued_tags": vt})
    };
    let ids = app
        .contacts(json!([
            contact(1, "Ana", json!(["a"]), None, &|_| {}),                   // tag a
            contact(2, "Luis", json!(["b"]), Some("gold"), &|_| {}),          // valued tag plan=gold
            contact(3, "Eva", json!(["b"]), Some("silver"), &|_| {}),         // neither
            contact(4, "Ana     Maria", json!(["a"]), Some("gold"), &|_| {}), // five spaces: unusable
            contact(5, "Ivo", json!(["a"]), None, &|vt| vt["k_e"] = json!("x     y")), // the fifth key
            contact(6, "Bea", json!(["a"]), None, &|vt| drop(vt.as_object_mut().map(|o| o.remove("k_c")))),
            contact(7, " \u{a0} ", json!(["a"]), None, &|_| {}), // a blank name
        ]))
        .await;
    // An open case loses to a missing valued tag: the permanent reason is the one to show.
    app.post(&format!("/v1/contacts/{}/inbox-case", ids[5]), json!({})).await;
    // Another organization's identical contact is never in this audience.
    let (_, other_key) = app.other_org().await;
    let other = e2e::send(
        app.http
            .post(app.url("/v1/contacts/bulk"))
            .bearer_auth(&other_key)
            .json(&json!({"contacts": [contact(1, "Ana", json!(["a"]), Some("gold"), &|_| {})]})),
    )
    .await;
    assert_eq!(other.0, StatusCode::OK, "{}", other.1);

    let mut bindings = vec![json!({"param": "1", "kind": "contact_name"})];
    bindings.extend(
        keys.iter().enumerate().map(|(i, k)| json!({"param": (i + 2).to_string(), "kind": "valued_tag", "key": k})),
    );
    let survey = app.template_id("survey", "en_US").await;
    let c = app
        .ready_campaign(
            &setup,
            "survey",
            json!({"template_id": survey, "bindings": bindings,
                   "audience": {"tags": ["a"], "valued_tags": {"plan": "gold"}, "match": "any"}}),
        )
        .await;
    assert_eq!(c["state"], "ready", "{c}");
    let (status, f) = app.get(&format!("/v1/campaigns/{}/forecast", c["id"])).await;
    assert_eq!(status, StatusCode::OK, "{f}");
    assert_eq!((f["audience"].as_i64(), f["will_send"].as_i64()), (Some(6), Some(2)), "{f}");
    let reasons = by_reason(&f);
    let phones = |label: &str| reasons.get(label).map(|(_, s)| s.clone()).unwrap_or_default();
    assert_eq!(phones("invalid_name"), ["+34612345804"]);
    assert_eq!(phones("invalid_param_value:k_e"), ["+34612345805"], "{reasons:?}");
    assert_eq!(phones("missing_valued_tag:k_c"), ["+34612345806"]);
    assert_eq!(phones("missing_name"), ["+34612345807"]);
    assert_eq!(reasons.len(), 4, "{reasons:?}");

    // `all`: the tag and the valued tag, both.
    let (_, all) = app
        .patch(
            &format!("/v1/campaigns/{}", c["id"]),
            json!({"audience": {"tags": ["a"], "valued_tags": {"plan": "gold"}, "match": "all"}}),
        )
        .await;
    assert_eq!(all["audience"]["match"], "all");
    let (_, f) = app.get(&format!("/v1/campaigns/{}/forecast", c["id"])).await;
    assert_eq!((f["audience"].as_i64(), f["will_send"].as_i64()), (Some(1), Some(0)), "only +34612345804: {f}");
}
