//! The webhook tap: wa-sim posts its webhooks here, and the tap forwards
//! each one unchanged to the API and answers wa-sim with the API's answer.
//!
//! It exists because wa-sim's own log (`/_sim/webhooks`) keeps only counts
//! per POST, while the checks must know exactly which statuses and replies
//! the API acknowledged with a 200 (those must never be lost). When the API
//! cannot be reached the tap drops wa-sim's connection without an answer,
//! as a dead API would, so wa-sim retries exactly as it would without it.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, StatusCode, Uri, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
};
use serde_json::Value;

pub const SENT: u8 = 1;
pub const DELIVERED: u8 = 2;
pub const READ: u8 = 4;
pub const FAILED: u8 = 8;

/// What the API acknowledged with a 200.
#[derive(Debug, Default)]
pub struct Acknowledged {
    /// Per wamid, the statuses (a bit per kind).
    pub statuses: HashMap<String, u8>,
    /// Inbound message ids (the simulated replies).
    pub replies: HashSet<String>,
}

#[derive(Debug)]
pub struct Tap {
    upstream: String,
    http: reqwest::Client,
    acknowledged: Mutex<Acknowledged>,
    /// POSTs being forwarded right now: the backlog is not drained while any is.
    in_flight: AtomicI64,
    pub posts_ok: AtomicU64,
    pub posts_refused: AtomicU64,
    pub posts_unreachable: AtomicU64,
}

impl Tap {
    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn acknowledged(&self) -> std::sync::MutexGuard<'_, Acknowledged> {
        self.acknowledged.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, body: &[u8]) {
        let Ok(payload) = serde_json::from_slice::<Value>(body) else { return };
        let mut ack = self.acknowledged();
        let changes = payload["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|e| e["changes"].as_array().into_iter().flatten());
        for change in changes {
            let value = &change["value"];
            for status in value["statuses"].as_array().into_iter().flatten() {
                let bit = match status["status"].as_str() {
                    Some("sent") => SENT,
                    Some("delivered") => DELIVERED,
                    Some("read") => READ,
                    Some("failed") => FAILED,
                    _ => 0,
                };
                if let Some(wamid) = status["id"].as_str() {
                    *ack.statuses.entry(wamid.to_owned()).or_default() |= bit;
                }
            }
            for message in value["messages"].as_array().into_iter().flatten() {
                if let Some(id) = message["id"].as_str() {
                    ack.replies.insert(id.to_owned());
                }
            }
        }
    }
}

/// Counts a forwarded POST until its handler ends, also when wa-sim gives
/// up and the handler is dropped mid-way.
struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Listens on `port` and forwards to `upstream` (the API's base URL).
pub async fn start(upstream: String, port: u16) -> anyhow::Result<Arc<Tap>> {
    let tap = Arc::new(Tap {
        upstream,
        // Shorter than wa-sim's own timeout, so wa-sim hears the tap's answer.
        http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
        acknowledged: Mutex::default(),
        in_flight: AtomicI64::new(0),
        posts_ok: AtomicU64::new(0),
        posts_refused: AtomicU64::new(0),
        posts_unreachable: AtomicU64::new(0),
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.context("binding the webhook tap")?;
    let app = axum::Router::new().fallback(forward).with_state(tap.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(tap)
}

/// wa-sim's POST as the tap passes it on to `upstream`: the same path, body,
/// content type and signature.
pub(crate) fn upstream_request(
    http: &reqwest::Client,
    upstream: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> reqwest::RequestBuilder {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = http.post(format!("{upstream}{path}")).body(body);
    for name in [CONTENT_TYPE.as_str(), whatsapp::SIGNATURE_HEADER] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value);
        }
    }
    request
}

async fn forward(State(tap): State<Arc<Tap>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    tap.in_flight.fetch_add(1, Ordering::Relaxed);
    let _guard = InFlight(&tap.in_flight);
    let answer = match upstream_request(&tap.http, &tap.upstream, &uri, &headers, body.clone()).send().await {
        Ok(response) => {
            let status = response.status();
            let content_type = response.headers().get(CONTENT_TYPE).cloned();
            response.bytes().await.ok().map(|b| (status, content_type, b))
        }
        Err(_) => None,
    };
    let Some((status, content_type, bytes)) = answer else {
        tap.posts_unreachable.fetch_add(1, Ordering::Relaxed);
        return dropped_connection();
    };
    if status == StatusCode::OK {
        tap.record(&body);
        tap.posts_ok.fetch_add(1, Ordering::Relaxed);
    } else {
        tap.posts_refused.fetch_add(1, Ordering::Relaxed);
    }
    let mut response = (status, bytes).into_response();
    if let Some(ct) = content_type {
        response.headers_mut().insert(CONTENT_TYPE, ct);
    }
    response
}

/// A body that fails before its first byte: hyper then closes the
/// connection without writing a response head.
fn dropped_connection() -> Response {
    let failing = futures::stream::once(async { Err::<Bytes, _>(std::io::Error::other("the API is unreachable")) });
    Response::new(Body::from_stream(failing))
}
