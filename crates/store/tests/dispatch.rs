#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns
//! After planning: windows of recipients to the queue, due schedules started
//! exactly once by concurrent schedulers, fully-sent campaigns.

use std::collections::HashSet;

use sqlx::PgPool;
use store::campaigns::{in_flight, launch_due, mark_fully_sent, plan, queue_next};

async fn org(pg: &PgPool) -> i64 {
    sqlx::query_scalar("insert into organizations (name) values ('o') returning id").fetch_one(pg).await.unwrap()
}

async fn campaign(pg: &PgPool, org: i64, lifecycle: &str, scheduled_in: &str) -> i64 {
    sqlx::query_scalar(
        "insert into campaigns (org_id, kind, name, lifecycle, audience_tags, scheduled_at, pace_per_hour)
         values ($1, 'real', 'c', $2, '{vip}', now() + $3::interval, 600) returning id",
    )
    .bind(org)
    .bind(lifecycle)
    .bind(scheduled_in)
    .fetch_one(pg)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn concurrent_schedulers_start_each_due_campaign_exactly_once(pg: PgPool) {
    let org = org(&pg).await;
    let mut due = HashSet::new();
    for _ in 0..3 {
        due.insert(campaign(&pg, org, "scheduled", "-1 second").await);
    }
    let later = campaign(&pg, org, "scheduled", "1 hour").await;
    let tick = || async {
        let mut tx = pg.begin().await.unwrap();
        let started = launch_due(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        started
    };
    let (a, b) = tokio::join!(tick(), tick());
    assert!(a.iter().all(|id| !b.contains(id)), "no campaign started twice: {a:?} {b:?}");
    assert_eq!(a.iter().chain(&b).copied().collect::<HashSet<_>>(), due);
    let outbox: Vec<String> =
        sqlx::query_scalar("select dedupe_key from job_outbox order by id").fetch_all(&pg).await.unwrap();
    assert_eq!(outbox.len(), 3);
    let states: Vec<(i64, String, Option<i32>)> =
        sqlx::query_as("select id, lifecycle, pace_per_hour from campaigns order by id").fetch_all(&pg).await.unwrap();
    for (id, lifecycle, per_hour) in states {
        let expected = if id == later { "scheduled" } else { "active" };
        assert_eq!((lifecycle.as_str(), per_hour), (expected, Some(600)), "campaign {id}");
    }
    assert!(tick().await.is_empty(), "a later tick starts nothing again");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn recipients_are_queued_in_disjoint_windows_and_the_campaign_is_fully_sent_at_the_end(pg: PgPool) {
    let org = org(&pg).await;
    for i in 0..10 {
        sqlx::query("insert into contacts (org_id, phone, name, tags) values ($1, $2, 'N', '{vip}')")
            .bind(org)
            .bind(format!("+3461234560{i}"))
            .execute(&pg)
            .await
            .unwrap();
    }
    let c = campaign(&pg, org, "active", "0 seconds").await;
    let mut tx = pg.begin().await.unwrap();
    plan(&mut tx, c).await.unwrap();
    tx.commit().await.unwrap();

    let (mut a, mut b) = (pg.begin().await.unwrap(), pg.begin().await.unwrap());
    let first = queue_next(&mut *a, c, 4, None).await.unwrap();
    let second = queue_next(&mut *b, c, 4, None).await.unwrap();
    a.commit().await.unwrap();
    b.commit().await.unwrap();
    assert_eq!((first.len(), second.len()), (4, 4));
    assert!(first.iter().all(|id| !second.contains(id)), "disjoint windows: {first:?} {second:?}");
    assert_eq!(in_flight(&pg, c).await.unwrap(), 8);

    sqlx::query("update campaigns set paused_at = now() where id = $1").bind(c).execute(&pg).await.unwrap();
    assert!(queue_next(&pg, c, 4, None).await.unwrap().is_empty(), "a paused campaign queues nothing");
    sqlx::query("update campaigns set paused_at = null where id = $1").bind(c).execute(&pg).await.unwrap();
    assert_eq!(queue_next(&pg, c, 4, None).await.unwrap().len(), 2, "the last two");
    assert!(queue_next(&pg, c, 4, None).await.unwrap().is_empty());

    assert!(mark_fully_sent(&pg).await.unwrap().is_empty(), "queued recipients have no outcome yet");
    sqlx::query("update recipients set state = 'delivered' where campaign_id = $1").bind(c).execute(&pg).await.unwrap();
    sqlx::query("update recipients set state = 'in_doubt' where campaign_id = $1 and contact_id = (select min(contact_id) from recipients where campaign_id = $1)")
        .bind(c)
        .execute(&pg)
        .await
        .unwrap();
    assert!(mark_fully_sent(&pg).await.unwrap().is_empty(), "in doubt is not an outcome");
    sqlx::query("update recipients set state = 'failed' where campaign_id = $1 and state = 'in_doubt'")
        .bind(c)
        .execute(&pg)
        .await
        .unwrap();
    assert_eq!(mark_fully_sent(&pg).await.unwrap(), [c]);
    assert!(mark_fully_sent(&pg).await.unwrap().is_empty(), "once");
}
