//! The campaigns' bot: acknowledges every signed delivery and remembers
//! which replies (`message_id`) reached it. A delivery whose
//! `X-Signature-256` does not verify with the flow's secret is refused and
//! counted: the engine signing wrongly is a finding too.

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::Context;
use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use serde_json::Value;

#[derive(Debug)]
pub struct Bot {
    secret: String,
    received: Mutex<HashSet<String>>,
    /// Every accepted POST, repeats included.
    pub deliveries: AtomicU64,
    pub bad_signatures: AtomicU64,
}

impl Bot {
    pub fn received(&self) -> HashSet<String> {
        self.received.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Serves `POST /bot` on `port`.
pub async fn start(secret: String, port: u16) -> anyhow::Result<Arc<Bot>> {
    let bot = Arc::new(Bot {
        secret,
        received: Mutex::default(),
        deliveries: AtomicU64::new(0),
        bad_signatures: AtomicU64::new(0),
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.context("binding the bot")?;
    let app = axum::Router::new().route("/bot", post(receive)).with_state(bot.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(bot)
}

async fn receive(State(bot): State<Arc<Bot>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers.get("x-signature-256").and_then(|v| v.to_str().ok());
    if whatsapp::signature::verify(bot.secret.as_bytes(), &body, signature).is_err() {
        bot.bad_signatures.fetch_add(1, Ordering::Relaxed);
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(delivery) = serde_json::from_slice::<Value>(&body) else { return StatusCode::BAD_REQUEST };
    let Some(id) = delivery["message_id"].as_str() else { return StatusCode::BAD_REQUEST };
    bot.received.lock().unwrap_or_else(PoisonError::into_inner).insert(id.to_owned());
    bot.deliveries.fetch_add(1, Ordering::Relaxed);
    StatusCode::OK
}
