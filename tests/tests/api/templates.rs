use e2e::{StatusCode, TestApp, code, send, sim};
use serde_json::{Value, json};
use sqlx::PgPool;

async fn sync(app: &TestApp) -> Value {
    let (status, body) = send(app.req(reqwest::Method::POST, "/v1/templates/sync")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn counts(report: &Value) -> (i64, i64, i64, Value) {
    let w = &report["wabas"][0];
    (
        w["added"].as_i64().unwrap(),
        w["updated"].as_i64().unwrap(),
        w["unchanged"].as_i64().unwrap(),
        w["missing"].clone(),
    )
}

async fn template(app: &TestApp, name: &str, language: &str) -> Value {
    let (status, list) = app.get(&format!("/v1/templates?name={name}&language={language}")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1, "{name} {language}: {list}");
    list[0].clone()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_sync_reads_every_page_and_stores_each_template_with_its_placeholders(pg: PgPool) {
    let mut config = sim::config();
    let extra: Vec<_> = (0..230).map(|i| sim::template(&format!("bulk_{i:03}"), "en_US", "Hi {{1}}")).collect();
    config.wabas[0].templates.extend(extra);
    let app = TestApp::spawn_with_sim(pg, config).await;
    app.register_number().await;

    let report = sync(&app).await;
    assert_eq!(report["wabas"][0]["waba_id"], sim::WABA_ID);
    assert_eq!(counts(&report), (239, 0, 0, json!([])), "three pages of 100: {report}");
    let (_, all) = app.get("/v1/templates").await;
    assert_eq!(all.as_array().unwrap().len(), 239);
    assert_eq!(all[0]["name"], "bulk_000", "sorted by name");

    let order = template(&app, "order_update", "en_US").await;
    assert_eq!(order["parameter_format"], "POSITIONAL");
    assert_eq!(order["body_params"], json!(["1", "2"]));
    assert_eq!((order["header_format"].clone(), order["header_params"].clone()), (Value::Null, json!([])));
    assert_eq!((order["status"].as_str(), order["category"].as_str()), (Some("APPROVED"), Some("MARKETING")));
    assert_eq!(order["usable"], true);
    assert_eq!(order["missing_since"], Value::Null);
    assert!(order["meta_template_id"].as_str().is_some_and(|id| id.starts_with(sim::WABA_ID)), "{order}");
    assert_eq!(order["components"][0]["type"], "BODY", "components are Meta's own JSON");
    assert!(order["synced_at"].is_string());

    let named = template(&app, "welcome_named", "en_US").await;
    assert_eq!(named["parameter_format"], "NAMED");
    assert_eq!(named["body_params"], json!(["first_name", "discount_code"]));
    let flash = template(&app, "flash_sale", "en_US").await;
    assert_eq!((flash["header_format"].as_str(), flash["header_params"].clone()), (Some("TEXT"), json!(["1"])));
    let image = template(&app, "promo_image", "en_US").await;
    assert_eq!((image["header_format"].as_str(), image["header_params"].clone()), (Some("IMAGE"), json!([])));
    assert_eq!(image["components"][2]["buttons"][1]["text"], "Stop promotions");
    let paused = template(&app, "old_promo", "en_US").await;
    assert_eq!((paused["status"].as_str(), paused["usable"].as_bool()), (Some("PAUSED"), Some(false)));

    let stored: (i32, i32) =
        sqlx::query_as("select body_param_count, header_param_count from templates where name = 'flash_sale'")
            .fetch_one(&app.pg)
            .await
            .unwrap();
    assert_eq!(stored, (1, 1), "the counts follow the names");

    let again = sync(&app).await;
    assert_eq!(counts(&again), (0, 0, 239, json!([])), "nothing changed at Meta: {again}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_resync_updates_statuses_and_marks_vanished_templates_missing_without_deleting_them(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    app.register_number().await;
    assert_eq!(counts(&sync(&app).await), (9, 0, 0, json!([])));
    let before = template(&app, "order_update", "en_US").await;
    let updated_at = |name: &'static str| {
        let pg = app.pg.clone();
        async move {
            sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>(
                "select updated_at from templates where name = $1 and language = 'en_US'",
            )
            .bind(name)
            .fetch_one(&pg)
            .await
            .unwrap()
        }
    };
    let (order_updated, video_updated) = (updated_at("order_update").await, updated_at("promo_video").await);

    // At Meta: order_update (en_US) is paused, draft_promo is deleted, a new template appears.
    let mut templates = sim::templates();
    templates.retain(|t| t.name != "draft_promo");
    templates
        .iter_mut()
        .filter(|t| t.name == "order_update" && t.language == "en_US")
        .for_each(|t| t.status = "PAUSED".into());
    templates.push(sim::template("spring_sale", "es", "Hola {{nombre}}"));
    app.sim.set_templates(sim::WABA_ID, templates.clone());

    let report = sync(&app).await;
    assert_eq!(counts(&report), (1, 1, 7, json!([{"name": "draft_promo", "language": "en_US"}])), "{report}");
    let order = template(&app, "order_update", "en_US").await;
    assert_eq!((order["status"].as_str(), order["usable"].as_bool()), (Some("PAUSED"), Some(false)));
    assert_eq!(order["id"], before["id"], "the same row is updated");
    assert_eq!(order["meta_template_id"], before["meta_template_id"]);
    assert!(updated_at("order_update").await > order_updated, "a change moves updated_at");
    assert_eq!(updated_at("promo_video").await, video_updated, "an unchanged template keeps its updated_at");

    let gone = template(&app, "draft_promo", "en_US").await;
    let missing_since = gone["missing_since"].clone();
    assert!(missing_since.is_string(), "kept and marked: {gone}");
    assert_eq!(gone["usable"], false);

    let still = sync(&app).await;
    assert_eq!(counts(&still), (0, 0, 9, json!([{"name": "draft_promo", "language": "en_US"}])), "{still}");
    assert_eq!(template(&app, "draft_promo", "en_US").await["missing_since"], missing_since, "marked once");

    templates.push(sim::templates().into_iter().find(|t| t.name == "draft_promo").unwrap());
    app.sim.set_templates(sim::WABA_ID, templates);
    let back = sync(&app).await;
    assert_eq!(counts(&back), (0, 1, 9, json!([])), "{back}");
    let draft = template(&app, "draft_promo", "en_US").await;
    assert_eq!((draft["id"].clone(), draft["missing_since"].clone()), (gone["id"].clone(), Value::Null));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn templates_are_filtered_and_read_one_by_one_within_the_organization(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    app.register_number().await;
    let (status, body) = app.post("/v1/templates/sync", json!({"waba_id": sim::WABA_ID})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["wabas"].as_array().unwrap().len(), 1);

    let names = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|t| format!("{}/{}", t["name"].as_str().unwrap(), t["language"].as_str().unwrap()))
            .collect()
    };
    let (_, by_name) = app.get("/v1/templates?name=order_update").await;
    assert_eq!(names(&by_name), ["order_update/en_US", "order_update/es"]);
    let (_, spanish) = app.get("/v1/templates?language=es").await;
    assert_eq!(names(&spanish), ["order_update/es"]);
    let (_, approved) = app.get("/v1/templates?status=approved").await;
    assert_eq!(approved.as_array().unwrap().len(), 7, "all but the paused and the pending one");
    assert!(approved.as_array().unwrap().iter().all(|t| t["usable"] == true));
    let (_, paused) = app.get(&format!("/v1/templates?status=PAUSED&waba_id={}", sim::WABA_ID)).await;
    assert_eq!(names(&paused), ["old_promo/en_US"]);
    let (_, none) = app.get("/v1/templates?waba_id=999").await;
    assert_eq!(none, json!([]));

    let id = by_name[0]["id"].as_i64().unwrap();
    let (status, one) = app.get(&format!("/v1/templates/{id}")).await;
    assert_eq!((status, one), (StatusCode::OK, by_name[0].clone()));
    assert_eq!(app.get("/v1/templates/999999").await.0, StatusCode::NOT_FOUND);

    let (_, other) = app.other_org().await;
    let as_other = |path: &str| app.http.get(app.url(path)).bearer_auth(&other);
    let (status, body) = send(as_other(&format!("/v1/templates/{id}"))).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!(send(as_other("/v1/templates")).await, (StatusCode::OK, json!([])));
    let (status, body) = send(app.http.post(app.url("/v1/templates/sync")).bearer_auth(&other)).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "no_numbers"), "{body}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn sync_errors_name_the_problem(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (status, body) = send(app.req(reqwest::Method::POST, "/v1/templates/sync")).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "no_numbers"), "{body}");

    app.register_number().await;
    let (status, body) = app.post("/v1/templates/sync", json!({"waba_id": "999"})).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_waba"), "{body}");
    assert_eq!(body["error"]["field"], "waba_id");
    let (status, body) = app.post("/v1/templates/sync", json!({"waba": sim::WABA_ID})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "unknown fields are refused: {body}");
    let malformed =
        app.req(reqwest::Method::POST, "/v1/templates/sync").header("content-type", "application/json").body("{");
    assert_eq!(send(malformed).await.0, StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_token_meta_rejects_gives_502_without_the_token_and_nothing_is_written(pg: PgPool) {
    const BAD_TOKEN: &str = "EAAGbadtoken-that-must-never-leak";
    let app = TestApp::spawn(pg).await;
    app.register_number().await;
    // A second WABA whose token Meta refuses: the good WABA is not written either.
    let number = app.register_other_number(&app.key).await;
    // Meta revoked that number's token after it was registered.
    e2e::replace_token(&app, number, BAD_TOKEN).await;

    let (status, body) = send(app.req(reqwest::Method::POST, "/v1/templates/sync")).await;
    assert_eq!((status, code(&body)), (StatusCode::BAD_GATEWAY, "cloud_api_error"), "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("190") && message.contains(&format!("WABA {}", sim::OTHER_WABA_ID)),
        "Meta's code and the WABA are named: {message}"
    );
    assert!(!body.to_string().contains(BAD_TOKEN), "the token never appears: {body}");
    assert_eq!(app.get("/v1/templates").await.1, json!([]), "nothing written");

    let (status, body) = app.post("/v1/templates/sync", json!({"waba_id": sim::WABA_ID})).await;
    assert_eq!(status, StatusCode::OK, "the good WABA alone syncs: {body}");
}
