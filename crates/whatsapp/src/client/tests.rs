//! Runs the client against a small axum stand-in for Graph on 127.0.0.1:0.
//! Each phone-number id in the path selects one scripted behaviour.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};

use super::*;
use crate::{
    error::ErrorClass,
    send::{Component, Language, Template, TextParameter},
};

mod phone_numbers;

const TOKEN: &str = "EAAG-secret-test-token";

#[derive(Debug)]
struct Recorded {
    authorization: Option<String>,
    content_type: Option<String>,
    query: HashMap<String, String>,
    body: Bytes,
}

type Seen = Arc<Mutex<Vec<Recorded>>>;

fn record(seen: &Seen, headers: &HeaderMap, query: HashMap<String, String>, body: Bytes) {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let recorded = Recorded {
        authorization: header(header::AUTHORIZATION),
        content_type: header(header::CONTENT_TYPE),
        query,
        body,
    };
    seen.lock().expect("lock").push(recorded);
}

fn graph_error(code: i64, title: &str, details: &str) -> Value {
    json!({"error": {"message": format!("(#{code}) {title}"), "type": "OAuthException", "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details}, "fbtrace_id": "AbCdEf"}})
}

async fn messages(State(seen): State<Seen>, Path(pnid): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    record(&seen, &headers, HashMap::new(), body);
    let accepted = json!({"messaging_product": "whatsapp",
        "contacts": [{"input": "+16505551234", "wa_id": "16505551234"}],
        "messages": [{"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBIyQjM2RTlERTY4QjFGNzUwNDgA"}]});
    match pnid.as_str() {
        "ok" => Json(accepted).into_response(),
        "not-on-whatsapp" => {
            (StatusCode::BAD_REQUEST, Json(graph_error(131026, "Message undeliverable", "Undeliverable")))
                .into_response()
        }
        "throttled" => {
            let body = graph_error(130429, "Rate limit hit", "Cloud API message throughput has been reached.");
            (StatusCode::BAD_REQUEST, Json(body)).into_response()
        }
        "broken" => (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded").into_response(),
        "garbled" => (StatusCode::OK, "<html>not json</html>").into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Json(accepted).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn templates(
    State(seen): State<Seen>,
    Path(waba): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    record(&seen, &headers, query, Bytes::new());
    if waba == "expired" {
        let body = graph_error(190, "Error validating access token", "Session has expired");
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    Json(json!({"data": [{"name": "promo", "language": "en_US", "status": "APPROVED", "category": "MARKETING",
        "id": "920070352646140", "components": [{"type": "BODY", "text": "Hi {{1}}"}]}],
        "paging": {"cursors": {"before": "MAZDZD", "after": "MjQZD"}, "next": "https://example.invalid/next"}}))
    .into_response()
}

async fn media(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> Response {
    record(&seen, &headers, HashMap::new(), body);
    Json(json!({"id": "1037543291543636"})).into_response()
}

async fn spawn_graph() -> (CloudClient, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route("/v23.0/{pnid}/messages", post(messages))
        .route("/v23.0/{waba}/message_templates", get(templates))
        .route("/v23.0/{pnid}/media", post(media))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (client_for(format!("http://{addr}/")), seen)
}

fn client_for(base_url: String) -> CloudClient {
    CloudClient::new(ClientConfig {
        base_url,
        request_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_secs(2),
        ..ClientConfig::default()
    })
    .expect("client builds")
}

fn request() -> SendTemplateRequest {
    SendTemplateRequest {
        to: "+16505551234".into(),
        template: Template {
            name: "order_update_v1".into(),
            language: Language { code: "en_US".into() },
            components: vec![Component::Body { parameters: vec![TextParameter::positional("Alex")] }],
        },
        biz_opaque_callback_data: Some("campaign=7;row=42".into()),
    }
}

fn assert_no_token(error: &impl std::fmt::Debug) {
    assert!(!format!("{error:?}").contains(TOKEN), "token leaked: {error:?}");
}

#[tokio::test]
async fn send_posts_the_template_with_bearer_auth_and_returns_the_wamid() {
    let (client, seen) = spawn_graph().await;
    let response = client.send_template("ok", TOKEN, &request()).await.expect("sent");
    assert_eq!(response.message_id(), Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBIyQjM2RTlERTY4QjFGNzUwNDgA"));
    assert_eq!(response.contacts[0].wa_id.as_deref(), Some("16505551234"));

    let seen = seen.lock().expect("lock");
    let recorded = &seen[0];
    assert_eq!(recorded.authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(recorded.content_type.as_deref(), Some("application/json"));
    let body: Value = serde_json::from_slice(&recorded.body).expect("json body");
    assert_eq!(body["biz_opaque_callback_data"], "campaign=7;row=42");
    assert_eq!(
        (&body["messaging_product"], &body["type"], &body["to"]),
        (&json!("whatsapp"), &json!("template"), &json!("+16505551234"))
    );
    assert_eq!(body["template"]["components"][0]["parameters"][0]["text"], "Alex");
}

#[tokio::test]
async fn graph_errors_are_not_sent_and_classified() {
    let (client, _) = spawn_graph().await;
    let cases = [
        ("not-on-whatsapp", 131026, ErrorClass::Permanent, "not_whatsapp_user"),
        ("throttled", 130429, ErrorClass::RetryLater, "rate_limited"),
    ];
    for (pnid, code, class, stable_code) in cases {
        let error = client.send_template(pnid, TOKEN, &request()).await.expect_err("rejected");
        assert_no_token(&error);
        let SendError::NotSent { cause: NotSent::Graph { status, .. } } = &error else { panic!("{error:?}") };
        assert_eq!(*status, 400);
        let (graph, classified) = error.graph_error().expect("graph error");
        assert_eq!((graph.code, classified.class, classified.stable_code.as_ref()), (code, class, stable_code));
    }
}

#[tokio::test]
async fn a_5xx_without_graph_body_is_outcome_unknown() {
    // A 502/504 from Meta's edge may come after the message was passed on and sent.
    let (client, seen) = spawn_graph().await;
    let error = client.send_template("broken", TOKEN, &request()).await.expect_err("500");
    let SendError::OutcomeUnknown { cause: OutcomeUnknown::ServerError { status } } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(*status, 500);
    assert!(error.graph_error().is_none());
    assert_eq!(seen.lock().expect("lock").len(), 1, "the request did reach the server");
}

#[tokio::test]
async fn a_timeout_after_sending_is_outcome_unknown() {
    let (client, seen) = spawn_graph().await;
    let error = client.send_template("slow", TOKEN, &request()).await.expect_err("times out");
    assert_no_token(&error);
    let SendError::OutcomeUnknown { cause: OutcomeUnknown::Transport(e) } = &error else { panic!("{error:?}") };
    assert!(e.is_timeout());
    assert_eq!(seen.lock().expect("lock").len(), 1, "the server did receive the request");
}

#[tokio::test]
async fn an_unreadable_success_is_outcome_unknown() {
    let (client, _) = spawn_graph().await;
    let error = client.send_template("garbled", TOKEN, &request()).await.expect_err("bad body");
    let SendError::OutcomeUnknown { cause: OutcomeUnknown::UnreadableSuccess { status: 200, .. } } = error else {
        panic!("{error:?}")
    };
}

#[tokio::test]
async fn connection_refused_is_not_sent() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    let client = client_for(format!("http://{addr}"));
    let error = client.send_template("ok", TOKEN, &request()).await.expect_err("refused");
    assert_no_token(&error);
    let SendError::NotSent { cause: NotSent::Connect(e) } = &error else { panic!("{error:?}") };
    assert!(e.is_connect());
}

#[tokio::test]
async fn a_connection_dropped_after_the_request_was_written_is_outcome_unknown() {
    // The server read the whole request, then the connection went away
    // without an answer: Meta may have passed the message on.
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        // Headers, then the JSON body's closing brace.
        while !(seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.ends_with(b"}")) {
            let n = socket.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        drop(socket);
        seen
    });
    let client = client_for(format!("http://{addr}"));
    let error = client.send_template("ok", TOKEN, &request()).await.expect_err("dropped");
    assert_no_token(&error);
    let SendError::OutcomeUnknown { cause: OutcomeUnknown::Transport(e) } = &error else { panic!("{error:?}") };
    assert!(!e.is_connect(), "{e:?}");
    let seen = server.await.expect("server");
    assert!(String::from_utf8_lossy(&seen).contains("\"template\""), "the request was written in full");
}

#[tokio::test]
async fn an_unbuildable_request_is_not_sent() {
    let client = client_for("not a url".to_owned());
    let error = client.send_template("ok", TOKEN, &request()).await.expect_err("bad url");
    let SendError::NotSent { cause: NotSent::InvalidRequest(_) } = &error else { panic!("{error:?}") };
}

#[tokio::test]
async fn list_templates_pages_with_after_and_limit() {
    let (client, seen) = spawn_graph().await;
    let page = client.list_templates("waba1", TOKEN, Some("MAZDZD"), 50).await.expect("page");
    assert_eq!(page.data[0].name, "promo");
    assert_eq!(page.next_cursor(), Some("MjQZD"));
    client.list_templates("waba1", TOKEN, None, 10).await.expect("first page");

    let seen = seen.lock().expect("lock");
    assert_eq!(seen[0].query.get("after").map(String::as_str), Some("MAZDZD"));
    assert_eq!(seen[0].query.get("limit").map(String::as_str), Some("50"));
    assert_eq!((seen[1].query.get("after"), seen[1].query.get("limit").map(String::as_str)), (None, Some("10")));
    assert_eq!(seen[1].authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
}

#[tokio::test]
async fn list_templates_surfaces_graph_errors() {
    let (client, _) = spawn_graph().await;
    let error = client.list_templates("expired", TOKEN, None, 10).await.expect_err("401");
    assert_no_token(&error);
    let ApiError::Graph { status: 401, error } = error else { panic!("{error:?}") };
    assert_eq!(error.classify().stable_code, "access_token_expired");
}

#[tokio::test]
async fn upload_media_sends_a_multipart_form() {
    let (client, seen) = spawn_graph().await;
    let pdf = b"%PDF-1.4 tiny".to_vec();
    let uploaded = client.upload_media("pn1", TOKEN, pdf, "application/pdf", "menu.pdf").await.expect("uploaded");
    assert_eq!(uploaded.id, "1037543291543636");

    let seen = seen.lock().expect("lock");
    assert!(seen[0].content_type.as_deref().is_some_and(|c| c.starts_with("multipart/form-data; boundary=")));
    let body = String::from_utf8_lossy(&seen[0].body);
    for needle in [
        "name=\"messaging_product\"\r\n\r\nwhatsapp",
        "name=\"type\"\r\n\r\napplication/pdf",
        "name=\"file\"; filename=\"menu.pdf\"",
        "Content-Type: application/pdf",
        "%PDF-1.4 tiny",
    ] {
        assert!(body.contains(needle), "{needle:?} missing from {body}");
    }
}
