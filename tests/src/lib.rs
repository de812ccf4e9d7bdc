//! Helpers for the end-to-end tests: [`TestApp::spawn`] serves the real
//! router on a loopback port, against the per-test database that
//! `#[sqlx::test]` creates, the Redis in `REDIS_URL`, and its own in-process
//! WhatsApp Cloud API simulator ([`sim`]).

pub mod browser;
pub mod campaigns;
pub mod console;
pub mod dead;
pub mod sim;
pub mod tls;

use std::{future::IntoFuture, net::SocketAddr, time::Duration};

use api::{AppState, Limits, Settings};
use process::{ConnectionArgs, Secret, ops::Readiness, telemetry};
use serde_json::Value;
use store::{OrgId, PgPool, api_keys, crypto::Cipher, orgs};
use tokio_util::sync::CancellationToken;

pub use reqwest::StatusCode;
use serde_json::json;
use wa_sim::Simulator;

/// The Redis the tests use (started by `scripts/services`).
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:56379".to_owned())
}

/// The `WEBHOOK_VERIFY_TOKEN` of test apps.
pub const WEBHOOK_VERIFY_TOKEN: &str = "test-webhook-verify-token";

/// A simulator webhook URL that [`TestApp`] replaces with its own endpoint.
const TO_THIS_APP: &str = "<this app>";

/// A running API with one organization and its admin key.
#[derive(Debug)]
pub struct TestApp {
    pub base: String,
    /// The operations listener: `/metrics`.
    pub metrics_base: String,
    pub pg: PgPool,
    pub http: reqwest::Client,
    pub org: OrgId,
    pub key: String,
    /// Its `APP_ENCRYPTION_KEY` (base64).
    pub encryption_key: String,
    /// The server's state, to observe it (e.g. free import slots).
    pub state: AppState,
    /// The Cloud API this app talks to.
    pub sim: Simulator,
    stop: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl TestApp {
    pub async fn spawn(pg: PgPool) -> Self {
        Self::spawn_with(pg, Limits::default()).await
    }

    pub async fn spawn_with(pg: PgPool, limits: Limits) -> Self {
        Self::spawn_full(pg, limits, sim::config(), Some(WEBHOOK_VERIFY_TOKEN), test_settings()).await
    }

    /// With these product settings (test apps otherwise allow bot flows on
    /// loopback, where test bots listen).
    pub async fn spawn_with_settings(pg: PgPool, settings: Settings) -> Self {
        Self::spawn_full(pg, Limits::default(), sim::config(), Some(WEBHOOK_VERIFY_TOKEN), settings).await
    }

    /// With a simulator configured by the test.
    pub async fn spawn_with_sim(pg: PgPool, sim_config: wa_sim::Config) -> Self {
        Self::spawn_full(pg, Limits::default(), sim_config, Some(WEBHOOK_VERIFY_TOKEN), test_settings()).await
    }

    /// With a simulator that sends its signed webhooks (statuses, replies) to
    /// this app's `/webhooks/whatsapp`, configured by `webhooks`.
    pub async fn spawn_with_webhooks(pg: PgPool, webhooks: impl FnOnce(&mut wa_sim::config::WebhookConfig)) -> Self {
        let mut config = sim::config();
        config.webhook.url = Some(TO_THIS_APP.to_owned());
        webhooks(&mut config.webhook);
        Self::spawn_full(pg, Limits::default(), config, Some(WEBHOOK_VERIFY_TOKEN), test_settings()).await
    }

    /// With `sim_config`'s numbers and templates, and its webhooks sent to this app.
    pub async fn spawn_with_sim_webhooks(
        pg: PgPool,
        mut sim_config: wa_sim::Config,
        webhooks: impl FnOnce(&mut wa_sim::config::WebhookConfig),
    ) -> Self {
        sim_config.webhook.url = Some(TO_THIS_APP.to_owned());
        webhooks(&mut sim_config.webhook);
        Self::spawn_full(pg, Limits::default(), sim_config, Some(WEBHOOK_VERIFY_TOKEN), test_settings()).await
    }

    /// With `sim_config` (its webhooks sent to this app) and these product settings.
    pub async fn spawn_with_sim_and_settings(pg: PgPool, mut sim_config: wa_sim::Config, settings: Settings) -> Self {
        sim_config.webhook.url = Some(TO_THIS_APP.to_owned());
        Self::spawn_full(pg, Limits::default(), sim_config, Some(WEBHOOK_VERIFY_TOKEN), settings).await
    }

    /// Without `WEBHOOK_VERIFY_TOKEN`.
    pub async fn spawn_without_webhook_token(pg: PgPool) -> Self {
        Self::spawn_full(pg, Limits::default(), sim::config(), None, test_settings()).await
    }

    async fn spawn_full(
        pg: PgPool,
        limits: Limits,
        sim_config: wa_sim::Config,
        webhook_verify_token: Option<&str>,
        settings: Settings,
    ) -> Self {
        let stop = CancellationToken::new();
        // Bound first, so a simulator that sends webhooks knows where to.
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let mut sim_config = sim_config;
        if sim_config.webhook.url.as_deref() == Some(TO_THIS_APP) {
            sim_config.webhook.url = Some(format!("{base}/webhooks/whatsapp"));
        }
        let sim = Simulator::start_until(sim_config, stop.clone().cancelled_owned()).await.expect("wa-sim starts");
        let cloud = whatsapp::CloudClient::new(whatsapp::ClientConfig {
            base_url: sim.base_url(),
            request_timeout: Duration::from_secs(10),
            ..whatsapp::ClientConfig::default()
        })
        .expect("Cloud client");
        let connections = ConnectionArgs {
            database_url: Secret::new("unused: the pool is given"),
            database_ca_file: None,
            database_max_connections: 5,
            redis_url: Secret::new(redis_url()),
            redis_ca_file: None,
        };
        let redis = connections.redis().await.expect("Redis must run (scripts/services up)");
        let encryption_key = Cipher::generate_key();
        let cipher = Cipher::from_base64(&encryption_key).expect("fresh key");
        let state = AppState::new(pg.clone(), cipher, cloud, limits, settings)
            .with_webhook_verify_token(webhook_verify_token.map(Secret::new))
            // Queues of its own in the shared Redis, as a deployment's `QUEUE_PREFIX` gives.
            .with_dead_letters(queue::DeadLetters::new(
                pg.clone(),
                redis.clone(),
                format!("test{}.", uuid::Uuid::new_v4().simple()),
            ));
        let readiness = Readiness { pg: pg.clone(), redis };
        let router = api::router(state.clone(), readiness.clone());
        let server = api::ApiServer::from_listener(listener, router);
        tokio::spawn(server.run(stop.clone().cancelled_owned()));
        tokio::spawn(api::uptime::stamp_webhook_uptime(pg.clone(), stop.clone()));
        // `/metrics` on a listener of its own, as `METRICS_ADDR` gives.
        let metrics = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind");
        let metrics_base = format!("http://{}", metrics.local_addr().expect("addr"));
        let ops = process::ops::router(readiness, telemetry::metrics_handle());
        tokio::spawn(axum::serve(metrics, ops).with_graceful_shutdown(stop.clone().cancelled_owned()).into_future());
        let (org, key) = new_org(&pg, "Acme").await;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
        Self { base, metrics_base, pg, http, org, key, encryption_key, state, sim, stop }
    }

    /// Registers the simulator's number and returns its id.
    pub async fn register_number(&self) -> i64 {
        self.register_number_with(&self.key, sim::PHONE_NUMBER_ID, sim::WABA_ID, sim::ACCESS_TOKEN, sim::APP_SECRET)
            .await
    }

    /// Registers the simulator's second number ([`sim::OTHER_PHONE_NUMBER_ID`])
    /// with another organization's key; returns its id.
    pub async fn register_other_number(&self, key: &str) -> i64 {
        let (number, waba) = (sim::OTHER_PHONE_NUMBER_ID, sim::OTHER_WABA_ID);
        self.register_number_with(key, number, waba, sim::OTHER_ACCESS_TOKEN, sim::OTHER_APP_SECRET).await
    }

    async fn register_number_with(&self, key: &str, number: &str, waba: &str, token: &str, secret: &str) -> i64 {
        let body = json!({"phone_number_id": number, "waba_id": waba, "access_token": token, "app_secret": secret});
        let (status, body) = send(self.http.post(self.url("/v1/numbers")).bearer_auth(key).json(&body)).await;
        assert_eq!(status, StatusCode::CREATED, "registering the simulator's number {number}: {body}");
        body["id"].as_i64().expect("number id")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with this app's admin key.
    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(&self.key)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        send(self.req(reqwest::Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        send(self.req(reqwest::Method::POST, path).json(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        send(self.req(reqwest::Method::PUT, path).json(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        send(self.req(reqwest::Method::PATCH, path).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        send(self.req(reqwest::Method::DELETE, path)).await
    }

    pub async fn import_csv(&self, csv: impl Into<reqwest::Body>) -> (StatusCode, Value) {
        send(self.req(reqwest::Method::POST, "/v1/contacts/import").header("content-type", "text/csv").body(csv)).await
    }

    /// POSTs a raw webhook body to `/webhooks/whatsapp` with this
    /// `X-Hub-Signature-256` (none when `None`), without an API key.
    pub async fn post_webhook(&self, body: &[u8], signature: Option<&str>) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(self.url("/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            req = req.header(whatsapp::SIGNATURE_HEADER, signature);
        }
        send(req).await
    }

    /// Another organization with its own admin key, on the same server.
    pub async fn other_org(&self) -> (OrgId, String) {
        new_org(&self.pg, "Other Org").await
    }
}

async fn new_org(pg: &PgPool, name: &str) -> (OrgId, String) {
    let org = orgs::create(pg, name).await.expect("org");
    let key = api_keys::create(pg, OrgId(org.id), "test", &[api_keys::SCOPE_ADMIN.to_owned()]).await.expect("key");
    (OrgId(org.id), key.secret)
}

/// The settings of test apps: the defaults, with bot flows allowed on
/// loopback (`BOT_EGRESS_ALLOW_PRIVATE`), where test bots listen.
pub fn test_settings() -> Settings {
    Settings { allow_private_bot_targets: true, ..Settings::default() }
}

/// Sends a request and returns the status and the JSON body (`Null` when empty).
pub async fn send(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let bytes = resp.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, body)
}

/// Replaces a number's stored access token, as when Meta revokes the one it
/// was registered with (the API would refuse a token Meta does not accept).
pub async fn replace_token(app: &TestApp, number_id: i64, token: &str) {
    let changes = store::numbers::NumberChanges { access_token: Some(token), ..Default::default() };
    store::numbers::update(&app.pg, &app.state.cipher, app.org, number_id, &changes)
        .await
        .expect("replacing the token")
        .expect("the number exists");
}

/// The error code of an error body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

/// Polls `check` until it returns `Some`, or panics after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
