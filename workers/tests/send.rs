#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns
//! The send job against the real ledger, Redis limiter and wa-sim: one
//! message per recipient whatever happens, and one readable outcome each.

use std::time::Duration;

use e2e::TestApp;
use serde_json::json;
use sqlx::PgPool;
use support::{EVIDENCE, queued_campaign, sender, state};
use wa_sim::config::FaultsConfig;
use workers::send::{RetryPolicy, SendResult};

mod support;

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_send_job_delivered_twice_or_at_once_sends_one_message(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, ids) = queued_campaign(&app, &["+34612345601", "+34612345602"]).await;
    let s = sender(&app, app.state.cloud.clone()).await;

    let (a, b) = tokio::join!(s.send(campaign, ids[0]), s.send(campaign, ids[0]));
    let results = [a.unwrap(), b.unwrap()];
    assert_eq!(results.iter().filter(|r| matches!(r, SendResult::Accepted { .. })).count(), 1, "{results:?}");
    assert!(results.contains(&SendResult::NothingToDo), "{results:?}");
    assert_eq!(s.send(campaign, ids[0]).await.unwrap(), SendResult::NothingToDo, "a late duplicate sends nothing");
    assert_eq!(app.sim.messages_to("+34612345601").len(), 1, "one message in the simulator's own log");

    let (st, _, wamid, attempt) = state(&app, campaign, ids[0]).await;
    assert_eq!((st.as_str(), attempt), ("accepted", 1));
    let sent = &app.sim.messages_to("+34612345601")[0];
    assert_eq!(wamid.as_deref(), Some(sent.wamid.as_str()));
    let callback = sent.biz_opaque_callback_data.as_deref().expect("callback data");
    let key = store::statuses::CallbackKey::new(&app.state.cipher);
    let ours = store::statuses::Callback { campaign_id: campaign, contact_id: ids[0], attempt: 1 };
    assert_eq!(store::statuses::Callback::check(callback, &key), store::statuses::CallbackCheck::Valid(ours));
    assert!(matches!(s.send(campaign, ids[1]).await.unwrap(), SendResult::Accepted { .. }));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn opt_outs_and_open_cases_are_checked_again_at_send_time(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, ids) = queued_campaign(&app, &["+34612345601", "+34612345602"]).await;
    let s = sender(&app, app.state.cloud.clone()).await;
    store::opt_outs::record(&app.pg, app.org, "+34612345601", "api", "asked by phone").await.unwrap();
    app.post(&format!("/v1/contacts/{}/inbox-case", ids[1]), json!({})).await;
    assert_eq!(s.send(campaign, ids[0]).await.unwrap(), SendResult::Excluded { code: "opted_out" });
    assert_eq!(s.send(campaign, ids[1]).await.unwrap(), SendResult::Excluded { code: "open_inbox_case" });
    assert_eq!(app.sim.accepted_count(), 0);
    assert_eq!(state(&app, campaign, ids[1]).await.1.as_deref(), Some("open_inbox_case"));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_failure_before_the_request_left_is_retried_and_an_unknown_outcome_is_in_doubt(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, ids) = queued_campaign(&app, &["+34612345601", "+34612345602"]).await;
    let quick = whatsapp::CloudClient::new(whatsapp::ClientConfig {
        base_url: app.sim.base_url(),
        request_timeout: Duration::from_millis(800),
        ..whatsapp::ClientConfig::default()
    })
    .unwrap();
    let s = sender(&app, quick).await;

    app.sim.set_faults(FaultsConfig { server_error_rate: 1.0, ..FaultsConfig::default() });
    let result = s.send(campaign, ids[0]).await.unwrap();
    assert_eq!(result, SendResult::Retry { after: RetryPolicy::default().backoff(1) });
    let (st, code, _, attempt) = state(&app, campaign, ids[0]).await;
    assert_eq!((st.as_str(), code.as_deref(), attempt), ("queued", Some("api_service"), 1), "back in the queue");

    app.sim.set_faults(FaultsConfig { accept_then_hang_rate: 1.0, hang_ms: 5_000, ..FaultsConfig::default() });
    assert_eq!(s.send(campaign, ids[1]).await.unwrap(), SendResult::InDoubt);
    let (st, code, _, _) = state(&app, campaign, ids[1]).await;
    assert_eq!((st.as_str(), code.as_deref()), ("in_doubt", Some("outcome_unknown")));
    assert_eq!(app.sim.accepted_count(), 1, "the simulator did accept it: that is why it is in doubt");
    assert_eq!(s.send(campaign, ids[1]).await.unwrap(), SendResult::NothingToDo, "never retried blindly");

    app.sim.set_faults(FaultsConfig::default());
    // Run before its back-off is over (apalis schedules in whole seconds), the
    // job comes back when it is, rather than doing nothing and waiting for the sweep.
    let SendResult::Retry { after } = s.send(campaign, ids[0]).await.unwrap() else { panic!("not due yet") };
    assert!(
        after > Duration::from_millis(500) && after <= RetryPolicy::default().backoff(1) + Duration::from_millis(100)
    );
    assert_eq!(state(&app, campaign, ids[0]).await.3, 1, "no attempt used");
    sqlx::query("update recipients set next_attempt_at = now() where campaign_id = $1 and contact_id = $2")
        .bind(campaign)
        .bind(ids[0])
        .execute(&app.pg)
        .await
        .unwrap();
    assert!(matches!(s.send(campaign, ids[0]).await.unwrap(), SendResult::Accepted { .. }), "the retry succeeds");
    assert_eq!(state(&app, campaign, ids[0]).await.3, 2, "on its second attempt");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn metas_throttling_answer_pauses_the_number_and_requeues(pg: PgPool) {
    let mut config = e2e::sim::config();
    config.numbers[0].throughput_per_second = 1.0; // Meta's bucket: one message, then 130429
    let app = TestApp::spawn_with_sim(pg, config).await;
    let (campaign, ids) = queued_campaign(&app, &["+34612345601", "+34612345602"]).await;
    let s = sender(&app, app.state.cloud.clone()).await;
    assert!(matches!(s.send(campaign, ids[0]).await.unwrap(), SendResult::Accepted { .. }));
    let result = s.send(campaign, ids[1]).await.unwrap();
    assert!(matches!(result, SendResult::Retry { .. }), "{result:?}");
    let (st, code, _, _) = state(&app, campaign, ids[1]).await;
    assert_eq!((st.as_str(), code.as_deref()), ("queued", Some("rate_limited")));
    let paused = s
        .limiter
        .try_acquire(
            &ratelimit::NumberLimit::new(e2e::sim::PHONE_NUMBER_ID, ratelimit::Rate::number_tier(80.0).unwrap()),
            &ratelimit::CampaignLimit::new(campaign, ratelimit::Rate::campaign_pace(1000.0).unwrap()),
        )
        .await
        .unwrap();
    assert!(
        matches!(paused, ratelimit::Decision::Wait(w) if w.cause == ratelimit::WaitCause::Paused),
        "every process now waits: {paused:?}"
    );
}

#[test]
fn back_off_doubles_from_the_base_up_to_the_cap() {
    let p = RetryPolicy { base: Duration::from_secs(2), max_delay: Duration::from_secs(60), ..RetryPolicy::default() };
    let delays: Vec<u64> = (1..=7).map(|a| p.backoff(a).as_secs()).collect();
    assert_eq!(delays, [2, 4, 8, 16, 32, 60, 60]);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_sender_that_died_after_the_claim_leaves_the_row_in_doubt_until_a_webhook_or_the_policy_settles_it(
    pg: PgPool,
) {
    use store::recipients::{JobKey, claim, reconcile_in_doubt, sweep_stuck_sending};
    let app = TestApp::spawn(pg).await;
    let (campaign, ids) = queued_campaign(&app, &["+34612345601", "+34612345602", "+34612345603"]).await;
    // Three workers claimed and died before recording anything.
    for id in &ids {
        assert!(claim(&app.pg, JobKey::new(campaign, *id, None), "test").await.unwrap().is_some());
    }
    assert_eq!(
        sweep_stuck_sending(&app.pg, Duration::from_secs(60), Duration::from_secs(5)).await.unwrap(),
        0,
        "not stuck yet"
    );
    sqlx::query("update recipients set sending_at = now() - interval '2 minutes' where campaign_id = $1")
        .bind(campaign)
        .execute(&app.pg)
        .await
        .unwrap();
    assert_eq!(sweep_stuck_sending(&app.pg, Duration::from_secs(60), Duration::from_secs(5)).await.unwrap(), 3);
    assert_eq!(state(&app, campaign, ids[0]).await.0, "in_doubt");

    // A status webhook carries our callback data for the first: it went out.
    let resolve = || async {
        use store::statuses::{Callback, StatusBatch, StatusKind, apply};
        let mut batch = StatusBatch::default();
        let callback = Callback { campaign_id: campaign, contact_id: ids[0], attempt: 1 };
        batch.add(e2e::sim::PHONE_NUMBER_ID, "wamid.LATE", StatusKind::Sent, chrono::Utc::now(), Some(callback), None);
        let mut tx = app.pg.begin().await.unwrap();
        let applied = apply(&mut tx, &batch, &[]).await.unwrap();
        tx.commit().await.unwrap();
        applied.resolved
    };
    assert_eq!(resolve().await, 1);
    assert_eq!(resolve().await, 0, "once");
    assert_eq!(state(&app, campaign, ids[0]).await.2.as_deref(), Some("wamid.LATE"));

    // The second outlives the reconcile window: at_most_once (the default) fails it, never sent again.
    let stale = |id: i64| {
        sqlx::query(
            "update recipients set updated_at = now() - interval '1 hour' where campaign_id = $1 and contact_id = $2",
        )
        .bind(campaign)
        .bind(id)
        .execute(&app.pg)
    };
    stale(ids[1]).await.unwrap();
    let at_most = reconcile_in_doubt(&app.pg, Duration::from_secs(600), 8, EVIDENCE, 1000).await.unwrap();
    assert_eq!((at_most.failed, at_most.requeued.len(), at_most.resent.len()), (1, 0, 0));
    let (st, code, _, _) = state(&app, campaign, ids[1]).await;
    assert_eq!((st.as_str(), code.as_deref()), ("failed", Some("outcome_unknown")));

    // With at_least_once the third goes back to the queue and is sent again.
    sqlx::query("update campaigns set delivery_policy = 'at_least_once' where id = $1")
        .bind(campaign)
        .execute(&app.pg)
        .await
        .unwrap();
    stale(ids[2]).await.unwrap();
    let at_least = reconcile_in_doubt(&app.pg, Duration::from_secs(600), 8, EVIDENCE, 1000).await.unwrap();
    assert_eq!((at_least.failed, at_least.requeued.len(), at_least.resent.len()), (0, 1, 0));
    let s = sender(&app, app.state.cloud.clone()).await;
    assert!(matches!(s.send(campaign, ids[2]).await.unwrap(), SendResult::Accepted { .. }));
    assert_eq!(state(&app, campaign, ids[2]).await.3, 2, "a second attempt");
    assert_eq!(app.sim.accepted_count(), 1, "only the re-queued one was sent");

    // Even at_least_once gives up once the attempts are used up: no endless resends.
    sqlx::query("update recipients set state = 'in_doubt', attempt = 8, updated_at = now() - interval '1 hour' where campaign_id = $1 and contact_id = $2")
        .bind(campaign)
        .bind(ids[2])
        .execute(&app.pg)
        .await
        .unwrap();
    let capped = reconcile_in_doubt(&app.pg, Duration::from_secs(600), 8, EVIDENCE, 1000).await.unwrap();
    assert_eq!((capped.failed, capped.requeued.len()), (1, 0));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_late_answer_settles_a_row_the_sweeper_put_in_doubt_and_a_retry_after_finish_excludes(pg: PgPool) {
    use store::recipients::{JobKey, Outcome, claim, record, sweep_stuck_sending};
    let app = TestApp::spawn(pg).await;
    let (campaign, ids) = queued_campaign(&app, &["+34612345601", "+34612345602"]).await;
    let slow = claim(&app.pg, JobKey::new(campaign, ids[0], None), "test").await.unwrap().unwrap();
    sqlx::query("update recipients set sending_at = now() - interval '5 minutes' where campaign_id = $1")
        .bind(campaign)
        .execute(&app.pg)
        .await
        .unwrap();
    sweep_stuck_sending(&app.pg, Duration::from_secs(60), Duration::from_secs(5)).await.unwrap();
    assert_eq!(state(&app, campaign, ids[0]).await.0, "in_doubt");
    let accepted = Outcome::Accepted { wamid: "wamid.SLOW", wa_id: None };
    assert!(record(&app.pg, campaign, ids[0], slow.attempt, &accepted).await.unwrap(), "the real answer wins");
    assert_eq!(state(&app, campaign, ids[0]).await.2.as_deref(), Some("wamid.SLOW"));

    // A retryable answer arriving after the campaign was finished excludes the contact.
    let late = claim(&app.pg, JobKey::new(campaign, ids[1], None), "test").await.unwrap().unwrap();
    assert_eq!(app.post(&format!("/v1/campaigns/{campaign}/finish"), json!({})).await.0, e2e::StatusCode::OK);
    let retry = Outcome::Retry { at: chrono::Utc::now(), code: "rate_limited", reason: "throttled" };
    assert!(record(&app.pg, campaign, ids[1], late.attempt, &retry).await.unwrap());
    let (st, code, _, _) = state(&app, campaign, ids[1]).await;
    assert_eq!((st.as_str(), code.as_deref()), ("excluded", Some("campaign_finished")), "never left queued forever");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_answer_that_halts_the_sender_pauses_the_campaign_until_it_is_resumed(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, ids) = queued_campaign(&app, &["+34612345601", "+34612345602"]).await;
    let s = sender(&app, app.state.cloud.clone()).await;
    // Meta paused the template after the campaign started: 132015 for every send.
    let mut templates = e2e::sim::templates();
    templates.iter_mut().filter(|t| t.name == "order_update").for_each(|t| t.status = "PAUSED".into());
    app.sim.set_templates(e2e::sim::WABA_ID, templates.clone());
    let result = s.send(campaign, ids[0]).await.unwrap();
    assert!(matches!(result, SendResult::Paused { .. }), "{result:?}");
    let (_, c) = app.get(&format!("/v1/campaigns/{campaign}")).await;
    assert!(c["paused_at"].is_string(), "{c}");
    assert!(c["pause_reason"].as_str().unwrap().contains("template_paused"), "{c}");
    assert_eq!(state(&app, campaign, ids[0]).await.0, "queued", "the contact waits; it did not fail");
    assert_eq!(s.send(campaign, ids[1]).await.unwrap(), SendResult::NothingToDo, "nothing is sent while paused");

    templates.iter_mut().for_each(|t| t.status = "APPROVED".into());
    app.sim.set_templates(e2e::sim::WABA_ID, templates);
    let (status, resumed) = app.post(&format!("/v1/campaigns/{campaign}/resume"), json!({})).await;
    assert_eq!(status, e2e::StatusCode::OK, "{resumed}");
    assert!(resumed["paused_at"].is_null());
    assert!(matches!(s.send(campaign, ids[0]).await.unwrap(), SendResult::Accepted { .. }));
    let (status, err) = app.post(&format!("/v1/campaigns/{campaign}/resume"), json!({})).await;
    assert_eq!((status, e2e::code(&err)), (e2e::StatusCode::CONFLICT, "not_paused"));
}
