//! `campaigns-bench forecast` and `campaigns-bench plan`: a campaign whose
//! audience is every imported sample contact, set up through the API (the
//! simulator's number, its synced template and a bot flow); then the time of
//! `GET /v1/campaigns/{id}/forecast`, or of planning its ledger after launch.

use std::time::Instant;

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub(crate) api: String,
    /// An API key (admin) of the organization holding the sample contacts.
    #[arg(long, env = "API_KEY", hide_env_values = true)]
    pub(crate) key: String,
    /// How many contacts the audience should hold (the imported sample).
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) contacts: i64,
    /// Forecasts to time; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The simulator's number, as `scripts/bench` configures it.
    #[arg(long, default_value = "1001")]
    phone_number_id: String,
    #[arg(long, default_value = "2001")]
    pub(crate) waba_id: String,
}

/// Planning is timed through the store, as the launch job runs it.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    setup: Args,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
}

pub(crate) struct Api {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) key: String,
}

impl Api {
    pub(crate) async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base)).bearer_auth(&self.key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let value: Value = resp.json().await.with_context(|| format!("reading {method} {path}"))?;
        if !status.is_success() {
            bail!("{method} {path} answered {status}: {value}");
        }
        Ok(value)
    }

    /// Imports `csv` through `POST /v1/contacts/import` and checks the
    /// answer counts `rows` rows.
    pub(crate) async fn import_csv(&self, csv: String, rows: u64) -> anyhow::Result<()> {
        let resp = self
            .http
            .post(format!("{}/v1/contacts/import", self.base))
            .bearer_auth(&self.key)
            .header("content-type", "text/csv")
            .timeout(std::time::Duration::from_secs(600))
            .body(csv)
            .send()
            .await
            .context("importing contacts")?;
        let status = resp.status();
        let summary: Value = resp.json().await.context("reading the import answer")?;
        ensure!(status.is_success(), "the import answered {status}: {summary}");
        ensure!(summary["rows"].as_u64() == Some(rows), "imported {}, expected {rows}: {summary}", summary["rows"]);
        Ok(())
    }
}

/// Registers the number, syncs templates, adds a bot flow and creates the
/// Ready campaign; returns its id.
pub(crate) async fn ready_campaign(api: &Api, args: &Args) -> anyhow::Result<i64> {
    ready_campaign_with_bot(api, args, "http://127.0.0.1:9/bot", "bench-bot-secret-0123").await
}

/// [`ready_campaign`] with its replies routed to the bot at `bot_url`,
/// which verifies deliveries with `bot_secret`.
pub(crate) async fn ready_campaign_with_bot(
    api: &Api,
    args: &Args,
    bot_url: &str,
    bot_secret: &str,
) -> anyhow::Result<i64> {
    let post = reqwest::Method::POST;
    let number = api
        .call(
            post.clone(),
            "/v1/numbers",
            Some(json!({
                "phone_number_id": args.phone_number_id, "waba_id": args.waba_id,
                "access_token": "bench-token", "app_secret": "bench-secret"
            })),
        )
        .await?;
    api.call(post.clone(), "/v1/templates/sync", Some(json!({}))).await?;
    let templates = api.call(reqwest::Method::GET, "/v1/templates?name=bench_forecast", None).await?;
    let template_id = templates[0]["id"].as_i64().context("the synced bench template")?;
    let flow = api
        .call(
            post.clone(),
            "/v1/bot-flows",
            Some(json!({"name": "bench bot", "endpoint_url": bot_url, "secret": bot_secret})),
        )
        .await?;
    let campaign = api
        .call(
            post,
            "/v1/campaigns",
            Some(json!({
                "name": "forecast bench", "number_id": number["id"], "audience": {"tags": ["customers"]},
                "template_id": template_id, "bot_flow_id": flow["id"],
                "bindings": [{"param": "1", "kind": "contact_name"}, {"param": "2", "kind": "valued_tag", "key": "customer_id"}]
            })),
        )
        .await?;
    ensure!(campaign["state"] == "ready", "the bench campaign is not ready: {campaign}");
    campaign["id"].as_i64().context("campaign id")
}

/// Creates the campaign and prints the forecast timings.
pub async fn run(args: Args) -> anyhow::Result<Value> {
    let api = Api { http: reqwest::Client::new(), base: args.api.clone(), key: args.key.clone() };
    let id = ready_campaign(&api, &args).await?;
    let path = format!("/v1/campaigns/{id}/forecast");
    let mut seconds = Vec::with_capacity(args.runs);
    let mut last = Value::Null;
    for _ in 0..args.runs.max(1) {
        let started = Instant::now();
        last = api.call(reqwest::Method::GET, &path, None).await?;
        seconds.push(started.elapsed().as_secs_f64());
    }
    ensure!(last["audience"] == args.contacts, "the audience is {}, expected {}", last["audience"], args.contacts);
    let first = seconds[0];
    seconds.sort_by(f64::total_cmp);
    let median = seconds[seconds.len() / 2];
    let round = |s: f64| (s * 1000.0).round() / 1000.0;
    eprintln!(
        "forecast: {}",
        serde_json::to_string(&json!({
            "will_send": last["will_send"], "excluded": last["excluded"],
            "exclusions": last["exclusions"].as_array().map(|e| e.iter().map(|g| json!({"code": g["code"], "count": g["count"]})).collect::<Vec<_>>()),
            "eta_seconds": last["eta_seconds"],
        }))?
    );
    Ok(json!({
        "bench": "forecast",
        "metrics": {
            "contacts": last["audience"],
            "seconds": round(median),
            "seconds_first": round(first),
            "runs": seconds.len(),
        }
    }))
}

/// Creates and launches the campaign, then times planning its ledger.
pub async fn plan(args: PlanArgs) -> anyhow::Result<Value> {
    let setup = &args.setup;
    let api = Api { http: reqwest::Client::new(), base: setup.api.clone(), key: setup.key.clone() };
    let id = ready_campaign(&api, setup).await?;
    api.call(reqwest::Method::POST, &format!("/v1/campaigns/{id}/launch"), Some(json!({}))).await?;
    let pg = sqlx::PgPool::connect(&args.database_url).await.context("connecting to Postgres")?;
    let started = Instant::now();
    let mut tx = pg.begin().await?;
    let outcome = store::campaigns::plan(&mut tx, id).await?;
    tx.commit().await?;
    let seconds = started.elapsed().as_secs_f64();
    let store::campaigns::PlanOutcome::Planned(counts) = outcome else {
        bail!("campaign {id} was not planned: {outcome:?}")
    };
    let recipients = counts.planned + counts.excluded;
    ensure!(recipients == setup.contacts, "{recipients} recipients planned, expected {}", setup.contacts);
    eprintln!("plan: {} planned, {} excluded", counts.planned, counts.excluded);
    Ok(json!({
        "bench": "plan",
        "metrics": {"recipients": recipients, "seconds": (seconds * 1000.0).round() / 1000.0}
    }))
}
