//! The demo's two helpers: a small bot endpoint that receives the replies a
//! campaign's bot flow gets and reports funnel steps back to the API, and a
//! terminal view of a campaign's live statistics with a progress bar.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::forecast::Api;

#[derive(Debug, clap::Args)]
pub struct BotArgs {
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// The bot flow's signing secret (checks `X-Signature-256`).
    #[arg(long, env = "BOT_SECRET", hide_env_values = true)]
    secret: String,
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    api: String,
    /// An API key of the organization, to report funnel steps.
    #[arg(long, env = "API_KEY", hide_env_values = true)]
    key: String,
}

#[derive(Clone)]
struct Bot {
    secret: Arc<str>,
    api: Arc<Api>,
    received: Arc<AtomicU64>,
}

/// Serves `POST /bot` until killed: each signed reply is acknowledged and
/// its funnel steps reported (`replied`, then the tapped button or
/// `asked_question` for free text).
pub async fn bot(args: BotArgs) -> anyhow::Result<()> {
    let bot = Bot {
        secret: args.secret.into(),
        api: Arc::new(Api { http: reqwest::Client::new(), base: args.api, key: args.key }),
        received: Arc::default(),
    };
    let app = axum::Router::new().route("/bot", post(receive)).with_state(bot);
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    eprintln!("demo bot listening on http://{}/bot", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn receive(State(bot): State<Bot>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers.get("x-signature-256").and_then(|v| v.to_str().ok());
    if whatsapp::signature::verify(bot.secret.as_bytes(), &body, signature).is_err() {
        eprintln!("refused a delivery with a bad signature");
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(reply) = serde_json::from_slice::<Value>(&body) else { return StatusCode::BAD_REQUEST };
    let n = bot.received.fetch_add(1, Ordering::Relaxed) + 1;
    let message = &reply["message"];
    let said = message["text"]["body"]
        .as_str()
        .or_else(|| message["button"]["text"].as_str())
        .unwrap_or("(no text)")
        .to_owned();
    #[allow(clippy::print_stdout)] // the bot's log is its output
    {
        println!(
            "reply #{n} from {} (campaign {}, route {}{}): {said}",
            reply["from"].as_str().unwrap_or("?"),
            reply["campaign"]["id"],
            reply["route"].as_str().unwrap_or("?"),
            if reply["opted_out"] == true { ", opted out" } else { "" }
        );
    }
    if let (Some(campaign), Some(contact)) = (reply["campaign"]["id"].as_i64(), reply["contact"]["id"].as_i64()) {
        let next = match message["type"].as_str() {
            Some("button") => format!("tapped_{}", said.to_lowercase().replace(' ', "_")),
            _ => "asked_question".to_owned(),
        };
        for step in ["replied".to_owned(), next] {
            let body = json!({"contact_id": contact, "step": step, "reached_at": reply["received_at"]});
            if let Err(e) =
                bot.api.call(reqwest::Method::POST, &format!("/v1/campaigns/{campaign}/funnel-steps"), Some(body)).await
            {
                eprintln!("reporting funnel step {step}: {e:#}");
                // The engine retries the delivery; the steps are idempotent.
                return StatusCode::SERVICE_UNAVAILABLE;
            }
        }
    }
    StatusCode::OK
}

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    api: String,
    #[arg(long, env = "API_KEY", hide_env_values = true)]
    key: String,
    #[arg(long)]
    campaign: i64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Once fully sent, wait until the statistics stay unchanged this long
    /// (late statuses and replies), at most `timeout`.
    #[arg(long, default_value_t = 5)]
    settle: u64,
}

/// Draws the campaign's progress and live statistics until it is fully
/// sent and its statistics settled, then prints them (JSON on stdout).
pub async fn watch(args: WatchArgs) -> anyhow::Result<Value> {
    let api = Api { http: reqwest::Client::new(), base: args.api, key: args.key };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("  {bar:40.green/white} {pos}/{len} contacts done  {msg}")
            .expect("a valid template")
            .progress_chars("█▉ "),
    );
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let (mut last, mut since) = (Value::Null, Instant::now());
    loop {
        let stats = api.call(reqwest::Method::GET, &format!("/v1/campaigns/{}/stats", args.campaign), None).await?;
        let count = |k: &str| stats[k].as_u64().unwrap_or(0);
        bar.set_length(count("targeted"));
        bar.set_position(count("targeted").saturating_sub(count("still_queued") + count("in_doubt")));
        bar.set_message(format!(
            "received {}%  read {}%  replied {}%  not sent {}  in doubt {}{}",
            stats["received_pct"],
            stats["read_pct"],
            stats["replied_pct"],
            count("not_sent_to"),
            count("in_doubt"),
            stats["eta_seconds"].as_u64().map(|s| format!("  ETA {s}s")).unwrap_or_default()
        ));
        let done = count("targeted") > 0 && count("still_queued") == 0 && count("in_doubt") == 0;
        if stats != last {
            (last, since) = (stats.clone(), Instant::now());
        } else if done && since.elapsed() >= Duration::from_secs(args.settle) {
            bar.finish();
            return Ok(stats);
        }
        if Instant::now() > deadline {
            bar.abandon();
            bail!("campaign {} did not finish within {} s: {stats}", args.campaign, args.timeout);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
