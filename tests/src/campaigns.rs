//! Building blocks for campaign tests: the simulator's number registered,
//! its templates synced and a bot flow, all through the API.

use serde_json::{Value, json};

use crate::{StatusCode, TestApp};

/// What a campaign can point at, ready to use.
#[derive(Debug, Clone)]
pub struct Setup {
    pub number_id: i64,
    pub bot_flow_id: i64,
}

impl TestApp {
    /// Registers the simulator's number, syncs its templates and adds a bot flow.
    pub async fn campaign_setup(&self) -> Setup {
        let number_id = self.register_number().await;
        let (status, body) = self.post("/v1/templates/sync", json!({})).await;
        assert_eq!(status, StatusCode::OK, "template sync: {body}");
        let (status, flow) = self
            .post(
                "/v1/bot-flows",
                json!({"name": "Support bot", "endpoint_url": "http://127.0.0.1:9/bot", "secret": "0123456789abcdef-bot"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "bot flow: {flow}");
        Setup { number_id, bot_flow_id: flow["id"].as_i64().expect("bot flow id") }
    }

    /// The id of a synced template.
    pub async fn template_id(&self, name: &str, language: &str) -> i64 {
        sqlx::query_scalar("select id from templates where org_id = $1 and name = $2 and language = $3")
            .bind(self.org.0)
            .bind(name)
            .bind(language)
            .fetch_one(&self.pg)
            .await
            .unwrap_or_else(|e| panic!("template {name} ({language}) was not synced: {e}"))
    }

    /// A complete real campaign on `order_update` (en_US) for the `vip` tag:
    /// `{{1}}` is the contact's name and `{{2}}` its `order_id` valued tag.
    /// `extra` fields override the defaults.
    pub async fn ready_campaign(&self, setup: &Setup, name: &str, extra: Value) -> Value {
        let mut body = json!({
            "name": name,
            "number_id": setup.number_id,
            "audience": {"tags": ["vip"]},
            "template_id": self.template_id("order_update", "en_US").await,
            "bindings": [
                {"param": "1", "kind": "contact_name"},
                {"param": "2", "kind": "valued_tag", "key": "order_id"}
            ],
            "bot_flow_id": setup.bot_flow_id,
        });
        for (k, v) in extra.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        let (status, campaign) = self.post("/v1/campaigns", body).await;
        assert_eq!(status, StatusCode::CREATED, "{campaign}");
        campaign
    }

    /// Engages a contact in a campaign, as planning the campaign's ledger does.
    pub async fn engage(&self, contact_id: i64, campaign_id: i64) {
        sqlx::query(
            "insert into engagements (contact_id, campaign_id, org_id, phone)
             select $1, $2, $3, phone from contacts where id = $1",
        )
        .bind(contact_id)
        .bind(campaign_id)
        .bind(self.org.0)
        .execute(&self.pg)
        .await
        .expect("engagement");
    }

    /// Uploads header media for a number and returns its id.
    pub async fn upload_media(&self, number_id: i64, mime: &str, bytes: &[u8]) -> i64 {
        let (status, media) = crate::send(
            self.req(reqwest::Method::POST, &format!("/v1/media?number_id={number_id}&filename=header"))
                .header("content-type", mime)
                .body(bytes.to_vec()),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{media}");
        media["id"].as_i64().expect("media id")
    }

    /// Imports contacts `{"phone", "name", "tags", "valued_tags"}` through the bulk endpoint.
    pub async fn contacts(&self, contacts: Value) -> Vec<i64> {
        let (status, body) = self.post("/v1/contacts/bulk", json!({"contacts": contacts})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let phones: Vec<String> = contacts
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["phone"].as_str().unwrap_or_default().to_owned())
            .collect();
        let mut ids = Vec::with_capacity(phones.len());
        for phone in phones {
            let id: i64 = sqlx::query_scalar("select id from contacts where org_id = $1 and phone = $2")
                .bind(self.org.0)
                .bind(phone)
                .fetch_one(&self.pg)
                .await
                .expect("imported contact");
            ids.push(id);
        }
        ids
    }
}

/// The problem codes of a campaign (or of a `campaign_not_ready` error).
pub fn problem_codes(body: &Value) -> Vec<String> {
    let list = if body["problems"].is_array() { &body["problems"] } else { &body["error"]["problems"] };
    list.as_array().into_iter().flatten().map(|p| p["code"].as_str().unwrap_or_default().to_owned()).collect()
}

/// The smallest bytes that pass as a PNG (its signature).
pub fn png() -> Vec<u8> {
    let mut b = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    b.extend_from_slice(&[0; 64]);
    b
}

/// The smallest bytes that pass as an MP4 (an `ftyp` box).
pub fn mp4() -> Vec<u8> {
    let mut b = vec![0, 0, 0, 0x18];
    b.extend_from_slice(b"ftypmp42");
    b.extend_from_slice(&[0; 64]);
    b
}
