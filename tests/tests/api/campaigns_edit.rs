//! Creating and editing campaigns: Draft until complete, bindings checked
//! against the template, media rules, bad input.

use e2e::{
    StatusCode, TestApp,
    campaigns::{mp4, png, problem_codes},
    code,
};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_new_campaign_is_a_draft_that_says_what_is_missing_until_it_is_ready(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    let (status, draft) = app.post("/v1/campaigns", json!({"name": "Spring sale"})).await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    assert_eq!(draft["state"], "draft");
    assert_eq!(draft["kind"], "real");
    assert_eq!(
        problem_codes(&draft),
        ["number_required", "audience_required", "bot_flow_required", "template_required"]
    );
    let id = draft["id"].as_i64().unwrap();

    let template_id = app.template_id("order_update", "en_US").await;
    let (status, partial) = app
        .patch(
            &format!("/v1/campaigns/{id}"),
            json!({"number_id": setup.number_id, "audience": {"tags": [" VIP "]}, "template_id": template_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{partial}");
    assert_eq!(partial["audience"]["tags"], json!(["vip"]), "tags are normalised");
    assert_eq!(partial["template"]["name"], "order_update");
    assert_eq!(problem_codes(&partial), ["bot_flow_required", "binding_missing", "binding_missing"]);
    assert!(
        partial["problems"][1]["message"].as_str().unwrap().contains("{{1}}"),
        "the missing placeholder is named: {partial}"
    );

    let (status, ready) = app
        .patch(
            &format!("/v1/campaigns/{id}"),
            json!({
                "bot_flow_id": setup.bot_flow_id,
                "bindings": [
                    {"param": "1", "kind": "contact_name"},
                    {"param": "2", "kind": "text", "value": "A-100"}
                ]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["state"], "ready", "{ready}");
    assert_eq!(ready["problems"], json!([]));
    assert_eq!(app.get(&format!("/v1/campaigns/{id}")).await.1["state"], "ready");

    // Clearing a required field with null makes it a draft again.
    let (_, again) = app.patch(&format!("/v1/campaigns/{id}"), json!({"bot_flow_id": null})).await;
    assert_eq!((again["state"].as_str(), problem_codes(&again)), (Some("draft"), vec!["bot_flow_required".to_owned()]));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn every_binding_kind_is_checked_against_the_templates_placeholders(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    // Positional: one binding per {{n}}; the three kinds mixed.
    let c = app.ready_campaign(&setup, "positional", json!({})).await;
    assert_eq!(c["state"], "ready", "{c}");
    assert_eq!(
        c["bindings"],
        json!([{"param": "1", "kind": "contact_name"}, {"param": "2", "kind": "valued_tag", "key": "order_id"}])
    );
    let id = c["id"].as_i64().unwrap();

    // A binding too few and one too many are both named.
    let (_, wrong) = app
        .patch(
            &format!("/v1/campaigns/{id}"),
            json!({"bindings": [{"param": "1", "kind": "contact_name"}, {"param": "3", "kind": "text", "value": "x"}]}),
        )
        .await;
    assert_eq!(problem_codes(&wrong), ["binding_missing", "binding_not_in_template"], "{wrong}");

    // Switching to a NAMED template: positional bindings no longer fit.
    let named = app.template_id("welcome_named", "en_US").await;
    let (_, switched) = app
        .patch(
            &format!("/v1/campaigns/{id}"),
            json!({"template_id": named, "bindings": [{"param": "1", "kind": "contact_name"}]}),
        )
        .await;
    assert_eq!(
        problem_codes(&switched),
        ["binding_missing", "binding_missing", "binding_not_in_template"],
        "{switched}"
    );
    let (_, fixed) = app
        .patch(
            &format!("/v1/campaigns/{id}"),
            json!({"bindings": [
                {"param": "first_name", "kind": "contact_name"},
                {"param": "discount_code", "kind": "valued_tag", "key": "coupon"}
            ]}),
        )
        .await;
    assert_eq!(fixed["state"], "ready", "{fixed}");

    // A TEXT header's placeholder is bound with component "header".
    let flash = app.template_id("flash_sale", "en_US").await;
    let (_, header) = app
        .patch(
            &format!("/v1/campaigns/{id}"),
            json!({"template_id": flash, "bindings": [{"param": "1", "kind": "contact_name"}]}),
        )
        .await;
    assert_eq!(problem_codes(&header), ["binding_missing"], "{header}");
    assert!(header["problems"][0]["message"].as_str().unwrap().contains("header placeholder {{1}}"));
    let (_, header) = app
        .patch(
            &format!("/v1/campaigns/{id}"),
            json!({"bindings": [
                {"param": "1", "kind": "contact_name"},
                {"param": "1", "component": "header", "kind": "text", "value": "Madrid"}
            ]}),
        )
        .await;
    assert_eq!(header["state"], "ready", "{header}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn only_approved_templates_can_be_chosen(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    app.campaign_setup().await;
    for (name, status) in [("old_promo", "PAUSED"), ("draft_promo", "PENDING")] {
        let id = app.template_id(name, "en_US").await;
        let (s, err) = app.post("/v1/campaigns", json!({"name": "x", "template_id": id})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        assert_eq!(code(&err), "template_not_approved");
        assert_eq!(err["error"]["field"], "template_id");
        assert!(err["error"]["message"].as_str().unwrap().contains(status), "{err}");
    }
    let count: i64 = sqlx::query_scalar("select count(*) from campaigns").fetch_one(&app.pg).await.unwrap();
    assert_eq!(count, 0, "a refused create writes nothing");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_template_paused_at_meta_after_it_was_chosen_turns_the_campaign_back_into_a_draft(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    let c = app.ready_campaign(&setup, "promo", json!({})).await;
    assert_eq!(c["state"], "ready");
    let mut templates = e2e::sim::templates();
    templates.iter_mut().filter(|t| t.name == "order_update").for_each(|t| t.status = "PAUSED".into());
    app.sim.set_templates(e2e::sim::WABA_ID, templates);
    let (status, body) = app.post("/v1/templates/sync", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (_, now) = app.get(&format!("/v1/campaigns/{}", c["id"])).await;
    assert_eq!(now["state"], "draft");
    assert_eq!(problem_codes(&now), ["template_not_approved"]);
    assert!(now["problems"][0]["message"].as_str().unwrap().contains("PAUSED"), "{now}");
    let (status, err) = app.post(&format!("/v1/campaigns/{}/launch", c["id"]), json!({})).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "campaign_not_ready"));
    assert_eq!(problem_codes(&err), ["template_not_approved"]);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn another_organizations_numbers_templates_media_and_contacts_cannot_be_used(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    app.campaign_setup().await;
    let (other, other_key) = app.other_org().await;
    let as_other = |m, path: &str| app.http.request(m, app.url(path)).bearer_auth(&other_key);
    let number = json!({"id": app.register_other_number(&other_key).await});
    let template: i64 = sqlx::query_scalar(
        "insert into templates (org_id, waba_id, name, language, status) values ($1, $2, 'theirs', 'en_US', 'APPROVED')
         returning id",
    )
    .bind(other.0)
    .bind(e2e::sim::OTHER_WABA_ID)
    .fetch_one(&app.pg)
    .await
    .unwrap();
    let media: i64 = sqlx::query_scalar(
        "insert into media_assets (org_id, number_id, kind, mime_type, size_bytes, sha256, content)
         values ($1, $2, 'image', 'image/png', 1, '', '') returning id",
    )
    .bind(other.0)
    .bind(number["id"].as_i64().unwrap())
    .fetch_one(&app.pg)
    .await
    .unwrap();
    for (field, id) in
        [("number_id", number["id"].as_i64().unwrap()), ("template_id", template), ("header_media_id", media)]
    {
        let (status, err) = app.post("/v1/campaigns", json!({"name": "x", field: id})).await;
        assert_eq!((status, code(&err)), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_reference"), "{field}: {err}");
        assert_eq!(err["error"]["field"], field);
    }
    let (status, _) = e2e::send(
        as_other(reqwest::Method::POST, "/v1/contacts/bulk").json(&json!({"contacts": [{"phone": "+34612345601"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, err) =
        app.post("/v1/campaigns", json!({"name": "x", "kind": "test", "test_phones": ["+34612345601"]})).await;
    assert_eq!((status, code(&err)), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_test_phones"), "{err}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn media_headers_need_media_of_the_right_kind_for_the_sending_number(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    let image_template = app.template_id("promo_image", "en_US").await;
    let c = app
        .ready_campaign(
            &setup,
            "image promo",
            json!({"template_id": image_template, "bindings": [{"param": "1", "kind": "contact_name"}]}),
        )
        .await;
    assert_eq!(problem_codes(&c), ["header_media_required"], "{c}");
    let id = c["id"].as_i64().unwrap();

    let video = app.upload_media(setup.number_id, "video/mp4", &mp4()).await;
    let (_, wrong) = app.patch(&format!("/v1/campaigns/{id}"), json!({"header_media_id": video})).await;
    assert_eq!(problem_codes(&wrong), ["header_media_kind_mismatch"], "{wrong}");

    let image = app.upload_media(setup.number_id, "image/png", &png()).await;
    let (_, ready) = app.patch(&format!("/v1/campaigns/{id}"), json!({"header_media_id": image})).await;
    assert_eq!(ready["state"], "ready", "{ready}");

    // A template without a media header does not take one.
    let plain = app.template_id("order_update", "en_US").await;
    let (_, extra) = app.patch(&format!("/v1/campaigns/{id}"), json!({"template_id": plain})).await;
    assert!(problem_codes(&extra).contains(&"header_media_not_expected".to_owned()), "{extra}");
    // DOCUMENT headers are not supported, and say so.
    let contract = app.template_id("contract", "en_US").await;
    let (_, doc) = app
        .patch(
            &format!("/v1/campaigns/{id}"),
            json!({"template_id": contract, "bindings": [], "header_media_id": null}),
        )
        .await;
    assert_eq!(problem_codes(&doc), ["header_format_unsupported"], "{doc}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn invalid_campaign_fields_are_refused_and_name_the_field(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    let (other_org, other_key) = app.other_org().await;
    let foreign_flow: i64 = sqlx::query_scalar(
        "insert into bot_flows (org_id, name, endpoint_url, secret_enc) values ($1, 'theirs', 'http://x', '') returning id",
    )
    .bind(other_org.0)
    .fetch_one(&app.pg)
    .await
    .unwrap();
    let cases = [
        (json!({"name": ""}), "invalid_name", "name"),
        (json!({"name": "x".repeat(201)}), "invalid_name", "name"),
        (json!({"name": "x", "number_id": 999_999}), "unknown_reference", "number_id"),
        (json!({"name": "x", "bot_flow_id": foreign_flow}), "unknown_reference", "bot_flow_id"),
        (json!({"name": "x", "template_id": 999_999}), "unknown_reference", "template_id"),
        (json!({"name": "x", "header_media_id": 999_999}), "unknown_reference", "header_media_id"),
        (json!({"name": "x", "pace_per_second": 0}), "invalid_pace", "pace_per_second"),
        (json!({"name": "x", "pace_per_second": 5000}), "invalid_pace", "pace_per_second"),
        (json!({"name": "x", "audience": {"tags": ["no!"]}}), "invalid_tag", "audience.tags[0]"),
        (json!({"name": "x", "audience": {"tags": ["a"], "match": "some"}}), "invalid_match", "audience.match"),
        (
            json!({"name": "x", "audience": {"valued_tags": {"9x": "1"}}}),
            "invalid_valued_tag_key",
            "audience.valued_tags.9x",
        ),
        (
            json!({"name": "x", "bindings": [{"param": "1", "kind": "text", "value": "two\nlines"}]}),
            "invalid_param_value",
            "bindings[0].value",
        ),
        (
            json!({"name": "x", "bindings": [{"param": "1", "kind": "text", "value": "a     b"}]}),
            "invalid_param_value",
            "bindings[0].value",
        ),
        (
            json!({"name": "x", "bindings": [{"param": "1", "kind": "contact_name"}, {"param": "1", "kind": "contact_name"}]}),
            "duplicate_binding",
            "bindings[1].param",
        ),
        (
            json!({"name": "x", "bindings": [{"param": "{{1}}", "kind": "contact_name"}]}),
            "invalid_binding_param",
            "bindings[0].param",
        ),
        (json!({"name": "x", "test_phones": ["+34612345678"]}), "test_phones_not_for_real", "test_phones"),
    ];
    for (body, expected, field) in cases {
        let (status, err) = app.post("/v1/campaigns", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!((code(&err), err["error"]["field"].as_str()), (expected, Some(field)), "{body}: {err}");
    }
    for body in [
        json!({"name": "x", "bindings": [{"param": "1", "kind": "nickname"}]}),
        json!({"name": "x", "colour": "red"}),
        json!({"name": "x", "number_id": "one"}),
    ] {
        let (status, err) = app.post("/v1/campaigns", body.clone()).await;
        assert_eq!((status, code(&err)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"), "{body}: {err}");
    }
    let count: i64 = sqlx::query_scalar("select count(*) from campaigns").fetch_one(&app.pg).await.unwrap();
    assert_eq!(count, 0, "nothing half-written");

    // Another organization's campaign is not found, whatever the method.
    let mine = app.ready_campaign(&setup, "mine", json!({})).await;
    let path = format!("/v1/campaigns/{}", mine["id"]);
    let theirs = |m| app.http.request(m, app.url(&path)).bearer_auth(&other_key);
    assert_eq!(e2e::send(theirs(reqwest::Method::GET)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(e2e::send(theirs(reqwest::Method::DELETE)).await.0, StatusCode::NOT_FOUND);
    let (status, _) = e2e::send(theirs(reqwest::Method::PATCH).json(&json!({"name": "mine now"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/v1/campaigns/999999").await.0, StatusCode::NOT_FOUND);
    assert_eq!(code(&app.patch(&path, json!({"kind": "test"})).await.1), "kind_immutable");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn real_and_test_campaigns_are_listed_apart_filtered_by_state_and_paged(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    app.contacts(json!([{"phone": "+34612345601", "tags": ["vip"]}])).await;
    for i in 0..3 {
        app.ready_campaign(&setup, &format!("ready {i}"), json!({})).await;
    }
    app.post("/v1/campaigns", json!({"name": "draft"})).await;
    let (status, test) = app.post("/v1/campaigns", json!({"name": "pilot", "kind": "test"})).await;
    assert_eq!(status, StatusCode::CREATED, "{test}");

    let (_, real) = app.get("/v1/campaigns").await;
    assert_eq!(real["data"].as_array().unwrap().len(), 4);
    let (_, tests) = app.get("/v1/campaigns?kind=test").await;
    let names: Vec<&str> = tests["data"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["pilot"]);
    let (_, drafts) = app.get("/v1/campaigns?state=draft").await;
    assert_eq!(drafts["data"].as_array().unwrap().len(), 1);
    assert_eq!(drafts["data"][0]["name"], "draft");

    let (_, page1) = app.get("/v1/campaigns?state=ready&limit=2").await;
    assert_eq!(page1["data"].as_array().unwrap().len(), 2);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (_, page2) = app.get(&format!("/v1/campaigns?state=ready&limit=2&cursor={cursor}")).await;
    let names: Vec<&str> = page2["data"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ready 2"]);

    for bad in
        ["/v1/campaigns?kind=fake", "/v1/campaigns?state=paused", "/v1/campaigns?limit=0", "/v1/campaigns?cursor=zz"]
    {
        assert_eq!(app.get(bad).await.0, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
}
