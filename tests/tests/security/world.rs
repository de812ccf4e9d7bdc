//! Two organizations on one deployment: the first with one of every
//! resource the API has (made through the API where it can be), the second
//! with its own number and key. Every operation of the document has a
//! request here ([`World::call`]); an operation without one fails the suite,
//! so a new route cannot go uncovered. Every answer goes through
//! [`World::send`], which fails on a 5xx, a status the document does not list
//! for the operation, or a JSON body that does not match the documented
//! schema.

use std::sync::Mutex;

use chrono::{Duration as TimeDelta, Utc};
use e2e::{TestApp, campaigns::png, sim};
use queue::{DeadQueue, SendJob};
use serde_json::{Value, json};
use sqlx::PgPool;
use store::OrgId;

use crate::doc::{Doc, Op, Seen};

/// The ids of the first organization's resources.
#[derive(Debug, Clone)]
pub struct Ids {
    pub contact: i64,
    pub number: i64,
    /// A key that may be revoked by the tests.
    pub spare_key: i64,
    pub template: i64,
    pub bot_flow: i64,
    pub media: i64,
    pub campaign: i64,
    pub report: i64,
    /// A dead-lettered webhook event (the `status` queue).
    pub dead_event: i64,
    /// A dead reply (the `reply` queue).
    pub dead_reply: String,
    /// A dead send job (the `send` queue).
    pub dead_send: String,
}

#[derive(Debug)]
pub struct World {
    pub app: TestApp,
    pub doc: Doc,
    pub ids: Ids,
    /// The first organization's key without the `admin` scope.
    pub reader_key: String,
    /// A revoked key of the first organization.
    pub revoked_key: String,
    pub other_key: String,
    pub seen: Mutex<Seen>,
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    None,
    Json(Value),
    Raw { content_type: &'static str, bytes: Vec<u8> },
}

/// One request for an operation: its path with ids, query string and body.
#[derive(Debug, Clone)]
pub struct Call {
    pub path: String,
    pub query: String,
    pub body: Body,
}

/// How a request authenticates.
#[derive(Debug, Clone, Copy)]
pub enum Key<'a> {
    None,
    Bearer(&'a str),
    /// The whole `Authorization` header.
    Header(&'a str),
}

impl World {
    pub async fn build(pg: PgPool) -> Self {
        let app = TestApp::spawn(pg).await;
        let (_, raw) = e2e::send(app.http.get(app.url("/openapi.json"))).await;
        let doc = Doc::new(raw);
        let setup = app.campaign_setup().await;
        let contacts = app
            .contacts(json!([
                {"phone": "+34612000001", "name": "Ana", "tags": ["vip"], "valued_tags": {"order_id": "A-1"}},
                {"phone": "+34612000002", "name": "Rui", "tags": ["vip"], "valued_tags": {"order_id": "A-2"}},
            ]))
            .await;
        let media = app.upload_media(setup.number_id, "image/png", &png()).await;
        let campaign = app.ready_campaign(&setup, "Spring", json!({})).await["id"].as_i64().expect("campaign id");
        let (_, report) = app.post(&format!("/v1/campaigns/{campaign}/reports"), json!({})).await;
        let key = |name: &str| {
            let app = &app;
            let name = name.to_owned();
            async move {
                let (_, created) = app.post("/v1/api-keys", json!({"name": name})).await;
                (created["id"].as_i64().expect("key id"), created["secret"].as_str().expect("secret").to_owned())
            }
        };
        let (_, reader_key) = key("reader").await;
        let (spare_key, _) = key("spare").await;
        let (revoked, revoked_key) = key("revoked").await;
        app.delete(&format!("/v1/api-keys/{revoked}")).await;
        let dead_event = dead_event(&app).await;
        let dead_reply = dead_reply(&app, contacts[0]).await;
        e2e::dead::make_dead(&app, DeadQueue::Send, &[SendJob::new(campaign, contacts[0], 0)]).await;
        let (_, page) = app.get("/v1/dead-letters/send").await;
        let dead_send = page["data"][0]["id"].as_str().expect("a dead send").to_owned();
        let (_, other_key) = app.other_org().await;
        app.register_other_number(&other_key).await;
        let ids = Ids {
            contact: contacts[0],
            number: setup.number_id,
            spare_key,
            template: app.template_id("order_update", "en_US").await,
            bot_flow: setup.bot_flow_id,
            media,
            campaign,
            report: report["id"].as_i64().expect("report id"),
            dead_event,
            dead_reply,
            dead_send,
        };
        Self { app, doc, ids, reader_key, revoked_key, other_key, seen: Mutex::default() }
    }

    /// A request for `op` on the first organization's resources that it
    /// would accept: every operation of the document has one.
    pub fn call(&self, op: &Op) -> Call {
        let ids = &self.ids;
        let media_query = format!("number_id={}&filename=header.png", ids.number);
        let handshake =
            format!("hub.mode=subscribe&hub.verify_token={}&hub.challenge=1158201444", e2e::WEBHOOK_VERIFY_TOKEN);
        let (path, query, body): (String, &str, Body) = match (op.method.as_str(), op.path.as_str()) {
            ("GET", "/v1/contacts") => ("/v1/contacts".into(), "tag=vip&limit=10", Body::None),
            ("POST", "/v1/contacts/bulk") => (
                op.path.clone(),
                "",
                Body::Json(json!({"contacts": [
                    {"phone": "+34612000003", "name": "Eva", "wa_id": "34612000003", "tags": ["vip"],
                     "valued_tags": {"order_id": "A-3"}}
                ]})),
            ),
            ("POST", "/v1/contacts/import") => (
                op.path.clone(),
                "",
                Body::Raw {
                    content_type: "text/csv",
                    bytes: b"phone,name,wa_id,tags,vt:order_id\n+34612000004,Leo,34612000004,vip,A-4\n".to_vec(),
                },
            ),
            ("GET" | "DELETE", "/v1/contacts/{id}") => (format!("/v1/contacts/{}", ids.contact), "", Body::None),
            ("POST", "/v1/contacts/{id}/tags") => {
                (format!("/v1/contacts/{}/tags", ids.contact), "", Body::Json(json!({"tags": ["madrid"]})))
            }
            ("DELETE", "/v1/contacts/{id}/tags/{tag}") => {
                (format!("/v1/contacts/{}/tags/madrid", ids.contact), "", Body::None)
            }
            ("PUT", "/v1/contacts/{id}/valued-tags/{key}") => {
                (format!("/v1/contacts/{}/valued-tags/plan", ids.contact), "", Body::Json(json!({"value": "gold"})))
            }
            ("DELETE", "/v1/contacts/{id}/valued-tags/{key}") => {
                (format!("/v1/contacts/{}/valued-tags/plan", ids.contact), "", Body::None)
            }
            ("POST", "/v1/contacts/{id}/inbox-case") => {
                (format!("/v1/contacts/{}/inbox-case", ids.contact), "", Body::Json(json!({"note": "call back"})))
            }
            ("DELETE", "/v1/contacts/{id}/inbox-case") => {
                (format!("/v1/contacts/{}/inbox-case", ids.contact), "", Body::None)
            }
            ("GET", "/v1/numbers") => (op.path.clone(), "", Body::None),
            ("POST", "/v1/numbers") => (
                op.path.clone(),
                "",
                Body::Json(json!({"phone_number_id": sim::PHONE_NUMBER_ID, "waba_id": sim::WABA_ID,
                                  "access_token": sim::ACCESS_TOKEN, "app_secret": sim::APP_SECRET})),
            ),
            ("GET" | "DELETE", "/v1/numbers/{id}") => (format!("/v1/numbers/{}", ids.number), "", Body::None),
            ("PATCH", "/v1/numbers/{id}") => (
                format!("/v1/numbers/{}", ids.number),
                "",
                Body::Json(json!({"waba_id": sim::WABA_ID, "access_token": sim::ACCESS_TOKEN,
                                  "app_secret": sim::APP_SECRET})),
            ),
            ("GET", "/v1/api-keys") => (op.path.clone(), "", Body::None),
            ("POST", "/v1/api-keys") => (op.path.clone(), "", Body::Json(json!({"name": "ci", "scopes": ["admin"]}))),
            ("DELETE", "/v1/api-keys/{id}") => (format!("/v1/api-keys/{}", ids.spare_key), "", Body::None),
            ("GET", "/v1/templates") => {
                (op.path.clone(), "name=order_update&language=en_US&status=APPROVED", Body::None)
            }
            ("POST", "/v1/templates/sync") => (op.path.clone(), "", Body::Json(json!({"waba_id": sim::WABA_ID}))),
            ("GET", "/v1/templates/{id}") => (format!("/v1/templates/{}", ids.template), "", Body::None),
            ("GET", "/v1/bot-flows") => (op.path.clone(), "", Body::None),
            ("POST", "/v1/bot-flows") => (
                op.path.clone(),
                "",
                Body::Json(json!({"name": "Sales bot", "endpoint_url": "https://bot.example.com/hook",
                                  "secret": "0123456789abcdef-sales"})),
            ),
            ("GET" | "DELETE", "/v1/bot-flows/{id}") => (format!("/v1/bot-flows/{}", ids.bot_flow), "", Body::None),
            ("PATCH", "/v1/bot-flows/{id}") => (
                format!("/v1/bot-flows/{}", ids.bot_flow),
                "",
                Body::Json(json!({"name": "Support bot", "endpoint_url": "https://bot.example.com/support",
                                  "secret": "0123456789abcdef-support"})),
            ),
            ("GET", "/v1/media") => (op.path.clone(), "", Body::None),
            ("POST", "/v1/media") => {
                (op.path.clone(), &media_query, Body::Raw { content_type: "image/png", bytes: png() })
            }
            ("GET" | "DELETE", "/v1/media/{id}") => (format!("/v1/media/{}", ids.media), "", Body::None),
            ("POST", "/v1/media/{id}/refresh") => (format!("/v1/media/{}/refresh", ids.media), "", Body::None),
            ("GET", "/v1/campaigns") => (op.path.clone(), "kind=real&state=ready&limit=10", Body::None),
            ("POST", "/v1/campaigns") => (
                op.path.clone(),
                "",
                Body::Json(json!({
                    "name": "Autumn", "number_id": ids.number, "audience": {"tags": ["vip"], "valued_tags": {"order_id": "A-1"}, "match": "any"},
                    "template_id": ids.template, "bot_flow_id": ids.bot_flow, "delivery_policy": "at_most_once",
                    "bindings": [{"param": "1", "kind": "text", "value": "friend"}, {"param": "2", "kind": "valued_tag", "key": "order_id"}],
                })),
            ),
            ("GET" | "DELETE", "/v1/campaigns/{id}") => (format!("/v1/campaigns/{}", ids.campaign), "", Body::None),
            ("PATCH", "/v1/campaigns/{id}") => (
                format!("/v1/campaigns/{}", ids.campaign),
                "",
                Body::Json(json!({"name": "Spring", "audience": {"tags": ["vip"]},
                                  "bindings": [{"param": "1", "kind": "contact_name"}, {"param": "2", "kind": "valued_tag", "key": "order_id"}]})),
            ),
            ("POST", "/v1/campaigns/{id}/launch") => {
                (format!("/v1/campaigns/{}/launch", ids.campaign), "", Body::Json(json!({"pace_per_second": 10})))
            }
            ("POST", "/v1/campaigns/{id}/schedule") => (
                format!("/v1/campaigns/{}/schedule", ids.campaign),
                "",
                Body::Json(json!({"at": (Utc::now() + TimeDelta::days(2)).to_rfc3339(), "contacts_per_hour": 600})),
            ),
            ("DELETE", "/v1/campaigns/{id}/schedule") => {
                (format!("/v1/campaigns/{}/schedule", ids.campaign), "", Body::None)
            }
            ("POST", "/v1/campaigns/{id}/funnel-steps") => (
                format!("/v1/campaigns/{}/funnel-steps", ids.campaign),
                "",
                Body::Json(json!({"phone": "+34612000001", "step": "replied"})),
            ),
            ("POST", "/v1/campaigns/{id}/test-send") => (
                format!("/v1/campaigns/{}/test-send", ids.campaign),
                "",
                Body::Json(json!({"test_phones": ["+34612000001"]})),
            ),
            ("POST", path) if path.starts_with("/v1/campaigns/{id}/") => {
                (path.replace("{id}", &ids.campaign.to_string()), "", Body::None)
            }
            ("GET", path) if path.starts_with("/v1/campaigns/{id}/") => {
                (path.replace("{id}", &ids.campaign.to_string()), "", Body::None)
            }
            ("GET", "/v1/reports/{id}" | "/v1/reports/{id}/download") => {
                (op.path.replace("{id}", &ids.report.to_string()), "", Body::None)
            }
            ("GET" | "PATCH", "/v1/organization") => (
                op.path.clone(),
                "",
                if op.method == reqwest::Method::PATCH {
                    Body::Json(json!({"opt_out_keywords": ["STOP", "BAJA"], "default_bot_flow_id": ids.bot_flow}))
                } else {
                    Body::None
                },
            ),
            ("GET", "/v1/dead-letters") => (op.path.clone(), "", Body::None),
            ("GET", "/v1/dead-letters/{queue}") => ("/v1/dead-letters/send".into(), "limit=10", Body::None),
            ("POST", "/v1/dead-letters/{queue}/replay") => ("/v1/dead-letters/status/replay".into(), "", Body::None),
            ("DELETE", "/v1/dead-letters/{queue}/{id}") => {
                (format!("/v1/dead-letters/send/{}", ids.dead_send), "", Body::None)
            }
            ("POST", "/v1/dead-letters/{queue}/{id}/replay") => {
                (format!("/v1/dead-letters/status/{}/replay", ids.dead_event), "", Body::None)
            }
            ("GET", "/webhooks/whatsapp") => (op.path.clone(), &handshake, Body::None),
            ("POST", "/webhooks/whatsapp") => (op.path.clone(), "", Body::Json(statuses_webhook())),
            ("GET", "/healthz" | "/readyz" | "/openapi.json") => (op.path.clone(), "", Body::None),
            _ => panic!("the security suite has no request for {}: add one to World::call", op.key()),
        };
        Call { path, query: query.to_owned(), body }
    }

    /// Sends `call` for `op` and checks the answer against the document.
    pub async fn send(&self, op: &Op, key: Key<'_>, call: &Call) -> (u16, Value) {
        let mut url = self.app.url(&call.path);
        if !call.query.is_empty() {
            url = format!("{url}?{}", call.query);
        }
        let mut req = self.app.http.request(op.method.clone(), url);
        req = match key {
            Key::None => req,
            Key::Bearer(key) => req.bearer_auth(key),
            Key::Header(value) => req.header("authorization", value),
        };
        req = match &call.body {
            Body::None => req,
            Body::Json(value) => req.json(value),
            Body::Raw { content_type, bytes } => req.header("content-type", *content_type).body(bytes.clone()),
        };
        if op.path == "/webhooks/whatsapp" && op.method == reqwest::Method::POST {
            let bytes = match &call.body {
                Body::Json(v) => serde_json::to_vec(v).unwrap_or_default(),
                Body::Raw { bytes, .. } => bytes.clone(),
                Body::None => Vec::new(),
            };
            req = req.header(whatsapp::SIGNATURE_HEADER, whatsapp::sign(sim::APP_SECRET.as_bytes(), &bytes));
        }
        let response = req.send().await.unwrap_or_else(|e| panic!("{}: {}", op.key(), short(&e.to_string())));
        let status = response.status().as_u16();
        let streaming = response.headers().get("content-type").is_some_and(|v| v == "text/event-stream");
        let body = if streaming {
            Value::Null // a live stream: its headers are the answer
        } else {
            let bytes = response.bytes().await.unwrap_or_default();
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        self.check(op, status, &body);
        (status, body)
    }

    /// The answer must be documented, never a 5xx, and match its schema.
    pub fn check(&self, op: &Op, status: u16, body: &Value) {
        let shown = short(&body.to_string());
        assert!(status < 500, "{} answered {status}: {shown}", op.key());
        assert!(op.documents(status), "{} answered {status}, which the document does not list: {shown}", op.key());
        if !body.is_null() && !body.is_string() {
            let violations: Vec<String> = self.doc.violations(op, status, body).iter().map(|v| short(v)).collect();
            assert!(
                violations.is_empty(),
                "{} answered {status} against its schema: {violations:#?}\n{shown}",
                op.key()
            );
        }
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(op.key()).or_default().push(status);
    }

    /// A snapshot of everything the first organization has in Postgres.
    pub async fn snapshot(&self) -> Value {
        snapshot(&self.app.pg, self.app.org).await
    }
}

/// At most 300 characters of `text`, for failure messages.
pub fn short(text: &str) -> String {
    if text.chars().count() <= 300 {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(300).collect::<String>())
    }
}

/// Every row the organization owns, as JSON, in a stable order.
pub async fn snapshot(pg: &PgPool, org: OrgId) -> Value {
    let mut out = serde_json::Map::new();
    for (table, filter) in [
        ("organizations", "id = $1"),
        ("contacts", "org_id = $1"),
        ("wa_numbers", "org_id = $1"),
        ("api_keys", "org_id = $1"),
        ("templates", "org_id = $1"),
        ("media_assets", "org_id = $1"),
        ("bot_flows", "org_id = $1"),
        ("campaigns", "org_id = $1"),
        ("recipients", "org_id = $1"),
        ("engagements", "org_id = $1"),
        ("inbox_cases", "org_id = $1"),
        ("opt_outs", "org_id = $1"),
        ("reports", "org_id = $1"),
        ("inbound_messages", "org_id = $1"),
        ("funnel_steps", "campaign_id in (select id from campaigns where org_id = $1)"),
        ("campaign_counters", "campaign_id in (select id from campaigns where org_id = $1)"),
        ("job_outbox", "true"),
        ("webhook_events", "phone_number_id in (select phone_number_id from wa_numbers where org_id = $1)"),
    ] {
        let rows: Value = sqlx::query_scalar(&format!(
            "select coalesce(jsonb_agg(to_jsonb(t) - 'last_used_at' order by to_jsonb(t)::text), '[]') from {table} t where {filter}"
        ))
        .bind(org.0)
        .fetch_one(pg)
        .await
        .unwrap_or_else(|e| panic!("snapshot of {table}: {e}"));
        out.insert(table.to_owned(), rows);
    }
    Value::Object(out)
}

/// A failed webhook event about the first organization's number.
async fn dead_event(app: &TestApp) -> i64 {
    let body = serde_json::to_vec(&statuses_webhook()).unwrap_or_default();
    let id = store::webhook_events::insert(&app.pg, Some(sim::PHONE_NUMBER_ID), &[], &body).await.expect("event");
    sqlx::query(
        "update webhook_events set failed_at = now(), last_error = 'kept for the suite', attempts = 5 where id = $1",
    )
    .bind(id)
    .execute(&app.pg)
    .await
    .expect("dead event");
    id
}

/// A reply from a contact whose delivery to the bot was given up on.
async fn dead_reply(app: &TestApp, contact: i64) -> String {
    let wamid = "wamid.SUITE-DEAD-REPLY".to_owned();
    sqlx::query(
        "insert into inbound_messages (wamid, org_id, contact_id, from_wa_id, message, route, dead_at, last_error, route_attempts)
         values ($1, $2, $3, '34612000001', '{\"type\": \"text\"}', 'unattributed', now(), 'the bot flow answered 500', 8)",
    )
    .bind(&wamid)
    .bind(app.org.0)
    .bind(contact)
    .execute(&app.pg)
    .await
    .expect("dead reply");
    wamid
}

/// A `messages` webhook with one status, about the first organization's number.
pub fn statuses_webhook() -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": sim::WABA_ID, "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "34910000001", "phone_number_id": sim::PHONE_NUMBER_ID},
        "statuses": [{"id": "wamid.SUITE", "status": "sent", "timestamp": "1750000000", "recipient_id": "34612000001"}]
    }}]}]})
}
