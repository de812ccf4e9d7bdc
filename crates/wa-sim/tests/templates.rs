//! `GET /{version}/{waba_id}/message_templates` paging.

mod common;

use common::{PNID, TOKEN, WABA, code_of, config, request, start, template};
use whatsapp::{ApiError, management::TemplateStatus};

#[tokio::test]
async fn paging_returns_every_template_once() {
    let mut cfg = config();
    for i in 0..7 {
        cfg.wabas[0].templates.push(template(&format!("extra_{i}"), "APPROVED", "Hi {{1}}"));
    }
    let total = cfg.wabas[0].templates.len();
    let (_sim, client) = start(cfg).await;
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = client.list_templates(WABA, TOKEN, after.as_deref(), 4).await.expect("page");
        pages += 1;
        assert!(page.data.len() <= 4);
        names.extend(page.data.iter().map(|t| t.name.clone()));
        match page.next_cursor() {
            Some(cursor) => after = Some(cursor.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, total.div_ceil(4));
    assert_eq!(names.len(), total);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), total);
}

#[tokio::test]
async fn listing_shows_status_and_components() {
    let (_sim, client) = start(config()).await;
    let page = client.list_templates(WABA, TOKEN, None, 100).await.expect("page");
    let paused = page.data.iter().find(|t| t.name == "paused_promo").expect("listed");
    assert_eq!(paused.status, TemplateStatus::Paused);
    assert_eq!(paused.components[0].kind, "BODY");
    assert_eq!(page.next_cursor(), None);
}

#[tokio::test]
async fn listing_needs_a_token_of_that_waba() {
    let (_sim, client) = start(config()).await;
    match client.list_templates(WABA, "nope", None, 10).await {
        Err(ApiError::Graph { status, error }) => assert_eq!((status, error.code), (401, 190)),
        other => panic!("expected 190, got {other:?}"),
    }
    match client.list_templates("9999", TOKEN, None, 10).await {
        Err(ApiError::Graph { status, error }) => {
            assert_eq!((status, error.code, error.error_subcode), (400, 100, Some(33)));
            assert!(error.message.starts_with("Unsupported get request. Object with ID '9999'"), "{error:?}");
        }
        other => panic!("expected 100/33 for a WABA the token cannot read, got {other:?}"),
    }
}

#[tokio::test]
async fn templates_can_be_replaced_while_running() {
    let (sim, client) = start(config()).await;
    let before = client.list_templates(WABA, TOKEN, None, 100).await.expect("page");
    let hello_id = before.data.iter().find(|t| t.name == "hello").expect("listed").id.clone();

    sim.set_templates(
        WABA,
        vec![template("hello", "PAUSED", "Hi {{1}}, your code is {{2}}"), template("new_one", "APPROVED", "Hi")],
    );
    let after = client.list_templates(WABA, TOKEN, None, 100).await.expect("page");
    let listed: Vec<_> = after.data.iter().map(|t| (t.name.as_str(), t.status)).collect();
    assert_eq!(listed, [("hello", TemplateStatus::Paused), ("new_one", TemplateStatus::Approved)]);
    assert_eq!(after.data[0].id, hello_id, "a template keeps its id");
    assert!(before.data.iter().all(|t| t.id != after.data[1].id), "a new template gets a new id");

    let paused = client.send_template(PNID, TOKEN, &request("+34600000001", "hello", &["a", "b"])).await;
    assert_eq!(code_of(&paused.expect_err("paused")).0, 132015);
    let gone = client.send_template(PNID, TOKEN, &request("+34600000001", "paused_promo", &["a"])).await;
    assert_eq!(code_of(&gone.expect_err("removed")).0, 132001);

    let http = reqwest::Client::new();
    let put = http
        .put(format!("{}/_sim/wabas/{WABA}/templates", sim.base_url()))
        .json(&serde_json::json!([{"name": "via_http", "language": "es", "body": "Hola {{1}}"}]))
        .send()
        .await
        .expect("answers");
    assert_eq!(put.status(), 204);
    let page = client.list_templates(WABA, TOKEN, None, 100).await.expect("page");
    assert_eq!(page.data.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["via_http"]);
}
