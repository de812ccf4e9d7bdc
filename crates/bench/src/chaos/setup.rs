//! Setting the organization up through the API, as a user would: the
//! organization and its key (`campaignsctl`), the number (verified against
//! wa-sim), its templates, the bot flow (also the default reply route),
//! the contacts by CSV import, and the campaigns.

use std::{fmt::Write, path::Path};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

use crate::forecast::Api;

const PHONE_NUMBER_ID: &str = "300000000000001";
const WABA_ID: &str = "400000000000001";
const ACCESS_TOKEN: &str = "chaos-access-token";
const APP_SECRET: &str = "chaos-app-secret";
const TEMPLATE: &str = "chaos_update";
pub const BOT_SECRET: &str = "chaos-bot-signing-secret";

/// wa-sim's delays, also how long settlement waits after the last send for
/// the statuses and replies still to come (plus a margin).
pub const SENT_DELAY_MS: u64 = 50;
pub const DELIVERED_DELAY_MS: u64 = 300;
pub const READ_DELAY_MS: u64 = 1_500;
pub const REPLY_DELAY_MS: u64 = 1_500;
pub const FLUSH_MS: u64 = 50;
/// Attempts per webhook POST: with back-off doubling from 200 ms the last
/// comes ~7 minutes after the first, longer than any outage here (Meta
/// retries for 7 days).
pub const WEBHOOK_ATTEMPTS: u32 = 12;

/// The simulator: one number at 1,000/s with the pair limit off, a template
/// like the demo's, status webhooks (60 % read) and replies (10 %) to `hook`.
pub fn sim_config(port: u16, hook: &str, seed: u64) -> String {
    format!(
        r#"listen = "127.0.0.1:{port}"
[[numbers]]
phone_number_id = "{PHONE_NUMBER_ID}"
display_phone_number = "34910000009"
waba_id = "{WABA_ID}"
access_token = "{ACCESS_TOKEN}"
app_secret = "{APP_SECRET}"
throughput_per_second = 1000
messaging_limit_tier = "TIER_UNLIMITED"
[[wabas]]
waba_id = "{WABA_ID}"
[[wabas.templates]]
name = "{TEMPLATE}"
language = "en_US"
category = "UTILITY"
body = "Hi {{{{1}}}}, your order for customer {{{{2}}}} is on its way."
[limits]
pair_enabled = false
[webhook]
url = "{hook}"
seed = {seed}
sent_delay_ms = {SENT_DELAY_MS}
delivered_delay_ms = {DELIVERED_DELAY_MS}
read_delay_ms = {READ_DELAY_MS}
read_probability = 0.6
max_batch = 100
flush_interval_ms = {FLUSH_MS}
max_attempts = {WEBHOOK_ATTEMPTS}
retry_initial_backoff_ms = 200
request_timeout_ms = 15000
[webhook.replies]
text_probability = 0.05
button_probability = 0.05
delay_ms = {REPLY_DELAY_MS}
"#
    )
}

/// `campaignsctl org create` (the binary at `campaignsctl`): a new
/// organization named `name`, and its admin key.
pub(crate) async fn org_key(campaignsctl: &Path, database_url: &str, name: &str) -> anyhow::Result<String> {
    let out = tokio::process::Command::new(campaignsctl)
        .args(["org", "create", "--name", name])
        .env("DATABASE_URL", database_url)
        .env_remove("DATABASE_CA_FILE")
        .output()
        .await
        .context("running campaignsctl")?;
    if !out.status.success() {
        bail!("campaignsctl org create failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let created: Value = serde_json::from_slice(&out.stdout).context("campaignsctl's answer")?;
    created["secret"].as_str().map(str::to_owned).context("no secret in campaignsctl's answer")
}

/// What the campaigns point at.
#[derive(Debug, Clone, Copy)]
pub struct Ids {
    number: i64,
    template: i64,
    flow: i64,
}

pub async fn prepare(api: &Api, bot_url: &str) -> anyhow::Result<Ids> {
    let post = reqwest::Method::POST;
    let number = api
        .call(
            post.clone(),
            "/v1/numbers",
            Some(json!({"phone_number_id": PHONE_NUMBER_ID, "waba_id": WABA_ID,
                        "access_token": ACCESS_TOKEN, "app_secret": APP_SECRET})),
        )
        .await?;
    api.call(post.clone(), "/v1/templates/sync", Some(json!({}))).await?;
    let templates = api.call(reqwest::Method::GET, &format!("/v1/templates?name={TEMPLATE}"), None).await?;
    let template = templates[0]["id"].as_i64().or_else(|| templates["data"][0]["id"].as_i64());
    let flow = api
        .call(post, "/v1/bot-flows", Some(json!({"name": "chaos bot", "endpoint_url": bot_url, "secret": BOT_SECRET})))
        .await?;
    let flow = flow["id"].as_i64().context("the bot flow's id")?;
    // Replies to a finished campaign go to the default route: the same bot.
    api.call(reqwest::Method::PATCH, "/v1/organization", Some(json!({"default_bot_flow_id": flow}))).await?;
    Ok(Ids {
        number: number["id"].as_i64().context("the number's id")?,
        template: template.with_context(|| format!("the synced template: {templates}"))?,
        flow,
    })
}

/// The phone of contact `i` of a group: Spanish mobiles, one range per group.
pub fn phone(group: u32, i: u32) -> String {
    format!("+346{group}{i:07}")
}

/// Imports `n` contacts per tag in one CSV (`tag` 0 gets phones +3461…, 1 +3462…).
pub async fn import_contacts(api: &Api, tags: &[&str], n: u32) -> anyhow::Result<()> {
    let mut csv = String::from("phone,name,tags,vt:customer_id\n");
    for (g, tag) in tags.iter().enumerate() {
        let group = u32::try_from(g + 1)?;
        for i in 0..n {
            let _ = writeln!(csv, "{},Ana {i},customers;{tag},C-{group}{i:07}", phone(group, i));
        }
    }
    api.import_csv(csv, u64::from(n) * tags.len() as u64).await
}

/// A Ready real campaign on the contacts tagged `tag`; returns its id.
pub async fn campaign(api: &Api, ids: Ids, name: &str, tag: &str) -> anyhow::Result<i64> {
    let campaign = api
        .call(
            reqwest::Method::POST,
            "/v1/campaigns",
            Some(json!({
                "name": name, "number_id": ids.number, "audience": {"tags": [tag]},
                "template_id": ids.template, "bot_flow_id": ids.flow, "delivery_policy": "at_most_once",
                "bindings": [{"param": "1", "kind": "contact_name"},
                             {"param": "2", "kind": "valued_tag", "key": "customer_id"}]
            })),
        )
        .await?;
    ensure!(campaign["state"] == "ready", "campaign {name} is not ready: {campaign}");
    campaign["id"].as_i64().context("the campaign's id")
}

pub async fn launch(api: &Api, id: i64, pace: f64) -> anyhow::Result<()> {
    api.call(reqwest::Method::POST, &format!("/v1/campaigns/{id}/launch"), Some(json!({"pace_per_second": pace})))
        .await
        .map(drop)
}

pub async fn finish(api: &Api, id: i64) -> anyhow::Result<()> {
    api.call(reqwest::Method::POST, &format!("/v1/campaigns/{id}/finish"), None).await.map(drop)
}
