#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns
//! The send path under faults: a stale job takes no token, errors before the
//! claim back off and pause what cannot send, a row that cannot be prepared
//! ends failed, retries come back after their back-off, in-flight sends are
//! bounded, a stall releases no burst, in-doubt rows are settled only on
//! complete evidence, and status batches never deadlock each other.

use std::{
    collections::HashSet,
    sync::Arc,
    time::{Duration, Instant},
};

use e2e::{StatusCode, TestApp, eventually};
use serde_json::json;
use sqlx::PgPool;
use store::{
    recipients::{self, Evidence, JobKey},
    statuses::{StatusBatch, StatusKind},
};
use support::{namespace, queued_campaign, queued_campaign_with, sender, state};
use wa_sim::config::FaultsConfig;
use workers::{
    ledger::Ledger,
    pipeline::PRE_CLAIM_LIMIT,
    send::{RetryPolicy, SendFailure, SendResult},
};

mod support;

async fn contacts(app: &TestApp, n: usize) {
    let list: Vec<_> = (0..n)
        .map(|i| json!({"phone": format!("+3461234{i:04}"), "name": format!("N{i}"), "tags": ["vip"], "valued_tags": {"order_id": format!("A{i}")}}))
        .collect();
    app.contacts(serde_json::Value::Array(list)).await;
}

async fn launch(app: &TestApp, extra: serde_json::Value) -> i64 {
    let setup = app.campaign_setup().await;
    let c = app.ready_campaign(&setup, "faults", extra).await;
    let id = c["id"].as_i64().unwrap();
    assert_eq!(app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await.0, StatusCode::OK);
    id
}

async fn campaign_pause(app: &TestApp, campaign: i64) -> Option<(String, String)> {
    sqlx::query_as("select pause_code, pause_reason from campaigns where id = $1 and paused_at is not null")
        .bind(campaign)
        .fetch_optional(&app.pg)
        .await
        .unwrap()
}

async fn states(app: &TestApp, campaign: i64) -> Vec<(String, i64)> {
    sqlx::query_as("select state::text, count(*) from recipients where campaign_id = $1 group by 1 order by 1")
        .bind(campaign)
        .fetch_all(&app.pg)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_stale_job_takes_no_token_and_the_sweepers_push_is_the_only_live_job(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    // One send per second, a burst of two: a token spent for nothing is a
    // real send delayed.
    let (campaign, ids) = queued_campaign_with(&app, &["+34612345601"], json!({"pace_per_second": 1})).await;
    let mut s = sender(&app, app.state.cloud.clone()).await;
    s.policy.max_limiter_wait = Duration::from_millis(200);
    let ledger = Ledger::direct(app.pg.clone(), "test");

    // The lost-work sweep pushes the row again: its job takes the next dispatch number.
    let cutoff = recipients::stale_cutoff(&app.pg, Duration::ZERO).await.unwrap();
    let pushed = recipients::requeue_stale(&app.pg, cutoff, 10).await.unwrap();
    assert_eq!(pushed, [JobKey::new(campaign, ids[0], Some(1))]);
    let stale = JobKey::new(campaign, ids[0], Some(0));
    for _ in 0..5 {
        assert_eq!(s.send_with(&ledger, stale, None).await.unwrap(), SendResult::NothingToDo, "the old job is dead");
    }
    assert_eq!(app.sim.accepted_count(), 0);
    // The stale jobs took no token: the live job sends at once.
    let started = Instant::now();
    let result = s.send_with(&ledger, pushed[0], None).await.unwrap();
    assert!(matches!(result, SendResult::Accepted { .. }), "{result:?}");
    assert!(started.elapsed() < Duration::from_millis(200), "no wait for tokens: {:?}", started.elapsed());
    assert_eq!(s.send_with(&ledger, stale, None).await.unwrap(), SendResult::NothingToDo);
    assert_eq!(app.sim.messages_to("+34612345601").len(), 1);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn pushing_every_queued_row_again_in_pages_takes_each_row_once_and_ends(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let phones = ["+34612345601", "+34612345602", "+34612345603", "+34612345604", "+34612345605"];
    let (campaign, ids) = queued_campaign(&app, &phones).await;
    // As after a Redis flush with more queued rows than one page: pages of 2.
    let cutoff = recipients::stale_cutoff(&app.pg, Duration::ZERO).await.unwrap();
    let mut pushed = Vec::new();
    for _ in 0..10 {
        let page = recipients::requeue_stale(&app.pg, cutoff, 2).await.unwrap();
        let last = page.len() < 2;
        pushed.extend(page);
        if last {
            break;
        }
    }
    pushed.sort_by_key(|k| k.contact_id);
    let expected: Vec<JobKey> = ids.iter().map(|id| JobKey::new(campaign, *id, Some(1))).collect();
    assert_eq!(pushed, expected, "each queued row once, with its next dispatch number, and the paging ended");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_token_that_cannot_be_decrypted_pauses_the_campaign_with_a_readable_reason(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, ids) = queued_campaign(&app, &["+34612345601"]).await;
    // As after a rotated APP_ENCRYPTION_KEY: the stored token is not ours to read.
    sqlx::query("update wa_numbers set access_token_enc = $1").bind(vec![7u8; 64]).execute(&app.pg).await.unwrap();
    let s = sender(&app, app.state.cloud.clone()).await;
    let result = s.send(campaign, ids[0]).await.unwrap();
    assert_eq!(result, SendResult::Paused { code: "number_token_undecryptable".into() });
    let (code, reason) = campaign_pause(&app, campaign).await.expect("paused");
    assert_eq!(code, "number_token_undecryptable");
    assert!(reason.contains("APP_ENCRYPTION_KEY"), "{reason}");
    let (st, _, _, attempt) = state(&app, campaign, ids[0]).await;
    assert_eq!((st.as_str(), attempt), ("queued", 0), "the recipient waits, no attempt spent");
    assert_eq!(app.sim.accepted_count(), 0);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_limiter_that_keeps_failing_backs_off_then_pauses_the_campaign(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    contacts(&app, 3).await;
    let ns = namespace();
    let policy = RetryPolicy { base: Duration::from_millis(20), ..RetryPolicy::default() };
    let pipeline = support::pipeline_with_policy(&app, &ns, policy, |_, _| {}).await;
    let stop = support::spawn(pipeline.clone());
    let id = launch(&app, json!({"pace_per_second": 10})).await;
    // The campaign's limiter key holds the wrong type: every acquire fails in Redis.
    let mut conn = pipeline.redis.clone();
    let _: () =
        redis::cmd("RPUSH").arg(format!("{ns}:rl:campaign:{id}")).arg("x").query_async(&mut conn).await.unwrap();

    let (code, reason) =
        eventually(Duration::from_secs(60), "the campaign paused", || async { campaign_pause(&app, id).await }).await;
    assert_eq!(code, "send_failing");
    assert!(reason.contains(&format!("{PRE_CLAIM_LIMIT} times in a row")), "{reason}");
    assert!(reason.contains("WRONGTYPE"), "the cause is named: {reason}");
    assert_eq!(states(&app, id).await, [("queued".to_owned(), 3)], "nothing claimed, nothing failed");
    let attempts: i64 =
        sqlx::query_scalar("select coalesce(sum(attempt), 0)::bigint from recipients where campaign_id = $1")
            .bind(id)
            .fetch_one(&app.pg)
            .await
            .unwrap();
    assert_eq!(attempts, 0, "no attempt was spent");
    assert_eq!(app.sim.accepted_count(), 0);
    stop.cancel();
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_row_that_cannot_be_prepared_fails_with_a_stable_code_after_its_attempts(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, ids) = queued_campaign(&app, &["+34612345601"]).await;
    sqlx::query(r#"update campaigns set bindings = '[{"param": "1", "kind": "no_such_kind"}]'::jsonb where id = $1"#)
        .bind(campaign)
        .execute(&app.pg)
        .await
        .unwrap();
    let mut s = sender(&app, app.state.cloud.clone()).await;
    s.policy = RetryPolicy { base: Duration::from_millis(1), max_attempts: 3, ..s.policy };

    let mut failures = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    let last = loop {
        assert!(Instant::now() < deadline, "still retrying after 20 s");
        match s.send(campaign, ids[0]).await {
            Err(SendFailure::AfterClaim { .. }) => failures += 1,
            Ok(SendResult::Retry { .. }) => {} // not due yet
            other => break other,
        }
    };
    assert_eq!(last.unwrap(), SendResult::Failed { code: "prepare_failed".into(), attempts_exhausted: true });
    assert_eq!(failures, 2, "two retries, then the third attempt fails for good");
    let (st, code, _, attempt) = state(&app, campaign, ids[0]).await;
    assert_eq!((st.as_str(), code.as_deref(), attempt), ("failed", Some("prepare_failed"), 3));
    let reason: String = sqlx::query_scalar("select reason from recipients where campaign_id = $1")
        .bind(campaign)
        .fetch_one(&app.pg)
        .await
        .unwrap();
    assert!(reason.starts_with("the message could not be prepared"), "{reason}");
    assert_eq!(store::campaigns::mark_fully_sent(&app.pg).await.unwrap(), [campaign], "the campaign can finish");
    assert_eq!(app.sim.accepted_count(), 0);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_send_given_up_on_is_dead_lettered_and_listed_for_its_organization(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    contacts(&app, 2).await;
    // The organization's listing has been read once: from now on it is the
    // index the workers keep that finds new dead letters.
    let (status, page) = app.get("/v1/dead-letters/send").await;
    assert_eq!((status, page["data"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{page}");
    let setup = app.campaign_setup().await;
    let c = app.ready_campaign(&setup, "broken", json!({"pace_per_second": 100})).await;
    let id = c["id"].as_i64().unwrap();
    assert_eq!(app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await.0, StatusCode::OK);
    // Broken after the launch checked it (no path the API offers leads here).
    sqlx::query(r#"update campaigns set bindings = '[{"param": "1", "kind": "no_such_kind"}]'::jsonb where id = $1"#)
        .bind(id)
        .execute(&app.pg)
        .await
        .unwrap();
    let ns = app.state.dead_letters.as_ref().unwrap().queue_prefix().to_owned();
    let policy = RetryPolicy { base: Duration::from_millis(10), max_attempts: 2, ..RetryPolicy::default() };
    let stop = support::spawn(support::pipeline_with_policy(&app, &ns, policy, |_, _| {}).await);
    let page = eventually(Duration::from_secs(30), "both sends dead-lettered", || async {
        let (_, page) = app.get("/v1/dead-letters/send").await;
        (page["data"].as_array().map(Vec::len) == Some(2)).then_some(page)
    })
    .await;
    let item = &page["data"][0];
    assert_eq!(item["payload"]["campaign_id"], id);
    assert!(item["last_error"].as_str().unwrap().contains("prepare_failed"), "{item}");
    assert_eq!(states(&app, id).await, [("failed".to_owned(), 2)]);
    let (_, other_key) = app.other_org().await;
    let (_, theirs) = e2e::send(app.http.get(app.url("/v1/dead-letters/send")).bearer_auth(&other_key)).await;
    assert_eq!(theirs["data"].as_array().map(Vec::len), Some(0), "not another organization's: {theirs}");
    stop.cancel();
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_retryable_answer_is_retried_after_its_back_off_not_after_the_lost_work_sweep(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    contacts(&app, 5).await;
    app.sim.set_faults(FaultsConfig { server_error_rate: 1.0, ..FaultsConfig::default() });
    // Production settings: lost work is pushed again after 60 s.
    let pipeline = support::pipeline(&app, &namespace(), |_, _| {}).await;
    assert_eq!(pipeline.settings.lost_work, Duration::from_secs(60));
    let stop = support::spawn(pipeline);
    let id = launch(&app, json!({"pace_per_second": 100})).await;
    eventually(Duration::from_secs(20), "every recipient answered 500 once", || async {
        let failed_once: i64 = sqlx::query_scalar(
            "select count(*) from recipients where campaign_id = $1 and attempt >= 1 and state = 'queued'",
        )
        .bind(id)
        .fetch_one(&app.pg)
        .await
        .unwrap();
        (failed_once == 5).then_some(())
    })
    .await;
    app.sim.set_faults(FaultsConfig::default());
    let healed = Instant::now();
    eventually(Duration::from_secs(15), "every recipient accepted", || async {
        (states(&app, id).await == [("accepted".to_owned(), 5)]).then_some(())
    })
    .await;
    // The first back-off is 2 s (whole seconds in the queue): far from the sweep's minute.
    assert!(healed.elapsed() < Duration::from_secs(10), "retried after {:?}", healed.elapsed());
    stop.cancel();
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn send_concurrency_bounds_the_sends_a_process_holds(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    contacts(&app, 40).await;
    // Every send is accepted, then its answer hangs.
    app.sim.set_faults(FaultsConfig { accept_then_hang_rate: 1.0, hang_ms: 4_000, ..FaultsConfig::default() });
    let ns = namespace();
    let pipeline = support::pipeline(&app, &ns, |s, _| s.send_concurrency = 4).await;
    let stop = support::spawn(pipeline.clone());
    let id = launch(&app, json!({"pace_per_second": 1000})).await;
    eventually(Duration::from_secs(20), "four sends hanging", || async {
        (app.sim.accepted_count() >= 4).then_some(())
    })
    .await;
    // While they hang, nothing more is sent, claimed or held by the process.
    let queue = format!("{ns}{}", <queue::SendJob as queue::Job>::QUEUE);
    let mut conn = pipeline.redis.clone();
    for _ in 0..10 {
        let sending: i64 =
            sqlx::query_scalar("select count(*) from recipients where campaign_id = $1 and state = 'sending'")
                .bind(id)
                .fetch_one(&app.pg)
                .await
                .unwrap();
        assert!(sending <= 4, "{sending} rows being sent at once");
        // Fetched jobs beyond the slots wait for one, claiming nothing.
        let held = queue::queue_gauges(&mut conn, &queue).await.unwrap().inflight;
        let most = 4 * workers::pipeline::JOBS_PER_SLOT;
        assert!(held <= most as u64, "the process holds {held} tasks (4 running, at most {most} fetched)");
        assert!(app.sim.accepted_count() <= 4, "{} sent while four hang", app.sim.accepted_count());
        tokio::time::sleep(Duration::from_millis(100)).await; // sampling, not synchronisation
    }
    stop.cancel();
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_test_campaign_finishes_by_itself_and_releases_its_contacts(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    let ids = app
        .contacts(json!([
            {"phone": "+34612345601", "name": "Ana", "tags": ["vip"], "valued_tags": {"order_id": "A1"}},
            {"phone": "+34612345602", "name": "Luis", "tags": ["vip"], "valued_tags": {"order_id": "A2"}}
        ]))
        .await;
    let template_id = app.template_id("order_update", "en_US").await;
    let (status, test) = app
        .post(
            "/v1/campaigns",
            json!({
                "name": "pilot", "kind": "test", "number_id": setup.number_id, "template_id": template_id,
                "bot_flow_id": setup.bot_flow_id, "test_phones": ["+34612345601", "+34612345602"],
                "bindings": [{"param": "1", "kind": "contact_name"}, {"param": "2", "kind": "text", "value": "T-1"}],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{test}");
    let id = test["id"].as_i64().unwrap();
    let stop = support::spawn(support::pipeline(&app, &namespace(), |_, _| {}).await);
    assert_eq!(app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await.0, StatusCode::OK);
    eventually(Duration::from_secs(30), "the test campaign finished", || async {
        let (_, c) = app.get(&format!("/v1/campaigns/{id}")).await;
        (c["state"] == "finished").then_some(())
    })
    .await;
    assert_eq!(app.sim.accepted_count(), 2);
    let engaged: i64 = sqlx::query_scalar("select count(*) from engagements where contact_id = any($1)")
        .bind(&ids)
        .fetch_one(&app.pg)
        .await
        .unwrap();
    assert_eq!(engaged, 0, "the test phones are free for the real launch");
    stop.cancel();
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_stall_between_token_and_request_releases_no_burst(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    contacts(&app, 120).await;
    let pipeline = support::pipeline(&app, &namespace(), |_, _| {}).await;
    let stop = support::spawn(pipeline);
    launch(&app, json!({"pace_per_second": 20})).await;
    eventually(Duration::from_secs(20), "sending at pace", || async { (app.sim.accepted_count() >= 10).then_some(()) })
        .await;
    // Claims stall for three seconds (as behind a Postgres restart) while the
    // send jobs keep taking tokens.
    let mut stall = app.pg.begin().await.unwrap();
    sqlx::query("lock table recipients in exclusive mode").execute(&mut *stall).await.unwrap();
    let before = app.sim.accepted_count();
    tokio::time::sleep(Duration::from_secs(3)).await; // the fault's length, not synchronisation
    stall.commit().await.unwrap();
    eventually(Duration::from_secs(30), "sending again", || async {
        (app.sim.accepted_count() >= before + 40).then_some(())
    })
    .await;
    stop.cancel();
    // Pace 20/s, burst 2: no window of w seconds holds more than 20·w + 2
    // sends, 2 more for a send leaving up to FRESH_TOKEN (100 ms) after its
    // token, and 2 more for the time between the limiter and wa-sim's clock.
    let mut at: Vec<u64> = app.sim.accepted().iter().map(|m| m.accepted_at).collect();
    at.sort_unstable();
    for window_ms in [250u64, 500, 1_000] {
        let most = (0..at.len()).map(|i| at[i..].iter().take_while(|u| **u < at[i] + window_ms).count()).max();
        let fresh = (20 * workers::send::FRESH_TOKEN.as_millis() / 1_000) as usize;
        let allowed = (20 * window_ms / 1_000) as usize + 2 + fresh + 2;
        assert!(
            most.unwrap_or(0) <= allowed,
            "{most:?} sends within {window_ms} ms after the stall (at most {allowed})"
        );
    }
    assert_eq!(at.len(), app.sim.accepted().iter().map(|m| m.wa_id.clone()).collect::<HashSet<_>>().len());
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn lost_work_after_a_flush_is_back_within_seconds(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    contacts(&app, 60).await;
    let pipeline = support::pipeline(&app, &namespace(), |_, _| {}).await;
    let stop = support::spawn(pipeline.clone());
    let id = launch(&app, json!({"pace_per_second": 10})).await;
    eventually(Duration::from_secs(20), "some messages sent", || async {
        (app.sim.accepted_count() >= 5).then_some(())
    })
    .await;
    // Every key of the deployment (this test's namespace) disappears, as in a FLUSHALL.
    let mut conn = pipeline.redis.clone();
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{}*", pipeline.settings.queue_prefix)).query_async(&mut conn).await.unwrap();
    let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.unwrap();
    let flushed = Instant::now();
    let before = app.sim.accepted_count();
    eventually(Duration::from_secs(30), "sending again", || async {
        (app.sim.accepted_count() >= before + 5).then_some(())
    })
    .await;
    assert!(
        flushed.elapsed() < Duration::from_secs(5) + Duration::from_millis(500),
        "back after {:?}",
        flushed.elapsed()
    );
    eventually(Duration::from_secs(60), "every contact reached", || async {
        (states(&app, id).await == [("accepted".to_owned(), 60)]).then_some(())
    })
    .await;
    assert_eq!(app.sim.accepted_count(), 60, "no duplicate");
    stop.cancel();
}

/// A row claimed by `worker`, its request in flight since `ago`.
async fn sending_row(app: &TestApp, worker: &str, ago_secs: i64) -> (i64, i64) {
    let (campaign, ids) = queued_campaign(app, &["+34612345601"]).await;
    sqlx::query(
        "update recipients set state = 'sending', attempt = 1, sending_by = $2,
                sending_at = now() - make_interval(secs => $3), updated_at = now() - make_interval(secs => $3)
         where campaign_id = $1",
    )
    .bind(campaign)
    .bind(worker)
    .bind(ago_secs as f64)
    .execute(&app.pg)
    .await
    .unwrap();
    (campaign, ids[0])
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_dead_workers_sends_are_in_doubt_at_once_a_live_ones_are_left(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, contact) = sending_row(&app, "worker-a", 1).await;
    store::worker_processes::register(&app.pg, "worker-a", "host", &["send".to_owned()]).await.unwrap();
    let (stuck, dead_after) = (Duration::from_secs(120), Duration::from_secs(5));
    assert_eq!(recipients::sweep_stuck_sending(&app.pg, stuck, dead_after).await.unwrap(), 0, "its worker is alive");
    sqlx::query("update worker_processes set last_seen_at = now() - interval '6 seconds'")
        .execute(&app.pg)
        .await
        .unwrap();
    assert_eq!(recipients::sweep_stuck_sending(&app.pg, stuck, dead_after).await.unwrap(), 1);
    assert_eq!(state(&app, campaign, contact).await.0, "in_doubt", "one second after its send, not two minutes");
}

/// A row in doubt since `ago` seconds, sent from the campaign's number.
async fn in_doubt_row(app: &TestApp, ago_secs: i64) -> (i64, i64) {
    let (campaign, contact) = sending_row(app, "gone", ago_secs).await;
    sqlx::query("update recipients set state = 'in_doubt', reason_code = 'outcome_unknown' where campaign_id = $1")
        .bind(campaign)
        .execute(&app.pg)
        .await
        .unwrap();
    (campaign, contact)
}

const EVIDENCE: Evidence = Evidence {
    margin: Duration::from_secs(15),
    settle_after: Duration::from_secs(25),
    outage_grace: Duration::from_secs(30),
};

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_in_doubt_row_waits_for_the_webhook_backlog_before_its_policy_settles_it(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, contact) = in_doubt_row(&app, 20 * 60).await;
    let window = Duration::from_secs(600);
    // A webhook received within the window after the attempt is still waiting to be applied: it may be the proof.
    let event: i64 = sqlx::query_scalar(
        "insert into webhook_events (phone_number_id, payload, received_at) values ('x', '\\x7b7d', now() - interval '15 minutes') returning id",
    )
    .fetch_one(&app.pg)
    .await
    .unwrap();
    let r = recipients::reconcile_in_doubt(&app.pg, window, 8, EVIDENCE, 100).await.unwrap();
    assert_eq!((r.failed, r.requeued.len(), r.resent.len()), (0, 0, 0), "{r:?}");
    assert_eq!(state(&app, campaign, contact).await.0, "in_doubt");
    sqlx::query("update webhook_events set processed_at = now() where id = $1")
        .bind(event)
        .execute(&app.pg)
        .await
        .unwrap();
    let r = recipients::reconcile_in_doubt(&app.pg, window, 8, EVIDENCE, 100).await.unwrap();
    assert_eq!(r.failed, 1, "at most once: failed as outcome unknown once the backlog is applied");
    let (st, code, _, _) = state(&app, campaign, contact).await;
    assert_eq!((st.as_str(), code.as_deref()), ("failed", Some("outcome_unknown")));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_in_doubt_attempt_proven_never_accepted_is_sent_again_once(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, contact) = in_doubt_row(&app, 60).await;
    let window = Duration::from_secs(600);
    let number: i64 = sqlx::query_scalar("select number_id from campaigns where id = $1")
        .bind(campaign)
        .fetch_one(&app.pg)
        .await
        .unwrap();
    // Statuses of sends made 30 s after the attempt have been applied…
    sqlx::query("insert into number_status_watermarks values ($1, 0, now() - interval '30 seconds')")
        .bind(number)
        .execute(&app.pg)
        .await
        .unwrap();
    // …but no API was stamping its uptime then (this one started since):
    // the endpoint may have been down, and Meta's retries may still come.
    let r = recipients::reconcile_in_doubt(&app.pg, window, 8, EVIDENCE, 100).await.unwrap();
    assert!(r.resent.is_empty(), "no evidence across an outage of the endpoint: {r:?}");
    up_since(&app, 61, None).await;
    let r = recipients::reconcile_in_doubt(&app.pg, window, 8, EVIDENCE, 100).await.unwrap();
    assert_eq!(r.resent, [JobKey::new(campaign, contact, Some(1))], "sent again, with a new dispatch");
    assert_eq!(state(&app, campaign, contact).await.0, "queued");
    // In doubt again, proven again: sent again, once more.
    let in_doubt_again = |attempt: i32| {
        sqlx::query(
            "update recipients set state = 'in_doubt', attempt = $2, sending_at = now() - interval '60 seconds'
             where campaign_id = $1",
        )
        .bind(campaign)
        .bind(attempt)
        .execute(&app.pg)
    };
    in_doubt_again(2).await.unwrap();
    let r = recipients::reconcile_in_doubt(&app.pg, window, 8, EVIDENCE, 100).await.unwrap();
    assert_eq!(r.resent, [JobKey::new(campaign, contact, Some(2))], "each proven attempt is sent again once");
    let r = recipients::reconcile_in_doubt(&app.pg, window, 8, EVIDENCE, 100).await.unwrap();
    assert!(r.resent.is_empty(), "a queued row is not sent again: {r:?}");
    // With the retry budget spent, the evidence sends nothing more; the policy decides after the window.
    in_doubt_again(8).await.unwrap();
    let r = recipients::reconcile_in_doubt(&app.pg, window, 8, EVIDENCE, 100).await.unwrap();
    assert_eq!((r.resent.len(), r.failed, r.requeued.len()), (0, 0, 0), "{r:?}");
}

/// Stamps the webhook endpoint's uptime for every second of the last `secs`,
/// but the second `down_at` seconds ago (an outage).
async fn up_since(app: &TestApp, secs: i64, down_at: Option<i64>) {
    sqlx::query(
        "insert into webhook_ingest_seconds
         select s from generate_series(date_trunc('second', now() - make_interval(secs => $1)), now(), interval '1 second') s
         where $2::float8 is null or s <> date_trunc('second', now() - make_interval(secs => $2))
         on conflict do nothing",
    )
    .bind(secs as f64)
    .bind(down_at.map(|d| d as f64))
    .execute(&app.pg)
    .await
    .unwrap();
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn after_an_outage_of_the_webhook_endpoint_the_evidence_waits_for_later_statuses(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, contact) = in_doubt_row(&app, 60).await;
    let number: i64 = sqlx::query_scalar("select number_id from campaigns where id = $1")
        .bind(campaign)
        .fetch_one(&app.pg)
        .await
        .unwrap();
    let watermark = |secs_ago: f64| {
        sqlx::query(
            "insert into number_status_watermarks values ($1, 0, now() - make_interval(secs => $2))
             on conflict (number_id, shard) do update set statuses_until = excluded.statuses_until",
        )
        .bind(number)
        .bind(secs_ago)
        .execute(&app.pg)
    };
    // Up for the last minute but one second, 50 s ago: 10 s after the
    // attempt, when its status would have come.
    up_since(&app, 61, Some(50)).await;
    watermark(40.0).await.unwrap();
    let window = Duration::from_secs(600);
    let r = recipients::reconcile_in_doubt(&app.pg, window, 8, EVIDENCE, 100).await.unwrap();
    assert!(r.resent.is_empty(), "statuses of sends before the outage ended + margin prove nothing: {r:?}");
    // Statuses of sends made well after the outage are in, and Meta's retries had time.
    watermark(5.0).await.unwrap();
    let r = recipients::reconcile_in_doubt(&app.pg, window, 8, EVIDENCE, 100).await.unwrap();
    assert_eq!(r.resent, [JobKey::new(campaign, contact, Some(1))]);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn after_a_long_outage_the_evidence_waits_as_long_as_the_outage_lasted(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, _) = in_doubt_row(&app, 60).await;
    // Down from 100 s ago to 50 s ago (51 seconds), up before and since: the
    // attempt's status was due during the outage, and a sender whose back-off
    // doubles may retry it up to about 50 s after the outage ended, longer
    // than the configured grace (30 s).
    sqlx::query(
        "insert into webhook_ingest_seconds
         select s from generate_series(date_trunc('second', now() - interval '200 seconds'), now(), interval '1 second') s
         where s not between date_trunc('second', now() - interval '100 seconds')
                         and date_trunc('second', now() - interval '50 seconds')
         on conflict do nothing",
    )
    .execute(&app.pg)
    .await
    .unwrap();
    sqlx::query(
        "insert into number_status_watermarks
         select number_id, 0, now() - interval '5 seconds' from campaigns where id = $1",
    )
    .bind(campaign)
    .execute(&app.pg)
    .await
    .unwrap();
    let r = recipients::reconcile_in_doubt(&app.pg, Duration::from_secs(600), 8, EVIDENCE, 100).await.unwrap();
    assert!(r.resent.is_empty(), "50 s after a 51 s outage, Meta's retries may still come: {r:?}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn status_batches_touching_the_same_rows_in_opposite_orders_do_not_deadlock(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, ids) = queued_campaign(&app, &["+34612345601", "+34612345602"]).await;
    let s = sender(&app, app.state.cloud.clone()).await;
    let mut wamids = Vec::new();
    for id in &ids {
        let SendResult::Accepted { wamid } = s.send(campaign, *id).await.unwrap() else { panic!("not accepted") };
        wamids.push(wamid);
    }
    let pnid: String = sqlx::query_scalar("select phone_number_id from wa_numbers").fetch_one(&app.pg).await.unwrap();
    let (applied_a, applied_b) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Notify::new()));
    // Batch A: a status of the first message and a reply from the second
    // contact; batch B the other way round. Each marks its reply after
    // applying its statuses, in its own transaction, as the consumers do.
    let run = |wamid: String, replier: i64, mine: Arc<tokio::sync::Notify>, theirs: Arc<tokio::sync::Notify>| {
        let (pg, pnid) = (app.pg.clone(), pnid.clone());
        async move {
            let mut tx = pg.begin().await?;
            let mut batch = StatusBatch::default();
            batch.add(&pnid, &wamid, StatusKind::Delivered, chrono::Utc::now(), None, None);
            store::statuses::apply(&mut tx, &batch, &[(campaign, replier)]).await?;
            mine.notify_one();
            // Give the other batch the chance to lock its rows first (it
            // cannot, when rows are locked in one order: then go on).
            let _ = tokio::time::timeout(Duration::from_millis(500), theirs.notified()).await;
            store::inbound::mark_replied(&mut tx, &[(campaign, replier, chrono::Utc::now())]).await?;
            tx.commit().await
        }
    };
    let (a, b) = tokio::join!(
        run(wamids[0].clone(), ids[1], applied_a.clone(), applied_b.clone()),
        run(wamids[1].clone(), ids[0], applied_b, applied_a),
    );
    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
    let replied: i64 =
        sqlx::query_scalar("select count(*) from recipients where replied_at is not null and delivered_at is not null")
            .fetch_one(&app.pg)
            .await
            .unwrap();
    assert_eq!(replied, 2);
}
