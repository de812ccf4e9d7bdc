//! The outbox relay pushes each row once, even run twice, concurrently, or
//! after a crash between the push and the mark.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use queue::{Relay, gauges::queue_gauges};
use sqlx::PgPool;

async fn insert(db: &PgPool, kind: &str, key: &str, campaign: i64) {
    sqlx::query("insert into job_outbox (queue, dedupe_key, payload) values ($1, $2, jsonb_build_object('campaign_id', $3::bigint))")
        .bind(kind)
        .bind(key)
        .bind(campaign)
        .execute(db)
        .await
        .unwrap();
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn each_outbox_row_becomes_one_task_even_when_relayed_concurrently_and_again(db: PgPool) {
    let mut conn = redis().await;
    let settings = test_settings(&unique_queue("relay"));
    for id in 1..=250 {
        insert(&db, "launch", &format!("launch:{id}"), id).await;
    }
    insert(&db, "unknown-kind", "other:1", 1).await;
    let routes = [("launch".to_string(), settings.clone())];
    let mut a = Relay::new(db.clone(), conn.clone(), routes.clone());
    let mut b = Relay::new(db.clone(), conn.clone(), routes);

    let (ra, rb) = tokio::join!(a.relay_all(), b.relay_all());
    assert!(ra.unwrap() + rb.unwrap() >= 250);
    let g = queue_gauges(&mut conn, &settings.queue).await.unwrap();
    assert_eq!(g.active + g.scheduled, 250, "one task per row");

    // A crash after the push and before the mark: the rows are pushed again.
    sqlx::query("update job_outbox set pushed_at = null").execute(&db).await.unwrap();
    assert_eq!(a.relay_all().await.unwrap(), 250);
    let g = queue_gauges(&mut conn, &settings.queue).await.unwrap();
    assert_eq!(g.active + g.scheduled, 250, "the idempotency key made the second push a no-op");

    let unpushed: Vec<String> =
        sqlx::query_scalar("select queue from job_outbox where pushed_at is null").fetch_all(&db).await.unwrap();
    assert_eq!(unpushed, ["unknown-kind"], "rows of unknown kinds wait for a relay that knows them");
    assert_eq!(store::outbox::backlog(&db).await.unwrap().0, 1);
    cleanup(&mut conn, &settings.queue).await;
}
