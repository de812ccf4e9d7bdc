//! The messages endpoint through `whatsapp::CloudClient`, as the engine uses it.

mod common;

use common::{PNID, TOKEN, code_of, config, image_header, request, start};
use whatsapp::send::{Component, MessageStatus, TextParameter};

#[tokio::test]
async fn an_accepted_send_is_logged_with_its_parameters_and_callback_data() {
    let (sim, client) = start(config()).await;
    let mut req = request("+34 612 345 678", "hello", &["Ana", "X1"]);
    req.biz_opaque_callback_data = Some("campaign=7;row=42".to_owned());

    let response = client.send_template(PNID, TOKEN, &req).await.expect("accepted");

    let wamid = response.message_id().expect("a wamid").to_owned();
    assert!(wamid.starts_with("wamid."));
    assert_eq!(response.contacts[0].input.as_deref(), Some("+34 612 345 678"));
    assert_eq!(response.contacts[0].wa_id.as_deref(), Some("34612345678"));
    assert_eq!(response.messages[0].message_status, Some(MessageStatus::Accepted));
    let log = sim.accepted();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].wamid, wamid);
    assert_eq!(log[0].template, "hello");
    assert_eq!(log[0].language, "en_US");
    assert_eq!(log[0].biz_opaque_callback_data.as_deref(), Some("campaign=7;row=42"));
    let texts: Vec<_> = log[0].body_parameters.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(texts, ["Ana", "X1"]);
    assert_eq!(sim.messages_to("+34612345678").len(), 1);
}

#[tokio::test]
async fn wamids_are_unique() {
    let (sim, client) = start(config()).await;
    for _ in 0..20 {
        client.send_template(PNID, TOKEN, &request("+34600000000", "hello", &["a", "b"])).await.expect("accepted");
    }
    let mut ids: Vec<_> = sim.accepted().into_iter().map(|m| m.wamid).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20);
}

#[tokio::test]
async fn the_held_switch_answers_held_for_quality_assessment() {
    let mut cfg = config();
    cfg.hold_for_quality_assessment = true;
    let (_sim, client) = start(cfg).await;
    let response = client.send_template(PNID, TOKEN, &request("+34600000000", "hello", &["a", "b"])).await;
    let status = response.expect("accepted").messages[0].message_status;
    assert_eq!(status, Some(MessageStatus::HeldForQualityAssessment));
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_190_with_http_401() {
    let (sim, client) = start(config()).await;
    let err = client.send_template(PNID, "nope", &request("+34600000000", "hello", &["a", "b"])).await;
    assert_eq!(code_of(&err.expect_err("refused")), (190, 401));
    let raw = reqwest::Client::new()
        .post(format!("{}/v23.0/{PNID}/messages", sim.base_url()))
        .body("{}")
        .send()
        .await
        .expect("answers");
    assert_eq!(raw.status(), 401);
    let body: serde_json::Value = raw.json().await.expect("json");
    assert_eq!(body["error"]["type"], "OAuthException");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.starts_with("Invalid OAuth access token")));
    assert!(body["error"]["fbtrace_id"].is_string());
    assert_eq!(sim.accepted_count(), 0);
}

#[tokio::test]
async fn an_unknown_number_is_a_graph_error() {
    let (_sim, client) = start(config()).await;
    let err = client.send_template("999", TOKEN, &request("+34600000000", "hello", &["a", "b"])).await;
    assert_eq!(code_of(&err.expect_err("refused")), (100, 400));
}

#[tokio::test]
async fn template_state_and_language_errors_have_metas_codes() {
    let (sim, client) = start(config()).await;
    let cases = [("missing", 132001), ("pending_promo", 132001), ("paused_promo", 132015), ("disabled_promo", 132016)];
    for (name, code) in cases {
        let err = client.send_template(PNID, TOKEN, &request("+34600000000", name, &["a"])).await;
        assert_eq!(code_of(&err.expect_err("refused")), (code, 400), "{name}");
    }
    let mut wrong_language = request("+34600000000", "hello", &["a", "b"]);
    wrong_language.template.language.code = "en".to_owned();
    let err = client.send_template(PNID, TOKEN, &wrong_language).await.expect_err("refused");
    assert_eq!(code_of(&err), (132001, 400));
    assert_eq!(
        err.graph_error().map(|(e, _)| e.message.as_str()),
        Some("(#132001) Template name does not exist in the translation")
    );
    assert_eq!(sim.accepted_count(), 0);
}

#[tokio::test]
async fn parameter_count_and_names_must_match_the_template() {
    let (_sim, client) = start(config()).await;
    let err = client.send_template(PNID, TOKEN, &request("+34600000000", "hello", &["only one"])).await;
    assert_eq!(code_of(&err.expect_err("refused")), (132000, 400));

    let mut named = request("+34600000000", "named_promo", &[]);
    named.template.components = vec![Component::Body {
        parameters: vec![TextParameter::named("first_name", "Ana"), TextParameter::named("coupon", "X")],
    }];
    let err = client.send_template(PNID, TOKEN, &named).await;
    assert_eq!(code_of(&err.expect_err("refused")), (132000, 400));

    named.template.components = vec![Component::Body {
        parameters: vec![TextParameter::named("code", "X"), TextParameter::named("first_name", "Ana")],
    }];
    client.send_template(PNID, TOKEN, &named).await.expect("names in any order are accepted");
}

#[tokio::test]
async fn whitespace_in_parameters_is_132018() {
    let (_sim, client) = start(config()).await;
    for bad in ["two\nlines", "a\ttab", "five     spaces"] {
        let err = client.send_template(PNID, TOKEN, &request("+34600000000", "hello", &[bad, "x"])).await;
        let err = err.expect_err("refused");
        assert_eq!(code_of(&err), (132018, 400));
        let details = err.graph_error().map(|(e, _)| e.details().to_owned());
        assert_eq!(
            details.as_deref(),
            Some("Param text cannot have new-line/tab characters or more than 4 consecutive spaces")
        );
    }
}

#[tokio::test]
async fn a_media_header_template_needs_its_media() {
    let (sim, client) = start(config()).await;
    let err = client.send_template(PNID, TOKEN, &request("+34600000000", "image_promo", &["Ana"])).await;
    assert_eq!(code_of(&err.expect_err("refused")), (100, 400));
    let mut req = request("+34600000000", "image_promo", &["Ana"]);
    req.template.components.insert(0, image_header("https://example.com/a.jpg"));
    client.send_template(PNID, TOKEN, &req).await.expect("accepted with its image");
    assert_eq!(sim.accepted()[0].header_parameters.len(), 1);
}

#[tokio::test]
async fn bad_json_and_a_wrong_messaging_product_are_100() {
    let (sim, _client) = start(config()).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v23.0/{PNID}/messages", sim.base_url());
    for body in ["{not json", r#"{"messaging_product":"sms","to":"+34600000000","type":"template"}"#] {
        let response = http.post(&url).bearer_auth(TOKEN).body(body).send().await.expect("answers");
        assert_eq!(response.status(), 400);
        let json: serde_json::Value = response.json().await.expect("json");
        assert_eq!(json["error"]["code"], 100);
        assert_eq!(json["error"]["error_data"]["messaging_product"], "whatsapp");
        assert!(json["error"]["message"].as_str().is_some_and(|m| m.starts_with("(#100) ")));
    }
}

#[tokio::test]
async fn the_inspection_api_lists_counts_and_resets() {
    let (sim, client) = start(config()).await;
    client.send_template(PNID, TOKEN, &request("+34600000000", "hello", &["a", "b"])).await.expect("accepted");
    client.send_template(PNID, TOKEN, &request("+34600000000", "hello", &["c", "d"])).await.expect("accepted");
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{}{path}", sim.base_url())).send();
    let count: serde_json::Value = get("/_sim/messages/count").await.expect("ok").json().await.expect("json");
    assert_eq!(count["accepted"], 2);
    let per: Vec<wa_sim::AcceptedMessage> =
        get("/_sim/recipients/34600000000/messages").await.expect("ok").json().await.expect("json");
    assert_eq!(per.len(), 2);
    let all: Vec<wa_sim::AcceptedMessage> = get("/_sim/messages").await.expect("ok").json().await.expect("json");
    assert_eq!(all, sim.accepted());
    let hooks: Vec<wa_sim::Delivery> = get("/_sim/webhooks").await.expect("ok").json().await.expect("json");
    assert!(hooks.is_empty());
    let reset = http.post(format!("{}/_sim/reset", sim.base_url())).send().await.expect("ok");
    assert_eq!(reset.status(), 204);
    assert_eq!(sim.accepted_count(), 0);
}
