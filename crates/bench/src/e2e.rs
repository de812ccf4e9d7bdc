//! `campaigns-bench e2e`: one campaign with everything on, as a user runs it.
//!
//! `scripts/bench e2e` starts wa-sim (sending `sent`, `delivered` and, for
//! 60 %, `read` status webhooks, and replies from 5 % of the recipients), the
//! API and two worker processes running every queue, on the Postgres with
//! production durability. This command runs, in-process, what measures them:
//!
//! - **a webhook tap** between wa-sim and the API: it forwards every POST
//!   unchanged and notes when it left wa-sim, with the API's `event_id` for
//!   it and the statuses and replies it carried;
//! - **the bot** the campaign's replies are routed to, which verifies each
//!   delivery's signature and notes when it arrived;
//! - **a poller** of the stored webhooks: the API stores each POST as one
//!   `webhook_events` row and the status consumer deletes it in the
//!   transaction that applies it to the ledger, so the first poll (every
//!   [`POLL`]) that no longer sees an event is when the ledger showed its
//!   statuses (an upper bound, by at most one poll and its query).
//!
//! The campaign's limits are lifted as in `send-throughput` (the number's
//! tier at the limiter's maximum, no pace), so the pipeline, not a limit, sets
//! the rate.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail};
use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, Uri, header::CONTENT_TYPE},
    response::IntoResponse,
};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    chaos::{counter_mismatches, upstream_request},
    forecast::{Api, Args as Setup, ready_campaign_with_bot},
    throughput::{
        Accepted, OurDatabase, clock_ticks_per_second, cpu_times, labelled_pid, lift_and_launch, round3, wait_accepted,
    },
};

/// How often the stored webhooks are polled: the status lag's resolution.
const POLL: Duration = Duration::from_millis(50);
/// The campaign's bot flow's signing secret.
const BOT_SECRET: &str = "e2e-bench-bot-signing-secret";
/// No webhook for this long after every recipient is delivered or read:
/// wa-sim has nothing left to send (its longest delay is the read's, 1.5 s).
const QUIET: Duration = Duration::from_secs(4);

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    setup: Setup,
    /// The simulator the workers send to (its `/_sim/messages` log is read).
    #[arg(long)]
    sim: String,
    /// Where the webhook tap listens (wa-sim's webhook URL points at it).
    #[arg(long)]
    tap: SocketAddr,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// A process whose CPU time (with its descendants') is counted, as
    /// `label=pid`; repeat for each (workers, wa-sim, API, postmaster, redis-server).
    #[arg(long = "cpu", value_parser = labelled_pid)]
    cpu: Vec<(String, u32)>,
    /// Seconds the whole run may take, from the launch.
    #[arg(long, default_value_t = 1200)]
    timeout_secs: u64,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// One stored webhook as the tap saw it.
#[derive(Debug)]
struct Event {
    /// When wa-sim's POST reached the tap.
    sent_ms: u64,
    statuses: u64,
    replies: Vec<String>,
    /// When the poller first saw it gone (applied).
    applied_ms: Option<u64>,
}

#[derive(Debug, Default)]
struct Seen {
    events: HashMap<i64, Event>,
    /// Ids of `events` not applied yet.
    pending: HashSet<i64>,
    /// Reply id → when the bot received it (first delivery).
    at_bot: HashMap<String, u64>,
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    http: reqwest::Client,
    seen: Mutex<Seen>,
    in_flight: AtomicI64,
    last_post_ms: AtomicU64,
    posts_refused: AtomicU64,
    posts_unreachable: AtomicU64,
    bot_deliveries: AtomicU64,
    bot_bad_signatures: AtomicU64,
}

impl Shared {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The statuses and reply ids of one webhook body.
fn contents(body: &[u8]) -> (u64, Vec<String>) {
    let Ok(payload) = serde_json::from_slice::<Value>(body) else { return (0, Vec::new()) };
    let (mut statuses, mut replies) = (0, Vec::new());
    let changes =
        payload["entry"].as_array().into_iter().flatten().flat_map(|e| e["changes"].as_array().into_iter().flatten());
    for change in changes {
        statuses += change["value"]["statuses"].as_array().map_or(0, |s| s.len() as u64);
        for message in change["value"]["messages"].as_array().into_iter().flatten() {
            if let Some(id) = message["id"].as_str() {
                replies.push(id.to_owned());
            }
        }
    }
    (statuses, replies)
}

/// The tap: forwards a POST to the API and answers wa-sim with its answer.
async fn forward(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let sent_ms = now_ms();
    shared.in_flight.fetch_add(1, Ordering::SeqCst);
    let answer = match upstream_request(&shared.http, &shared.upstream, &uri, &headers, body.clone()).send().await {
        Ok(response) => {
            let status = response.status();
            (status, response.bytes().await.unwrap_or_default())
        }
        Err(_) => {
            shared.posts_unreachable.fetch_add(1, Ordering::Relaxed);
            (StatusCode::BAD_GATEWAY, Bytes::new())
        }
    };
    if answer.0 == StatusCode::OK {
        let event_id = serde_json::from_slice::<Value>(&answer.1).ok().and_then(|v| v["event_id"].as_i64());
        if let Some(id) = event_id {
            let (statuses, replies) = contents(&body);
            let mut seen = shared.seen();
            seen.events.insert(id, Event { sent_ms, statuses, replies, applied_ms: None });
            seen.pending.insert(id);
        }
    } else {
        shared.posts_refused.fetch_add(1, Ordering::Relaxed);
    }
    shared.last_post_ms.store(now_ms(), Ordering::SeqCst);
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    (answer.0, [(CONTENT_TYPE, "application/json")], answer.1)
}

/// The bot: acknowledges every signed delivery and notes when each reply came.
async fn bot(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let at = now_ms();
    let signature = headers.get("x-signature-256").and_then(|v| v.to_str().ok());
    if whatsapp::signature::verify(BOT_SECRET.as_bytes(), &body, signature).is_err() {
        shared.bot_bad_signatures.fetch_add(1, Ordering::Relaxed);
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(delivery) = serde_json::from_slice::<Value>(&body) else { return StatusCode::BAD_REQUEST };
    let Some(id) = delivery["message_id"].as_str() else { return StatusCode::BAD_REQUEST };
    shared.bot_deliveries.fetch_add(1, Ordering::Relaxed);
    shared.seen().at_bot.entry(id.to_owned()).or_insert(at);
    StatusCode::OK
}

/// Marks the tapped events no longer stored as applied, every [`POLL`].
async fn poll_applied(shared: Arc<Shared>, pg: PgPool) {
    loop {
        let stored: Result<Vec<i64>, _> =
            sqlx::query_scalar("select id from webhook_events where failed_at is null").fetch_all(&pg).await;
        let at = now_ms();
        if let Ok(stored) = stored {
            let stored: HashSet<i64> = stored.into_iter().collect();
            let mut seen = shared.seen();
            let applied: Vec<i64> = seen.pending.iter().copied().filter(|id| !stored.contains(id)).collect();
            for id in applied {
                seen.pending.remove(&id);
                if let Some(event) = seen.events.get_mut(&id) {
                    event.applied_ms = Some(at);
                }
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The `q`-quantile of weighted values (`(value, weight)`), nearest rank.
fn quantile(values: &mut [(u64, u64)], q: f64) -> u64 {
    values.sort_unstable();
    let total: u64 = values.iter().map(|v| v.1).sum();
    let rank = (q * total as f64).ceil().max(1.0) as u64;
    let mut cumulative = 0;
    for &(value, weight) in values.iter() {
        cumulative += weight;
        if cumulative >= rank {
            return value;
        }
    }
    values.last().map_or(0, |v| v.0)
}

/// What the settle loop reads from the ledger.
#[derive(Debug, sqlx::FromRow)]
struct Progress {
    unsettled: i64,
    stored_webhooks: i64,
}

async fn progress(pg: &PgPool, id: i64) -> sqlx::Result<Progress> {
    sqlx::query_as(
        "select (select count(*) from recipients where campaign_id = $1
                  and state not in ('delivered', 'read', 'failed', 'excluded')) as unsettled,
                (select count(*) from webhook_events where failed_at is null) as stored_webhooks",
    )
    .bind(id)
    .fetch_one(pg)
    .await
}

pub async fn run(args: Args) -> anyhow::Result<Value> {
    let http = reqwest::Client::new();
    let api = Api { http: http.clone(), base: args.setup.api.clone(), key: args.setup.key.clone() };
    let pg = process::connections::connect_postgres_url(&args.database_url).await.context("connecting to Postgres")?;
    let contacts = u64::try_from(args.setup.contacts)?;
    let ours = OurDatabase::of(&args.database_url)?;
    let clock_tick = clock_ticks_per_second();

    let shared = Arc::new(Shared {
        upstream: args.setup.api.clone(),
        http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?,
        seen: Mutex::default(),
        in_flight: AtomicI64::new(0),
        last_post_ms: AtomicU64::new(0),
        posts_refused: AtomicU64::new(0),
        posts_unreachable: AtomicU64::new(0),
        bot_deliveries: AtomicU64::new(0),
        bot_bad_signatures: AtomicU64::new(0),
    });
    let tap = tokio::net::TcpListener::bind(args.tap).await.context("binding the webhook tap")?;
    let tap_app = axum::Router::new().fallback(forward).with_state(shared.clone());
    tokio::spawn(async move { axum::serve(tap, tap_app).await });
    let bot_listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.context("binding the bot")?;
    let bot_url = format!("http://{}/bot", bot_listener.local_addr()?);
    let bot_app = axum::Router::new().route("/bot", axum::routing::post(bot)).with_state(shared.clone());
    tokio::spawn(async move { axum::serve(bot_listener, bot_app).await });

    let id = ready_campaign_with_bot(&api, &args.setup, &bot_url, BOT_SECRET).await?;
    let poller = tokio::spawn(poll_applied(shared.clone(), pg.clone()));
    let cpu_start = cpu_times(&args.cpu, &ours);
    let launched_ms = now_ms();
    let started = Instant::now();
    lift_and_launch(&api, &pg, id).await?;
    eprintln!("e2e: campaign {id} launched; {contacts} recipients, replies to {bot_url}");

    let timeout = Duration::from_secs(args.timeout_secs);
    wait_accepted(&http, &args.sim, contacts, timeout).await?;
    // Settled: every recipient delivered or read (or failed), no stored
    // webhook left, none in flight, every tapped event applied, every reply
    // at the bot, and wa-sim quiet for a while.
    let deadline = started + timeout;
    let mut last_report = Instant::now();
    loop {
        let p = progress(&pg, id).await?;
        let (pending, replies_tapped, replies_at_bot) = {
            let seen = shared.seen();
            let tapped = seen.events.values().map(|e| e.replies.len()).sum::<usize>();
            (seen.pending.len(), tapped, seen.at_bot.len())
        };
        let quiet = now_ms().saturating_sub(shared.last_post_ms.load(Ordering::SeqCst)) >= QUIET.as_millis() as u64;
        if p.unsettled == 0
            && p.stored_webhooks == 0
            && pending == 0
            && shared.in_flight.load(Ordering::SeqCst) == 0
            && replies_at_bot >= replies_tapped
            && quiet
        {
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!(
                "e2e: +{:.0} s: {} recipients not yet delivered, {} webhooks stored, {} replies at the bot of {}",
                started.elapsed().as_secs_f64(),
                p.unsettled,
                p.stored_webhooks,
                replies_at_bot,
                replies_tapped
            );
        }
        if Instant::now() > deadline {
            bail!("not settled after {} s: {p:?}, {pending} tapped webhooks unapplied", args.timeout_secs);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let cpu_end = cpu_times(&args.cpu, &ours);
    poller.abort();

    let messages: Vec<Accepted> =
        http.get(format!("{}/_sim/messages", args.sim)).send().await?.json().await.context("wa-sim's log")?;
    let tag = format!("c{id}:");
    let ours_only: Vec<&Accepted> = messages
        .iter()
        .filter(|m| m.biz_opaque_callback_data.as_deref().is_some_and(|c| c.starts_with(&tag)))
        .collect();
    let mut per_phone: HashMap<&str, u32> = HashMap::new();
    for m in &ours_only {
        *per_phone.entry(m.to.as_str()).or_default() += 1;
    }
    let duplicates = per_phone.values().filter(|&&n| n > 1).count();
    let n = ours_only.len() as u64;
    if n < contacts {
        bail!(
            "wa-sim accepted {n} messages of campaign {id}, expected {contacts} (its log holds {}; the first: {:?})",
            messages.len(),
            messages.first()
        );
    }
    let first_accepted = ours_only.iter().map(|m| m.accepted_at).min().unwrap_or(launched_ms);
    let last_accepted = ours_only.iter().map(|m| m.accepted_at).max().unwrap_or(launched_ms);

    let seen = std::mem::take(&mut *shared.seen());
    let mut status_lags: Vec<(u64, u64)> = Vec::new();
    let (mut events_applied, mut first_event_ms, mut last_applied_ms) = (0u64, u64::MAX, 0u64);
    let mut reply_sent: HashMap<&str, u64> = HashMap::new();
    for event in seen.events.values() {
        let applied = event.applied_ms.unwrap_or(event.sent_ms);
        events_applied += event.statuses + event.replies.len() as u64;
        first_event_ms = first_event_ms.min(event.sent_ms);
        last_applied_ms = last_applied_ms.max(applied);
        if event.statuses > 0 {
            status_lags.push((applied.saturating_sub(event.sent_ms), event.statuses));
        }
        for reply in &event.replies {
            let at = reply_sent.entry(reply.as_str()).or_insert(event.sent_ms);
            *at = (*at).min(event.sent_ms);
        }
    }
    let mut reply_lags: Vec<(u64, u64)> = reply_sent
        .iter()
        .filter_map(|(reply, sent)| seen.at_bot.get(*reply).map(|at| (at.saturating_sub(*sent), 1)))
        .collect();
    let replies_missing = reply_sent.keys().filter(|r| !seen.at_bot.contains_key(**r)).count();
    let statuses: u64 = seen.events.values().map(|e| e.statuses).sum();
    let posts = seen.events.len();

    let mismatches = counter_mismatches(&pg, &api, id).await?;
    for m in mismatches.iter().take(10) {
        eprintln!("e2e: counter mismatch: {m}");
    }
    let states: Vec<(String, i64)> =
        sqlx::query_as("select state, count(*) from recipients where campaign_id = $1 group by 1 order by 1")
            .bind(id)
            .fetch_all(&pg)
            .await?;
    let dead: i64 =
        sqlx::query_scalar("select count(*) from webhook_events where failed_at is not null").fetch_one(&pg).await?;

    let mut cpu_ms = 0.0;
    let mut by_process = serde_json::Map::new();
    for (label, start) in &cpu_start {
        let ms = cpu_end.get(label).copied().unwrap_or(0).saturating_sub(*start) as f64 * 1000.0 / clock_tick;
        cpu_ms += ms;
        by_process.insert(label.clone(), json!(round3(ms / n as f64)));
    }
    let secs = |ms: u64| ms as f64 / 1000.0;
    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    let e2e_ms = last_applied_ms.saturating_sub(launched_ms);
    let event_span = last_applied_ms.saturating_sub(first_event_ms).max(1);
    Ok(json!({
        "bench": "e2e",
        "metrics": {
            "messages_per_s": (n as f64 / secs(last_accepted.saturating_sub(first_accepted).max(1))).round(),
            "e2e_seconds": round2(secs(e2e_ms)),
            "webhook_events_applied_per_s": (events_applied as f64 / secs(event_span)).round(),
            "status_lag_p99_ms": quantile(&mut status_lags, 0.99),
            "status_lag_p50_ms": quantile(&mut status_lags, 0.5),
            "reply_lag_p99_ms": quantile(&mut reply_lags, 0.99),
            "reply_lag_p50_ms": quantile(&mut reply_lags, 0.5),
            "cpu_ms_per_message": round3(cpu_ms / n as f64),
            "cpu_ms_per_message_by_process": by_process,
            "duplicates": duplicates,
            "counter_mismatch": mismatches.len(),
            "messages": n,
            "launch_to_last_accepted_s": round2(secs(last_accepted.saturating_sub(launched_ms))),
            "statuses_applied": statuses,
            "webhook_posts": posts,
            "replies_at_bot": reply_lags.len(),
            "replies_missing": replies_missing,
            "bot_deliveries": shared.bot_deliveries.load(Ordering::Relaxed),
            "bot_bad_signatures": shared.bot_bad_signatures.load(Ordering::Relaxed),
            "webhook_posts_refused": shared.posts_refused.load(Ordering::Relaxed),
            "webhook_posts_unreachable": shared.posts_unreachable.load(Ordering::Relaxed),
            "webhook_events_dead": dead,
            "states": states.into_iter().collect::<HashMap<_, _>>(),
            "measured": "messages_per_s: accepted messages over wa-sim's first to last accepted_at; e2e_seconds: the launch request to the last stored webhook seen applied; webhook_events_applied_per_s: statuses and replies over the first webhook's POST to the last one applied; status lag: a POST leaving wa-sim (at the tap) to the poll (every 50 ms) that no longer sees its stored webhook, weighted by its statuses; reply lag: the POST carrying a reply to its delivery at the bot; cpu: user+sys of each listed process and its descendants from the launch to settled (the bench's tap, bot and poller not counted)",
        }
    }))
}
