//! `campaigns-bench multi`: many tenants at once. Twenty paced campaigns of
//! 20,000 contacts on ten 80/s numbers share two worker processes with one
//! 500,000-recipient campaign whose limits are lifted, launched first; a
//! small probe campaign is launched later, while the big one still sends.
//! Everything is measured from wa-sim's own log of accepted messages.
//!
//! The layout (`wa_sim_multi_config` in `scripts/bench` writes the same):
//!
//! - wa-sim number `1000` (WABA `2000`) at 100,000/s: the big campaign's,
//!   and the probe's. Registered through the API it reads `HIGH` (1,000/s);
//!   the bench then lifts its tier in `wa_numbers` to the limiter's maximum
//!   (10,000/s, as `send-throughput` does, with the 1..1000 check dropped by
//!   `scripts/bench`) and clears the big campaign's pace after its launch, so
//!   neither throttles it.
//! - wa-sim numbers `1001`..`1010` (WABAs `2001`..`2010`) at 80/s, wa-sim's
//!   bucket with Meta's 20 % burst (16): a send above the tier would be
//!   refused with 130429. Registration reads `STANDARD` (80/s); the bench
//!   reads what was stored and sets 80 where it is not.
//! - Tenants: one organization per 80/s number (created with `campaignsctl
//!   org create`) holding that number's campaigns, and the organization of
//!   `--key` (the one `scripts/bench` created) holding the big campaign and
//!   the probe. Each registers its number, syncs its WABA's templates, adds
//!   a bot flow and imports its contacts by CSV (one tag per campaign; every
//!   phone distinct across the run) through the API, and creates its
//!   campaigns through the API (template `bench`, `{{1}}` the contact's name).
//! - Paces per number ([`PACES`]): (10, 70), (20, 60), (30, 50), (40, 40),
//!   (80), (10, 20, 50), (15, 65), (25, 55), (35, 45), (10, 30): 20
//!   campaigns from 10 to 80/s, eight numbers exactly at their tier, one at
//!   half of it. Each number's paces sum to at most the tier, so every
//!   campaign can achieve its own.
//!
//! The order: import everything; launch the big campaign and wait for its
//! first accepted message, then 5 s more (its pace alone); launch the 20
//! small ones one after the other (each launch request's time noted, with
//! `{"pace_per_second": p}`); once every one of them was accepted once (as
//! the ledger's live counters say), the measured window starts and lasts `--measure-secs` (60 s), or less if the
//! big campaign is fully sent before; `--probe-after-secs` (20 s) into it the
//! probe (`--probe-contacts`, 100, at 20/s, on the big campaign's number and
//! organization: the same queue, number and tenant as the big one) is
//! launched. Then every campaign is finished through the API
//! (`POST /v1/campaigns/{id}/finish`), the sends in flight settle, and
//! wa-sim's log is read.
//!
//! Metrics:
//!
//! - `worst_pace_ratio`: the lowest achieved ÷ configured pace of the 20,
//!   each achieved from its own first accepted message to the window's end
//!   (or its last send, if it ran out of contacts first; `pace_by_campaign`
//!   has each one); goal ≥ [`PACE_RATIO_GOAL`].
//! - `max_1s_window_by_number`: each 80/s number's busiest 1-s window over the
//!   whole run, sliding (any 1,000 ms) and calendar (whole Unix seconds);
//!   `worst_tier_ratio` the highest of them ÷ 80; `tier_exceeded_seconds`
//!   the calendar seconds (all numbers) above 80, `tier_exceeded_sliding_ms`
//!   how long (summed over the numbers) a number's trailing 1-s count was
//!   above 80 (goal: 0 both).
//!   The engine's own bound is the tier plus its number burst (96 at 80/s,
//!   `docs/rate-limiting.md`), which `above_tier_plus_burst_*` checks, and
//!   wa-sim's bucket refuses what goes beyond it: `refused_by_wa_sim`, the
//!   130429 answers the workers counted (`sends_total{code="rate_limited"}`
//!   on their `/metrics`).
//! - `time_to_first_send_s`: the probe's launch request to its first
//!   accepted message (goal ≤ 1 s); `small_time_to_first_send_{max,median}_s`
//!   the same for the 20 launched together.
//! - `big_campaign_sends_per_s` in the window, beside `big_alone_sends_per_s`
//!   before the small ones launched.
//! - `duplicates`: (recipient, campaign) pairs wa-sim accepted more than once,
//!   over the whole log (goal 0).
//!
//! To see why a goal is missed: `planning_started_s` (launch request to the
//! launch job's planning transaction, per campaign and for the probe) and
//! `first_queued_s` (to its first fan-out's transaction, once planned), the
//! send queue's depth sampled every second in the window from the first
//! worker's `/metrics` (`send_queue_in_window`: pending, in flight,
//! scheduled, the oldest pending job's age; `scripts/bench` sets
//! `METRICS_INTERVAL=1`), and the workers' mean limiter wait per number
//! (`limiter_wait_mean_s_by_number`, sends that got their turn) and sends
//! sent back to the queue for a wait too long (`limiter_gave_up_by_number`).

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write,
    path::PathBuf,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail, ensure};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{chaos::org_key, forecast::Api, throughput::busiest_second};

/// The tier of the ten small numbers, messages per second.
const TIER: f64 = 80.0;
/// The engine's burst on an 80/s number (`ratelimit::Rate::number_tier`:
/// 20 % of a second's worth), also wa-sim's bucket (`throughput_burst_fraction`).
const NUMBER_BURST: f64 = 16.0;
/// The big number's tier while its limits are lifted (`ratelimit::MAX_PER_SECOND`).
const LIFTED_THROUGHPUT: i32 = 10_000;
/// The paces of each 80/s number's campaigns (number `1001 + index`).
const PACES: [&[f64]; 10] = [
    &[10.0, 70.0],
    &[20.0, 60.0],
    &[30.0, 50.0],
    &[40.0, 40.0],
    &[80.0],
    &[10.0, 20.0, 50.0],
    &[15.0, 65.0],
    &[25.0, 55.0],
    &[35.0, 45.0],
    &[10.0, 30.0],
];
/// The probe's pace (the API's default "launch now" pace).
const PROBE_PACE: f64 = 20.0;
/// Achieved ÷ configured pace a campaign must reach over the window: the
/// limiter's jitter and a worker waking late cost a little, never more than
/// a few percent over a minute.
const PACE_RATIO_GOAL: f64 = 0.95;
/// Launch request to first accepted message of the probe.
const FIRST_SEND_GOAL_S: f64 = 1.0;
/// The big campaign's pace alone is read over this long before the small ones launch.
const ALONE: Duration = Duration::from_secs(5);

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    api: String,
    /// An API key (admin) of the big campaign's organization.
    #[arg(long, env = "API_KEY", hide_env_values = true)]
    key: String,
    /// The simulator the workers send to (its `/_sim/messages` log is read).
    #[arg(long)]
    sim: String,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// `campaignsctl`, to create the other organizations.
    #[arg(long)]
    campaignsctl: PathBuf,
    /// Contacts of each of the 20 small campaigns.
    #[arg(long, default_value_t = 20_000)]
    small_contacts: u32,
    /// Contacts of the big campaign.
    #[arg(long, default_value_t = 500_000)]
    big_contacts: u32,
    /// Contacts of the probe launched while the big campaign sends.
    #[arg(long, default_value_t = 100)]
    probe_contacts: u32,
    /// The measured window, from the moment every small campaign sent once.
    #[arg(long, default_value_t = 60)]
    measure_secs: u64,
    /// When the probe is launched, into the window (at most a third of it).
    #[arg(long, default_value_t = 20)]
    probe_after_secs: u64,
    /// A worker's Prometheus endpoint, to count wa-sim's 130429 refusals; repeat for each.
    #[arg(long = "worker-metrics")]
    worker_metrics: Vec<String>,
}

/// One organization with its number, template and bot flow.
struct Tenant {
    api: Api,
    phone_number_id: String,
    number_id: i64,
    template_id: i64,
    flow_id: i64,
}

/// The contacts of one campaign: tag and phones `+346{base + i:08}`.
struct Audience {
    tag: String,
    base: u64,
    contacts: u32,
}

struct Small {
    id: i64,
    tenant: usize,
    pace: f64,
    /// When its launch request left, Unix ms.
    launched_ms: u64,
}

/// The part of wa-sim's log we read.
#[derive(Debug, serde::Deserialize)]
struct Accepted {
    phone_number_id: String,
    to: String,
    biz_opaque_callback_data: Option<String>,
    accepted_at: u64,
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
}

/// The phone of contact `i` of an audience starting at `base` (below 100 million).
fn phone(base: u64, i: u32) -> String {
    format!("+346{:08}", base + u64::from(i))
}

pub async fn run(args: Args) -> anyhow::Result<Value> {
    let started = Instant::now();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(900)).build()?;
    let pg = PgPool::connect(&args.database_url).await.context("connecting to Postgres")?;
    ensure!(args.small_contacts <= 1_000_000 && args.big_contacts <= 5_000_000, "audiences too large for the phones");

    // The tenants: the big one (the key given) first, then one per 80/s number.
    let big_api = Api { http: http.clone(), base: args.api.clone(), key: args.key.clone() };
    let mut keys = Vec::with_capacity(PACES.len());
    for n in 0..PACES.len() {
        keys.push(org_key(&args.campaignsctl, &args.database_url, &format!("bench multi tenant {}", n + 1)).await?);
    }
    let mut tenants = vec![tenant(big_api, "1000", "2000").await?];
    for (n, key) in keys.into_iter().enumerate() {
        let api = Api { http: http.clone(), base: args.api.clone(), key };
        tenants.push(tenant(api, &(1001 + n).to_string(), &(2001 + n).to_string()).await?);
    }

    // Contacts, one CSV per organization (three at a time).
    let big = Audience { tag: "big".into(), base: 0, contacts: args.big_contacts };
    let probe = Audience { tag: "probe".into(), base: 90_000_000, contacts: args.probe_contacts };
    let mut audiences: Vec<Vec<Audience>> = vec![vec![big, probe]];
    let mut k = 0u64;
    for paces in PACES {
        let mut of_number = Vec::new();
        for _ in paces.iter() {
            of_number.push(Audience {
                tag: format!("s{k}"),
                base: 10_000_000 + k * 1_000_000,
                contacts: args.small_contacts,
            });
            k += 1;
        }
        audiences.push(of_number);
    }
    let import_started = Instant::now();
    futures::stream::iter(tenants.iter().zip(&audiences))
        .map(|(t, a)| import(&t.api, a))
        .buffer_unordered(3)
        .try_collect::<Vec<()>>()
        .await?;
    let import_s = import_started.elapsed().as_secs_f64();
    let imported: u64 = audiences.iter().flatten().map(|a| u64::from(a.contacts)).sum();
    eprintln!("imported {imported} contacts into {} organizations in {import_s:.1} s", tenants.len());

    // The campaigns, all Ready.
    let big_id = campaign(&tenants[0], "big", "big").await?;
    let probe_id = campaign(&tenants[0], "probe", "probe").await?;
    let mut smalls = Vec::new();
    for (n, paces) in PACES.iter().enumerate() {
        for (&pace, audience) in paces.iter().zip(&audiences[n + 1]) {
            let name = format!("{} at {pace}/s", audience.tag);
            let id = campaign(&tenants[n + 1], &name, &audience.tag).await?;
            smalls.push(Small { id, tenant: n + 1, pace, launched_ms: 0 });
        }
    }

    // The numbers' tiers: what registration stored, then 80 and the lifted one.
    let registered: Vec<(String, i32)> =
        sqlx::query_as("select phone_number_id, throughput_per_sec from wa_numbers order by phone_number_id")
            .fetch_all(&pg)
            .await?;
    let set_to_80: u64 = sqlx::query(
        "update wa_numbers set throughput_per_sec = 80 where phone_number_id <> '1000' and throughput_per_sec <> 80",
    )
    .execute(&pg)
    .await?
    .rows_affected();
    sqlx::query("update wa_numbers set throughput_per_sec = $1 where phone_number_id = '1000'")
        .bind(LIFTED_THROUGHPUT)
        .execute(&pg)
        .await
        .context("lifting the big number's tier (is the 1..1000 check dropped?)")?;
    sqlx::query("analyze contacts").execute(&pg).await?;
    sqlx::query("checkpoint").execute(&pg).await?;
    eprintln!(
        "registered tiers {:?}; {set_to_80} set to 80 in SQL; 1000 lifted to {LIFTED_THROUGHPUT}/s",
        registered.iter().map(|(p, t)| format!("{p}={t}")).collect::<Vec<_>>()
    );

    // The big campaign first, with its limits lifted (as send-throughput's launch_lifted).
    let big_launched_ms = unix_ms();
    launch(&tenants[0].api, big_id, json!({})).await?;
    sqlx::query("update campaigns set pace_per_second = null, pace_per_hour = null where id = $1")
        .bind(big_id)
        .execute(&pg)
        .await?;
    wait_accepted(&http, &args.sim, 1, Duration::from_secs(600)).await?;
    eprintln!("the big campaign sends {:.1} s after its launch", (unix_ms() - big_launched_ms) as f64 / 1000.0);
    tokio::time::sleep(ALONE).await;

    // The 20 small ones, one after the other.
    let small_launch_ms = unix_ms();
    for s in &mut smalls {
        s.launched_ms = unix_ms();
        launch(&tenants[s.tenant].api, s.id, json!({"pace_per_second": s.pace})).await?;
    }
    eprintln!("20 small campaigns launched in {:.2} s", (unix_ms() - small_launch_ms) as f64 / 1000.0);
    let ids: Vec<i64> = smalls.iter().map(|s| s.id).collect();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let sending: i64 = sqlx::query_scalar(
            "select count(distinct campaign_id) from campaign_counters where campaign_id = any($1) and value > 0
               and metric in ('state:accepted', 'state:sent', 'state:delivered', 'state:read')",
        )
        .bind(&ids)
        .fetch_one(&pg)
        .await?;
        if sending as usize == ids.len() {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {sending} of the {} small campaigns sent within 300 s of their launch", ids.len());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The measured window, while the big campaign still sends.
    let window_start_ms = unix_ms();
    let stop = tokio_util::sync::CancellationToken::new();
    let sampler = tokio::spawn(sample_send_queue(http.clone(), args.worker_metrics.first().cloned(), stop.clone()));
    let window_end_planned = window_start_ms + args.measure_secs * 1000;
    let probe_at = window_start_ms + args.probe_after_secs.min(args.measure_secs / 3) * 1000;
    eprintln!(
        "every small campaign sent ({:.1} s after the first launch); measuring {} s",
        (window_start_ms - small_launch_ms) as f64 / 1000.0,
        args.measure_secs
    );
    let mut probe_launched_ms = None;
    let mut big_done_early = false;
    let window_end_ms = loop {
        let now = unix_ms();
        if probe_launched_ms.is_none() && now >= probe_at {
            probe_launched_ms = Some(now);
            launch(&tenants[0].api, probe_id, json!({"pace_per_second": PROBE_PACE})).await?;
        }
        if now >= window_end_planned {
            break window_end_planned;
        }
        let done: bool = sqlx::query_scalar("select fully_sent_at is not null from campaigns where id = $1")
            .bind(big_id)
            .fetch_one(&pg)
            .await?;
        if done && probe_launched_ms.is_some() {
            big_done_early = true;
            break unix_ms();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    stop.cancel();
    let send_queue = sampler.await.context("the queue sampler")?;
    if big_done_early {
        eprintln!("the big campaign was fully sent before the window's end");
    }

    // Everything ends through the API; what is in flight settles.
    for (t, id) in std::iter::once((0, big_id))
        .chain(std::iter::once((0, probe_id)))
        .chain(smalls.iter().map(|s| (s.tenant, s.id)))
    {
        // Finishing a campaign that is sending can meet a concurrent write
        // (409 concurrent_update, "retry the request"): retried, as a user would.
        let path = format!("/v1/campaigns/{id}/finish");
        let mut tries = 0;
        while let Err(e) = tenants[t].api.call(reqwest::Method::POST, &path, None).await {
            tries += 1;
            if tries >= 10 || !e.to_string().contains("concurrent_update") {
                return Err(e);
            }
        }
    }
    let mut last = accepted_count(&http, &args.sim).await?;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = accepted_count(&http, &args.sim).await?;
        if now == last {
            break;
        }
        last = now;
    }
    let workers = worker_counts(&http, &args.worker_metrics).await;

    let mut messages: Vec<Accepted> =
        http.get(format!("{}/_sim/messages", args.sim)).send().await?.json().await.context("wa-sim's log")?;
    messages.sort_unstable_by_key(|m| m.accepted_at);
    ensure!(!messages.is_empty(), "wa-sim accepted nothing");
    let campaign_of = |m: &Accepted| -> Option<i64> {
        m.biz_opaque_callback_data.as_deref()?.split(':').next()?.strip_prefix('c')?.parse().ok()
    };
    let mut by_campaign: HashMap<i64, Vec<u64>> = HashMap::new();
    let mut by_number: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut pairs: HashMap<(&str, Option<i64>), u32> = HashMap::with_capacity(messages.len());
    for m in &messages {
        let c = campaign_of(m);
        by_campaign.entry(c.unwrap_or(-1)).or_default().push(m.accepted_at);
        by_number.entry(m.phone_number_id.as_str()).or_default().push(m.accepted_at);
        *pairs.entry((m.to.as_str(), c)).or_default() += 1;
    }
    let round = |x: f64, digits: i32| {
        let f = 10f64.powi(digits);
        (x * f).round() / f
    };
    let duplicates = pairs.values().filter(|&&n| n > 1).count();
    // When each launch job started planning (`planned_at`, its transaction's start), Unix ms.
    let planned: HashMap<i64, i64> = sqlx::query_as::<_, (i64, i64)>(
        "select id, (extract(epoch from planned_at) * 1000)::int8 from campaigns where planned_at is not null",
    )
    .fetch_all(&pg)
    .await?
    .into_iter()
    .collect();
    // When each small campaign's (and the probe's) first window was queued (the
    // launch job's first fan-out, right after planning), Unix ms.
    let small_and_probe: Vec<i64> = smalls.iter().map(|s| s.id).chain([probe_id]).collect();
    let queued: HashMap<i64, i64> = sqlx::query_as::<_, (i64, i64)>(
        "select campaign_id, (extract(epoch from min(queued_at)) * 1000)::int8 from recipients
          where campaign_id = any($1) and queued_at is not null group by 1",
    )
    .bind(&small_and_probe)
    .fetch_all(&pg)
    .await?
    .into_iter()
    .collect();
    let since = |at: &HashMap<i64, i64>, id: i64, launched_ms: u64| {
        at.get(&id).map(|&p| round((p - launched_ms as i64) as f64 / 1000.0, 3))
    };
    let planned_after = |id: i64, launched_ms: u64| since(&planned, id, launched_ms);
    let queued_after = |id: i64, launched_ms: u64| since(&queued, id, launched_ms);
    let in_window = |at: &[u64], from: u64| at.iter().filter(|&&t| t >= from && t <= window_end_ms).count();

    // Each small campaign's pace, from its own first send to the window's end.
    let mut paces = Vec::new();
    let mut first_sends = Vec::new();
    let mut worst_ratio = f64::INFINITY;
    let mut small_sent_in_window = 0;
    for s in &smalls {
        let at = by_campaign.get(&s.id).map(Vec::as_slice).unwrap_or_default();
        let Some(&first) = at.first() else { bail!("campaign {} sent nothing", s.id) };
        small_sent_in_window += in_window(at, window_start_ms);
        // A campaign that ran out of contacts before the window's end is measured until its last send.
        let complete = at.len() >= args.small_contacts as usize;
        let end = if complete { at[at.len() - 1].min(window_end_ms) } else { window_end_ms };
        let sent = at.iter().filter(|&&t| t >= first && t <= end).count();
        let seconds = (end.saturating_sub(first)) as f64 / 1000.0;
        let achieved = sent as f64 / seconds.max(0.001);
        let ratio = achieved / s.pace;
        worst_ratio = worst_ratio.min(ratio);
        let first_send_s = first.saturating_sub(s.launched_ms) as f64 / 1000.0;
        first_sends.push(first_send_s);
        paces.push(json!({
            "campaign": s.id, "number": tenants[s.tenant].phone_number_id, "pace": s.pace,
            "achieved_per_s": round(achieved, 2), "ratio": round(ratio, 3), "sent": sent,
            "seconds": round(seconds, 1), "time_to_first_send_s": round(first_send_s, 2),
            "planning_started_s": planned_after(s.id, s.launched_ms),
            "first_queued_s": queued_after(s.id, s.launched_ms), "ran_out_of_contacts": complete,
        }));
    }
    first_sends.sort_by(f64::total_cmp);
    let median_first = first_sends[first_sends.len() / 2];
    let max_first = first_sends[first_sends.len() - 1];

    // Each number's busiest second over the whole run.
    let mut windows = serde_json::Map::new();
    let (mut worst_tier_ratio, mut exceeded_seconds, mut exceeded_ms) = (0f64, 0usize, 0u64);
    let (mut over_bound_seconds, mut over_bound_ms) = (0usize, 0u64);
    for (number, at) in &by_number {
        let sliding = busiest_second(at);
        let (calendar, over_seconds) = calendar_seconds(at, TIER as usize);
        let (_, over_bound) = calendar_seconds(at, (TIER + NUMBER_BURST) as usize);
        let above_ms = above_for_ms(at, TIER as usize);
        let above_bound_ms = above_for_ms(at, (TIER + NUMBER_BURST) as usize);
        let small = *number != "1000";
        if small {
            worst_tier_ratio = worst_tier_ratio.max(sliding.max(calendar) as f64 / TIER);
            (exceeded_seconds, exceeded_ms) = (exceeded_seconds + over_seconds, exceeded_ms + above_ms);
            (over_bound_seconds, over_bound_ms) = (over_bound_seconds + over_bound, over_bound_ms + above_bound_ms);
        }
        let paces_sum: f64 =
            number.parse::<usize>().ok().and_then(|n| n.checked_sub(1001)).map_or(0.0, |i| PACES[i].iter().sum());
        windows.insert(
            (*number).to_owned(),
            if small {
                json!({"sliding": sliding, "calendar": calendar, "tier": TIER, "paces_sum": paces_sum,
                       "calendar_seconds_above_tier": over_seconds, "sliding_ms_above_tier": above_ms,
                       "sent_per_s_in_window": round(in_window(at, window_start_ms) as f64 / ((window_end_ms - window_start_ms) as f64 / 1000.0), 2)})
            } else {
                json!({"sliding": sliding, "calendar": calendar, "tier": LIFTED_THROUGHPUT, "lifted": true})
            },
        );
    }

    // The big campaign, alone and beside the small ones; the probe.
    let big_at = by_campaign.get(&big_id).map(Vec::as_slice).unwrap_or_default();
    let big_first = big_at.first().copied().context("the big campaign sent nothing")?;
    let big_alone = big_at.iter().filter(|&&t| t < small_launch_ms).count() as f64
        / ((small_launch_ms.saturating_sub(big_first)) as f64 / 1000.0).max(0.001);
    let window_s = (window_end_ms - window_start_ms) as f64 / 1000.0;
    let big_in_window = in_window(big_at, window_start_ms) as f64 / window_s.max(0.001);
    let probe_at = by_campaign.get(&probe_id).map(Vec::as_slice).unwrap_or_default();
    let probe_launched_ms = probe_launched_ms.context("the probe was not launched")?;
    let probe_first_s = probe_at.first().map(|&f| f.saturating_sub(probe_launched_ms) as f64 / 1000.0);
    let probe_span_s = match (probe_at.first(), probe_at.last()) {
        (Some(a), Some(b)) if probe_at.len() > 1 => Some((b - a) as f64 / 1000.0),
        _ => None,
    };
    let refused = workers.as_ref().map(|w| w.refused_by_number.values().sum::<u64>());

    let goals = json!({
        "worst_pace_ratio": {"goal": format!(">= {PACE_RATIO_GOAL}"), "met": worst_ratio >= PACE_RATIO_GOAL},
        "time_to_first_send_s": {"goal": format!("<= {FIRST_SEND_GOAL_S}"),
                                 "met": probe_first_s.is_some_and(|s| s <= FIRST_SEND_GOAL_S)},
        "tier_exceeded_seconds": {"goal": "0 calendar seconds and 0 ms of sliding window above the tier",
                                  "met": exceeded_seconds == 0 && exceeded_ms == 0},
        "duplicates": {"goal": "0", "met": duplicates == 0},
        "refused_by_wa_sim": {"goal": "0", "met": refused == Some(0)},
    });
    let all_met = goals.as_object().is_some_and(|g| g.values().all(|v| v["met"] == true));
    eprintln!(
        "worst pace ratio {worst_ratio:.3}; worst tier ratio {worst_tier_ratio:.3}; probe's first send {probe_first_s:?} s; \
         big {big_alone:.0}/s alone, {big_in_window:.0}/s beside the small ones; {duplicates} duplicates; refused {refused:?}"
    );
    Ok(json!({
        "bench": "multi",
        "metrics": {
            "worst_pace_ratio": round(worst_ratio, 3),
            "worst_tier_ratio": round(worst_tier_ratio, 3),
            "tier_exceeded_seconds": exceeded_seconds,
            "tier_exceeded_sliding_ms": exceeded_ms,
            "above_tier_plus_burst_seconds": over_bound_seconds,
            "above_tier_plus_burst_sliding_ms": over_bound_ms,
            "time_to_first_send_s": probe_first_s.map(|s| round(s, 3)),
            "small_time_to_first_send_max_s": round(max_first, 3),
            "small_time_to_first_send_median_s": round(median_first, 3),
            "big_campaign_sends_per_s": big_in_window.round(),
            "big_alone_sends_per_s": big_alone.round(),
            "small_campaigns_sends_per_s": round(small_sent_in_window as f64 / window_s.max(0.001), 1),
            "duplicates": duplicates,
            "refused_by_wa_sim": refused,
            "refused_by_number": workers.as_ref().map(|w| &w.refused_by_number),
            "accepted_counted_by_workers": workers.as_ref().map(|w| w.accepted),
            "limiter_wait_mean_s_by_number": workers.as_ref().map(|w| {
                w.limiter_wait.iter().map(|(n, (sum, count))| (n.clone(), round(sum / count.max(1.0), 3))).collect::<BTreeMap<_, _>>()
            }),
            "limiter_gave_up_by_number": workers.as_ref().map(|w| &w.gave_up_by_number),
            "send_queue_in_window": send_queue,
            "goals_met": all_met,
            "goals": goals,
            "window_s": round(window_s, 1),
            "big_done_before_window_end": big_done_early,
            "probe": {"contacts": args.probe_contacts, "pace": PROBE_PACE, "sent": probe_at.len(),
                      "planning_started_s": planned_after(probe_id, probe_launched_ms),
                      "first_queued_s": queued_after(probe_id, probe_launched_ms),
                      "span_s": probe_span_s.map(|s| round(s, 2)), "number": "1000"},
            "max_1s_window_by_number": windows,
            "pace_by_campaign": paces,
            "campaigns": smalls.len(),
            "small_contacts": args.small_contacts,
            "big_contacts": args.big_contacts,
            "big_sent": big_at.len(),
            "messages": messages.len(),
            "registered_throughput": registered.into_iter().collect::<BTreeMap<_, _>>(),
            "throughput_set_to_80_in_sql": set_to_80,
            "import_s": round(import_s, 1),
            "imported_contacts": imported,
            "wall_s": round(started.elapsed().as_secs_f64(), 1),
        }
    }))
}

async fn launch(api: &Api, id: i64, body: Value) -> anyhow::Result<Value> {
    api.call(reqwest::Method::POST, &format!("/v1/campaigns/{id}/launch"), Some(body)).await
}

/// Registers the organization's number (verified against wa-sim), syncs its
/// templates and adds a bot flow.
async fn tenant(api: Api, phone_number_id: &str, waba_id: &str) -> anyhow::Result<Tenant> {
    let post = reqwest::Method::POST;
    let number = api
        .call(
            post.clone(),
            "/v1/numbers",
            Some(json!({"phone_number_id": phone_number_id, "waba_id": waba_id,
                        "access_token": "bench-token", "app_secret": "bench-secret"})),
        )
        .await?;
    api.call(post.clone(), "/v1/templates/sync", Some(json!({}))).await?;
    let templates = api.call(reqwest::Method::GET, "/v1/templates?name=bench", None).await?;
    let template_id = templates[0]["id"].as_i64().or_else(|| templates["data"][0]["id"].as_i64());
    let flow = api
        .call(
            post,
            "/v1/bot-flows",
            Some(json!({"name": "bench bot", "endpoint_url": "http://127.0.0.1:9/bot", "secret": "bench-bot-secret-0123"})),
        )
        .await?;
    Ok(Tenant {
        phone_number_id: phone_number_id.to_owned(),
        number_id: number["id"].as_i64().context("the number's id")?,
        template_id: template_id.with_context(|| format!("the synced bench template: {templates}"))?,
        flow_id: flow["id"].as_i64().context("the bot flow's id")?,
        api,
    })
}

/// One CSV with every audience of an organization.
async fn import(api: &Api, audiences: &[Audience]) -> anyhow::Result<()> {
    let rows: u64 = audiences.iter().map(|a| u64::from(a.contacts)).sum();
    let mut csv = String::with_capacity(rows as usize * 32 + 16);
    csv.push_str("phone,name,tags\n");
    for a in audiences {
        for i in 0..a.contacts {
            let _ = writeln!(csv, "{},Ana {i},{}", phone(a.base, i), a.tag);
        }
    }
    api.import_csv(csv, rows).await
}

/// A Ready campaign on the contacts tagged `tag`; returns its id.
async fn campaign(t: &Tenant, name: &str, tag: &str) -> anyhow::Result<i64> {
    let campaign = t
        .api
        .call(
            reqwest::Method::POST,
            "/v1/campaigns",
            Some(json!({
                "name": name, "number_id": t.number_id, "audience": {"tags": [tag]},
                "template_id": t.template_id, "bot_flow_id": t.flow_id,
                "bindings": [{"param": "1", "kind": "contact_name"}]
            })),
        )
        .await?;
    ensure!(campaign["state"] == "ready", "campaign {name} is not ready: {campaign}");
    campaign["id"].as_i64().context("the campaign's id")
}

async fn accepted_count(http: &reqwest::Client, sim: &str) -> anyhow::Result<u64> {
    let count: Value = http.get(format!("{sim}/_sim/messages/count")).send().await?.json().await?;
    count["accepted"].as_u64().context("wa-sim's message count")
}

async fn wait_accepted(http: &reqwest::Client, sim: &str, n: u64, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let seen = accepted_count(http, sim).await?;
        if seen >= n {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{seen} messages accepted after {timeout:?}, expected {n}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the workers counted on their `/metrics` (`sends_total`): wa-sim's
/// 130429 answers (`code="rate_limited"`) per number, and the accepted
/// sends (to check the endpoints were read); `None` when one could not be read.
struct WorkerCounts {
    refused_by_number: BTreeMap<String, u64>,
    accepted: u64,
    /// `limiter_wait_seconds{outcome="acquired"}`: (sum, count) per number.
    limiter_wait: BTreeMap<String, (f64, f64)>,
    /// `limiter_wait_seconds_count{outcome="gave_up"}` per number: sends sent back to the queue.
    gave_up_by_number: BTreeMap<String, u64>,
}

async fn worker_counts(http: &reqwest::Client, endpoints: &[String]) -> Option<WorkerCounts> {
    if endpoints.is_empty() {
        return None;
    }
    let mut counts = WorkerCounts {
        refused_by_number: BTreeMap::new(),
        accepted: 0,
        limiter_wait: BTreeMap::new(),
        gave_up_by_number: BTreeMap::new(),
    };
    for url in endpoints {
        let text = match http.get(url).send().await {
            Ok(r) => r.text().await.ok()?,
            Err(e) => {
                eprintln!("reading {url}: {e}");
                return None;
            }
        };
        for line in text.lines() {
            let Some((name_labels, value)) = line.rsplit_once(' ') else { continue };
            let Some((name, labels)) = name_labels.split_once('{') else { continue };
            let value = value.trim().parse::<f64>().unwrap_or(0.0);
            let number = label(labels, "phone_number_id").unwrap_or("?").to_owned();
            let outcome = label(labels, "outcome");
            match name {
                "sends_total" => {
                    if outcome == Some("accepted") {
                        counts.accepted += value as u64;
                    }
                    if label(labels, "code") == Some("rate_limited") {
                        *counts.refused_by_number.entry(number).or_insert(0) += value as u64;
                    }
                }
                "limiter_wait_seconds_sum" if outcome == Some("acquired") => {
                    counts.limiter_wait.entry(number).or_insert((0.0, 0.0)).0 += value;
                }
                "limiter_wait_seconds_count" if outcome == Some("acquired") => {
                    counts.limiter_wait.entry(number).or_insert((0.0, 0.0)).1 += value;
                }
                "limiter_wait_seconds_count" if outcome == Some("gave_up") => {
                    *counts.gave_up_by_number.entry(number).or_insert(0) += value as u64;
                }
                _ => {}
            }
        }
    }
    Some(counts)
}

/// A label's value in a Prometheus sample's `{a="x",b="y"}` (without the braces' end).
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    labels.split(&format!("{name}=\"")).nth(1)?.split('"').next()
}

/// The send queue's gauges (`queue_*_jobs{queue="...send"}`, exported by a
/// worker every `METRICS_INTERVAL`), read every second until `stop`: the
/// largest and mean of each.
async fn sample_send_queue(
    http: reqwest::Client,
    endpoint: Option<String>,
    stop: tokio_util::sync::CancellationToken,
) -> Value {
    let Some(url) = endpoint else { return Value::Null };
    let mut samples: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let gauges = [
        ("queue_pending_jobs", "pending"),
        ("queue_inflight_jobs", "inflight"),
        ("queue_scheduled_jobs", "scheduled"),
        ("queue_oldest_pending_age_seconds", "oldest_pending_age_s"),
    ];
    while !stop.is_cancelled() {
        if let Ok(text) = async { http.get(&url).send().await?.text().await }.await {
            for line in text.lines() {
                let Some((name_labels, value)) = line.rsplit_once(' ') else { continue };
                let Some((name, labels)) = name_labels.split_once('{') else { continue };
                if !label(labels, "queue").is_some_and(|q| q.ends_with("send")) {
                    continue;
                }
                if let (Some((_, key)), Ok(v)) = (gauges.iter().find(|(g, _)| *g == name), value.trim().parse()) {
                    samples.entry(key).or_default().push(v);
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    let summary: serde_json::Map<String, Value> = samples
        .into_iter()
        .map(|(key, v)| {
            let max = v.iter().copied().fold(0.0, f64::max);
            let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
            (key.to_owned(), json!({"max": max, "mean": (mean * 10.0).round() / 10.0}))
        })
        .collect();
    Value::Object(summary)
}

/// The busiest whole Unix second, and how many seconds held more than `limit`.
fn calendar_seconds(at: &[u64], limit: usize) -> (usize, usize) {
    let mut seconds: HashMap<u64, usize> = HashMap::new();
    for &t in at {
        *seconds.entry(t / 1000).or_default() += 1;
    }
    (seconds.values().copied().max().unwrap_or(0), seconds.values().filter(|&&n| n > limit).count())
}

/// For how many milliseconds the trailing 1-s window (t − 1000, t] held more
/// than `limit` messages (`at` sorted): a sweep over arrivals and departures.
fn above_for_ms(at: &[u64], limit: usize) -> u64 {
    // The next change: an arrival at at[i] or a departure at at[j] + 1000.
    let next = |i: usize, j: usize| if i < at.len() { at[i].min(at[j] + 1000) } else { at[j] + 1000 };
    let (mut i, mut j, mut inside, mut above) = (0, 0, 0usize, 0u64);
    while j < at.len() {
        let t = next(i, j);
        while i < at.len() && at[i] == t {
            inside += 1;
            i += 1;
        }
        while j < i && at[j] + 1000 == t {
            inside -= 1;
            j += 1;
        }
        if inside > limit {
            above += next(i, j) - t;
        }
    }
    above
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_above_the_limit() {
        // 3 messages within 1 s, then a fourth 1.5 s later.
        let at = [0, 100, 200, 1_700];
        assert_eq!(busiest_second(&at), 3);
        assert_eq!(calendar_seconds(&at, 2), (3, 1));
        // (t-1000, t] holds 3 from 200 until 1000 (when the first leaves).
        assert_eq!(above_for_ms(&at, 2), 800);
        assert_eq!(above_for_ms(&at, 3), 0);
        assert_eq!(above_for_ms(&[5, 5, 5], 2), 1_000);
        // 3 inside from 600, 4 from 700 to 1000, 3 again until 1500.
        assert_eq!(above_for_ms(&[0, 500, 600, 700], 2), 900);
        assert_eq!(above_for_ms(&[0, 500, 600, 700], 3), 300);
    }

    #[test]
    fn the_paces_fit_the_tiers() {
        assert_eq!(PACES.iter().map(|p| p.len()).sum::<usize>(), 20);
        assert!(PACES.iter().all(|p| p.iter().sum::<f64>() <= TIER));
        let all: Vec<f64> = PACES.iter().flat_map(|p| p.iter().copied()).collect();
        assert!(all.contains(&10.0) && all.contains(&80.0));
    }
}
