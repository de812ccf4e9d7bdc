//! The phone number node and a WABA's `phone_numbers` edge, through
//! `whatsapp::CloudClient` where it can and raw HTTP for what it never sends.

mod common;

use common::{DISPLAY, PNID, TOKEN, WABA, config, number, start};
use serde_json::Value;
use wa_sim::{Config, config::NumberConfig};
use whatsapp::{ApiError, GraphError};

/// A second number on [`WABA`], and another organization's number on its own WABA.
const SECOND: &str = "1002";
const SECOND_TOKEN: &str = "token-2";
const OTHER: &str = "3001";
const OTHER_WABA: &str = "4001";
const OTHER_TOKEN: &str = "token-3";

fn two_wabas() -> Config {
    let mut cfg = config();
    cfg.numbers.push(NumberConfig {
        verified_name: "Second Shop".to_owned(),
        quality_rating: "YELLOW".to_owned(),
        messaging_limit_tier: "TIER_250".to_owned(),
        ..number(SECOND, WABA, SECOND_TOKEN, "+15550002222")
    });
    cfg.numbers.push(number(OTHER, OTHER_WABA, OTHER_TOKEN, "34910000001"));
    cfg
}

fn graph_error<T: std::fmt::Debug>(result: Result<T, ApiError>) -> (u16, GraphError) {
    match result {
        Err(ApiError::Graph { status, error }) => (status, error),
        other => panic!("expected a Graph error, got {other:?}"),
    }
}

fn assert_invalid_token<T: std::fmt::Debug>(result: Result<T, ApiError>) {
    let (status, error) = graph_error(result);
    assert_eq!((status, error.code, error.kind.as_deref()), (401, 190, Some("OAuthException")));
    assert!(error.message.starts_with("Invalid OAuth access token"), "{}", error.message);
}

fn assert_unsupported_get<T: std::fmt::Debug>(result: Result<T, ApiError>, id: &str) {
    let (status, error) = graph_error(result);
    assert_eq!(
        (status, error.code, error.error_subcode, error.kind.as_deref()),
        (400, 100, Some(33), Some("GraphMethodException"))
    );
    let expected = format!(
        "Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, \
         or does not support this operation. Please read the Graph API documentation at \
         https://developers.facebook.com/docs/graph-api"
    );
    assert_eq!(error.message, expected);
    assert!(error.fbtrace_id.is_some());
}

/// A raw GET, for what the client never sends (no token, chosen `fields=`).
async fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("answers");
    (response.status().as_u16(), response.json().await.expect("json"))
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<_> = value.as_object().expect("object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

#[tokio::test]
async fn the_node_reports_what_the_config_says() {
    let (_sim, client) = start(two_wabas()).await;
    let first = client.phone_number(PNID, TOKEN).await.expect("read");
    assert_eq!(first.id.as_deref(), Some(PNID));
    assert_eq!(first.display_phone_number, Some(format!("+{DISPLAY}")));
    assert_eq!(first.verified_name.as_deref(), Some("Simulated Business"));
    assert_eq!(first.quality_rating.as_deref(), Some("GREEN"));
    assert_eq!(first.throughput.as_ref().and_then(|t| t.level.as_deref()), Some("HIGH"));
    assert_eq!(first.throughput_per_second(), Some(1000));
    assert_eq!(first.whatsapp_business_manager_messaging_limit.as_deref(), Some("TIER_10K"));

    let second = client.phone_number(SECOND, SECOND_TOKEN).await.expect("read");
    assert_eq!(second.display_phone_number.as_deref(), Some("+15550002222"), "one '+' even if the config has it");
    assert_eq!(second.throughput.as_ref().and_then(|t| t.level.as_deref()), Some("STANDARD"));
    assert_eq!(second.throughput_per_second(), Some(80));
    assert_eq!(
        (second.verified_name.as_deref(), second.quality_rating.as_deref()),
        (Some("Second Shop"), Some("YELLOW"))
    );
    // The messaging limit is the portfolio's: the WABA's first number set it.
    assert_eq!(second.whatsapp_business_manager_messaging_limit.as_deref(), Some("TIER_10K"));
}

#[tokio::test]
async fn fields_choose_what_comes_back_plus_the_id() {
    let (sim, _client) = start(two_wabas()).await;
    let node = format!("{}/v23.0/{PNID}", sim.base_url());
    let (status, body) = get(&node, Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(keys(&body), ["display_phone_number", "id", "quality_rating", "verified_name"]);

    let (_, body) =
        get(&format!("{node}?fields=throughput,whatsapp_business_manager_messaging_limit"), Some(TOKEN)).await;
    assert_eq!(keys(&body), ["id", "throughput", "whatsapp_business_manager_messaging_limit"]);
    assert_eq!(body["throughput"]["level"], "HIGH");

    let (status, body) = get(&format!("{node}?fields=id,name_status"), Some(TOKEN)).await;
    assert_eq!((status, &body["error"]["code"]), (400, &Value::from(100)));
    assert_eq!(
        body["error"]["message"],
        "(#100) Tried accessing nonexisting field (name_status) on node type (WhatsAppBusinessPhoneNumber)"
    );
}

#[tokio::test]
async fn a_missing_or_invalid_token_is_190() {
    let (sim, client) = start(two_wabas()).await;
    assert_invalid_token(client.phone_number(PNID, "not-a-token").await);
    assert_invalid_token(client.phone_number("999", "not-a-token").await);
    assert_invalid_token(client.waba_phone_numbers(WABA, "not-a-token").await);
    for url in [format!("{}/v23.0/{PNID}", sim.base_url()), format!("{}/v23.0/{WABA}/phone_numbers", sim.base_url())] {
        let (status, body) = get(&url, None).await;
        assert_eq!((status, &body["error"]["code"]), (401, &Value::from(190)), "{url}");
    }
}

#[tokio::test]
async fn only_the_numbers_own_token_reads_it() {
    let (_sim, client) = start(two_wabas()).await;
    assert_unsupported_get(client.phone_number(PNID, OTHER_TOKEN).await, PNID);
    assert_unsupported_get(client.phone_number(PNID, SECOND_TOKEN).await, PNID);
    assert_unsupported_get(client.phone_number(OTHER, TOKEN).await, OTHER);
    client.phone_number(OTHER, OTHER_TOKEN).await.expect("its own token reads it");
}

#[tokio::test]
async fn an_unknown_id_is_100_with_subcode_33() {
    let (_sim, client) = start(two_wabas()).await;
    assert_unsupported_get(client.phone_number("999", TOKEN).await, "999");
    assert_unsupported_get(client.waba_phone_numbers("5555", TOKEN).await, "5555");
}

#[tokio::test]
async fn a_waba_lists_its_numbers_and_no_others() {
    let (_sim, client) = start(two_wabas()).await;
    for token in [TOKEN, SECOND_TOKEN] {
        let numbers = client.waba_phone_numbers(WABA, token).await.expect("listed");
        let ids: Vec<_> = numbers.iter().filter_map(|n| n.id.as_deref()).collect();
        assert_eq!(ids, [PNID, SECOND], "with {token}");
        assert_eq!(numbers[1].quality_rating.as_deref(), Some("YELLOW"));
        assert_eq!(
            numbers[1].whatsapp_business_manager_messaging_limit.as_deref(),
            Some("TIER_10K"),
            "the portfolio's"
        );
        assert_eq!(numbers[0].throughput_per_second(), Some(1000), "the client's fields reach the listing");
    }
    let other = client.waba_phone_numbers(OTHER_WABA, OTHER_TOKEN).await.expect("listed");
    assert_eq!(other.iter().map(|n| n.id.as_deref()).collect::<Vec<_>>(), [Some(OTHER)]);
    assert_unsupported_get(client.waba_phone_numbers(OTHER_WABA, TOKEN).await, OTHER_WABA);
    assert_unsupported_get(client.waba_phone_numbers(WABA, OTHER_TOKEN).await, WABA);
}

fn many_numbers(count: usize) -> Config {
    let mut cfg = config();
    for i in 0..count {
        cfg.numbers.push(number(&format!("5{i:03}"), WABA, &format!("token-5{i:03}"), &format!("3460000{i:04}")));
    }
    cfg
}

#[tokio::test]
async fn the_listing_pages_with_limit_and_after() {
    let (_sim, client) = start(many_numbers(9)).await;
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = client.list_phone_numbers(WABA, TOKEN, after.as_deref(), 4).await.expect("page");
        pages += 1;
        assert!(page.data.len() <= 4);
        ids.extend(page.data.iter().filter_map(|n| n.id.clone()));
        match page.next_cursor() {
            Some(cursor) => after = Some(cursor.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3, "10 numbers, 4 a page");
    let mut expected = vec![PNID.to_owned()];
    expected.extend((0..9).map(|i| format!("5{i:03}")));
    assert_eq!(ids, expected, "every number once, in order");
}

#[tokio::test]
async fn waba_phone_numbers_reads_past_the_default_page() {
    let (_sim, client) = start(many_numbers(30)).await;
    let numbers = client.waba_phone_numbers(WABA, TOKEN).await.expect("listed");
    assert_eq!(numbers.len(), 31, "two pages of Meta's default 25");
    assert_eq!(numbers[30].id.as_deref(), Some("5029"));
}

#[tokio::test]
async fn paging_next_links_to_the_next_page_with_the_same_fields() {
    let (sim, _client) = start(many_numbers(2)).await;
    let first = format!("{}/v23.0/{WABA}/phone_numbers?limit=2&fields=throughput", sim.base_url());
    let (status, page) = get(&first, Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(keys(&page["data"][0]), ["id", "throughput"]);
    let next = page["paging"]["next"].as_str().expect("a next link");
    let (status, last) = get(next, Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(last["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(keys(&last["data"][0]), ["id", "throughput"]);
    assert!(last["paging"].get("next").is_none(), "no next on the last page");
    assert!(last["paging"]["cursors"]["after"].is_string());

    let (status, body) = get(&format!("{first}&after=not-a-cursor!"), Some(TOKEN)).await;
    assert_eq!((status, &body["error"]["code"]), (400, &Value::from(100)));
}
