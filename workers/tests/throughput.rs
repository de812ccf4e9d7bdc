#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns
//! What makes thousands of sends per second possible without giving up
//! exactness: the batched ledger (claims and outcomes of concurrent sends in
//! one statement each) behaves like one statement per send, and send workers
//! top a campaign's window up between scheduler ticks, never past
//! `window_max`.

use std::time::Duration;

use e2e::{StatusCode, TestApp, eventually};
use serde_json::json;
use sqlx::PgPool;
use store::recipients::JobKey;
use store::{
    campaigns::{PlanOutcome, plan},
    recipients::Outcome,
};
use tokio_util::sync::CancellationToken;
use workers::ledger::Ledger;

mod support;

async fn contacts(app: &TestApp, n: usize) -> Vec<i64> {
    let list: Vec<_> = (0..n)
        .map(|i| json!({"phone": format!("+3461234{i:04}"), "name": format!("N{i}"), "tags": ["vip"], "valued_tags": {"order_id": format!("A{i}")}}))
        .collect();
    app.contacts(serde_json::Value::Array(list)).await
}

async fn state(app: &TestApp, campaign: i64, contact: i64) -> (String, i32) {
    sqlx::query_as("select state, attempt from recipients where campaign_id = $1 and contact_id = $2")
        .bind(campaign)
        .bind(contact)
        .fetch_one(&app.pg)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_batched_ledger_claims_once_and_records_only_the_current_attempt(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    let ids = contacts(&app, 3).await;
    let c = app.ready_campaign(&setup, "batched", json!({"pace_per_second": 1000})).await;
    let campaign = c["id"].as_i64().unwrap();
    assert_eq!(app.post(&format!("/v1/campaigns/{campaign}/launch"), json!({})).await.0, StatusCode::OK);
    let mut tx = app.pg.begin().await.unwrap();
    assert!(matches!(plan(&mut tx, campaign).await.unwrap(), PlanOutcome::Planned(_)));
    tx.commit().await.unwrap();
    sqlx::query("update recipients set state = 'queued', queued_at = now() where campaign_id = $1")
        .bind(campaign)
        .execute(&app.pg)
        .await
        .unwrap();
    let ledger = Ledger::batched(app.pg.clone(), "test");

    let limits = ledger.limits(campaign).await.unwrap().expect("an active campaign has limits");
    assert_eq!(limits.pace_per_second(), 1000.0);
    // A duplicated job in the same batch: one claim between them.
    let (a, b, other) = tokio::join!(
        ledger.claim(JobKey::new(campaign, ids[0], None)),
        ledger.claim(JobKey::new(campaign, ids[0], None)),
        ledger.claim(JobKey::new(campaign, ids[1], None))
    );
    let (a, b, other) = (a.unwrap(), b.unwrap(), other.unwrap());
    assert_eq!(a.is_some() as u8 + b.is_some() as u8, 1, "exactly one of the two claims of one row wins");
    let other = other.expect("another row in the same batch is claimed");
    assert_eq!((other.contact_id, other.attempt), (ids[1], 1));
    assert!(
        ledger.claim(JobKey::new(campaign, ids[0], None)).await.unwrap().is_none(),
        "a late duplicate claims nothing"
    );

    // Outcomes in one batch: the current attempt is recorded, a stale one is not.
    let accepted = Outcome::Accepted { wamid: "wamid.BATCH1", wa_id: Some("34612340000") };
    let stale = Outcome::Failed { code: "x", reason: "a stale attempt", meta_code: None };
    let (current, old) =
        tokio::join!(ledger.record(campaign, ids[0], 1, &accepted), ledger.record(campaign, ids[1], 7, &stale));
    assert!(current.unwrap());
    assert!(!old.unwrap(), "attempt 7 is not the row's attempt");
    assert_eq!(state(&app, campaign, ids[0]).await, ("accepted".to_owned(), 1));
    assert_eq!(state(&app, campaign, ids[1]).await, ("sending".to_owned(), 1), "untouched by the stale outcome");
    assert_eq!(state(&app, campaign, ids[2]).await, ("queued".to_owned(), 0));

    // Paused: nothing is claimed at once, whatever limits a send still has
    // (they are reused for up to LIMITS_TTL); then there are none, and a
    // resumed campaign has them again at once (`None` is never reused).
    let set_paused = |paused: bool| {
        sqlx::query("update campaigns set paused_at = case when $2 then now() end where id = $1")
            .bind(campaign)
            .bind(paused)
            .execute(&app.pg)
    };
    set_paused(true).await.unwrap();
    assert!(ledger.claim(JobKey::new(campaign, ids[2], None)).await.unwrap().is_none());
    tokio::time::sleep(workers::ledger::LIMITS_TTL).await;
    assert!(ledger.limits(campaign).await.unwrap().is_none());
    set_paused(false).await.unwrap();
    assert!(ledger.limits(campaign).await.unwrap().is_some());
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn send_workers_top_a_small_window_up_between_ticks_and_never_past_it(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let setup = app.campaign_setup().await;
    contacts(&app, 120).await;
    let c = app.ready_campaign(&setup, "window", json!({"pace_per_second": 1000})).await;
    let id = c["id"].as_i64().unwrap();
    // Launched before the pipeline starts: its first tick (at once) relays the
    // launch job; the next is a minute away, so only send workers top up.
    assert_eq!(app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await.0, StatusCode::OK);

    let pipeline = support::pipeline(&app, &support::namespace(), |s, _| {
        s.tick = Duration::from_secs(60);
        s.window_max = 8;
    })
    .await;
    let stop = support::spawn(pipeline);

    let (pg, sampling) = (app.pg.clone(), CancellationToken::new());
    let sampler = tokio::spawn({
        let sampling = sampling.clone();
        async move {
            let mut most = 0;
            while !sampling.is_cancelled() {
                let in_flight: i64 = sqlx::query_scalar(
                    "select count(*) from recipients where campaign_id = $1 and state in ('queued', 'sending')",
                )
                .bind(id)
                .fetch_one(&pg)
                .await
                .unwrap();
                most = most.max(in_flight);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            most
        }
    });
    eventually(Duration::from_secs(30), "every contact sent without a second tick", || async {
        (app.sim.accepted_count() == 120).then_some(())
    })
    .await;
    sampling.cancel();
    let most = sampler.await.unwrap();
    assert!((1..=8).contains(&most), "at most window_max (8) queued or being sent at once, saw {most}");
    let mut to: Vec<String> = app.sim.accepted().into_iter().map(|m| m.wa_id).collect();
    to.sort_unstable();
    to.dedup();
    assert_eq!(to.len(), 120, "one message per contact");
    stop.cancel();
}
