//! POSTs one signed batch, retrying with exponential back-off until the
//! receiver answers 200 or the attempts run out. Batches go out
//! concurrently, as Meta's do.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use crate::{
    config::WebhookConfig,
    state::{Delivery, unix_ms},
};

#[derive(Debug, Clone)]
pub(super) struct Sender {
    http: reqwest::Client,
    url: Arc<str>,
    config: Arc<WebhookConfig>,
    log: Arc<Mutex<Vec<Delivery>>>,
    next_batch: Arc<AtomicU64>,
}

impl Sender {
    pub fn new(
        url: String,
        config: Arc<WebhookConfig>,
        log: Arc<Mutex<Vec<Delivery>>>,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(Duration::from_millis(config.request_timeout_ms)).build()?;
        Ok(Self { http, url: url.into(), config, log, next_batch: Arc::new(AtomicU64::new(1)) })
    }

    pub fn spawn(&self, body: Vec<u8>, app_secret: String, statuses: usize, messages: usize) {
        let sender = self.clone();
        let batch = self.next_batch.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let signature = whatsapp::sign(app_secret.as_bytes(), &body);
            let mut backoff = Duration::from_millis(sender.config.retry_initial_backoff_ms);
            for attempt in 1..=sender.config.max_attempts.max(1) {
                let result = sender
                    .http
                    .post(&*sender.url)
                    .header("content-type", "application/json")
                    .header(whatsapp::SIGNATURE_HEADER, &signature)
                    .body(body.clone())
                    .send()
                    .await;
                let (status_code, error) = match &result {
                    Ok(response) => (Some(response.status().as_u16()), None),
                    Err(e) => (None, Some(e.to_string())),
                };
                let done = status_code == Some(200);
                let record = Delivery { at: unix_ms(), attempt, batch, status_code, error, statuses, messages };
                sender.log.lock().unwrap_or_else(|p| p.into_inner()).push(record);
                if done {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        });
    }
}
