#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns
//! Planning a launched campaign's ledger: who is planned, who is excluded and
//! why, engagements taken once, frozen parameters, idempotence.

use serde_json::json;
use sqlx::PgPool;
use store::campaigns::{LedgerCounts, PlanOutcome, plan};

async fn contact(pg: &PgPool, org: i64, phone: &str, name: &str, valued: serde_json::Value) -> i64 {
    sqlx::query_scalar(
        "insert into contacts (org_id, phone, name, tags, valued_tags) values ($1, $2, $3, '{vip}', $4) returning id",
    )
    .bind(org)
    .bind(phone)
    .bind(name)
    .bind(valued)
    .fetch_one(pg)
    .await
    .unwrap()
}

async fn campaign(pg: &PgPool, org: i64, name: &str, lifecycle: &str) -> i64 {
    sqlx::query_scalar(
        r#"insert into campaigns (org_id, kind, name, lifecycle, audience_tags, bindings)
           values ($1, 'real', $2, $3, '{vip}',
                   '[{"param": "1", "kind": "contact_name"}, {"param": "2", "kind": "valued_tag", "key": "order_id"}]')
           returning id"#,
    )
    .bind(org)
    .bind(name)
    .bind(lifecycle)
    .fetch_one(pg)
    .await
    .unwrap()
}

async fn ledger(pg: &PgPool, campaign: i64) -> Vec<(String, String, Option<String>, Option<String>, Option<i64>)> {
    sqlx::query_as(
        "select phone, state, reason_code, reason_key, engaged_campaign_id from recipients where campaign_id = $1
         order by phone",
    )
    .bind(campaign)
    .fetch_all(pg)
    .await
    .unwrap()
}

async fn planned(pg: &PgPool, campaign: i64) -> PlanOutcome {
    let mut tx = pg.begin().await.unwrap();
    let outcome = plan(&mut tx, campaign).await.unwrap();
    tx.commit().await.unwrap();
    outcome
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn planning_takes_engagements_freezes_values_and_gives_each_exclusion_its_reason(pg: PgPool) {
    let org: i64 =
        sqlx::query_scalar("insert into organizations (name) values ('o') returning id").fetch_one(&pg).await.unwrap();
    let ana = contact(&pg, org, "+34612345601", "Ana", json!({"order_id": "A-1", "plan": "gold"})).await;
    contact(&pg, org, "+34612345602", "Luis", json!({})).await;
    contact(&pg, org, "+34612345603", "Eva", json!({"order_id": "A-3"})).await;
    let rui = contact(&pg, org, "+34612345604", "Rui", json!({"order_id": "A-4"})).await;
    let ivo = contact(&pg, org, "+34612345605", "Ivo", json!({"order_id": "A-5"})).await;
    sqlx::query("insert into opt_outs (org_id, phone, source) values ($1, '+34612345603', 'api')")
        .bind(org)
        .execute(&pg)
        .await
        .unwrap();
    sqlx::query("insert into inbox_cases (org_id, contact_id) values ($1, $2)")
        .bind(org)
        .bind(rui)
        .execute(&pg)
        .await
        .unwrap();
    let running = campaign(&pg, org, "Running", "active").await;
    sqlx::query(
        "insert into engagements (contact_id, campaign_id, org_id, phone) select $1, $2, $3, phone from contacts where id = $1",
    )
    .bind(ivo)
        .bind(running)
        .bind(org)
        .execute(&pg)
        .await
        .unwrap();

    let spring = campaign(&pg, org, "Spring", "active").await;
    let counts = LedgerCounts { planned: 2, excluded: 3 };
    assert_eq!(planned(&pg, spring).await, PlanOutcome::Planned(counts));
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        ledger(&pg, spring).await,
        vec![
            ("+34612345601".into(), "planned".into(), None, None, None),
            ("+34612345602".into(), "excluded".into(), some("missing_valued_tag"), some("order_id"), None),
            ("+34612345603".into(), "excluded".into(), some("opted_out"), None, None),
            // An open case is checked again when sending: it may close by then.
            ("+34612345604".into(), "planned".into(), None, None, None),
            ("+34612345605".into(), "excluded".into(), some("already_engaged"), None, Some(running)),
        ]
    );
    let params: serde_json::Value =
        sqlx::query_scalar("select params from recipients where campaign_id = $1 and contact_id = $2")
            .bind(spring)
            .bind(ana)
            .fetch_one(&pg)
            .await
            .unwrap();
    assert_eq!(params, json!({"name": "Ana", "valued_tags": {"order_id": "A-1", "plan": "gold"}}));
    let engaged: Vec<i64> =
        sqlx::query_scalar("select contact_id from engagements where campaign_id = $1 order by contact_id")
            .bind(spring)
            .fetch_all(&pg)
            .await
            .unwrap();
    assert_eq!(engaged, [ana, rui]);

    // A contact edited after planning does not change what is sent.
    sqlx::query("update contacts set name = 'Changed' where id = $1").bind(ana).execute(&pg).await.unwrap();
    // The launch job may run twice: the second run changes nothing.
    assert_eq!(planned(&pg, spring).await, PlanOutcome::AlreadyPlanned(counts));
    let name: String =
        sqlx::query_scalar("select params ->> 'name' from recipients where contact_id = $1 and campaign_id = $2")
            .bind(ana)
            .bind(spring)
            .fetch_one(&pg)
            .await
            .unwrap();
    assert_eq!(name, "Ana");

    // A second campaign on the same segment: its overlap is engaged by the first.
    let summer = campaign(&pg, org, "Summer", "active").await;
    assert_eq!(planned(&pg, summer).await, PlanOutcome::Planned(LedgerCounts { planned: 0, excluded: 5 }));
    let reasons: Vec<(Option<String>, Option<i64>)> =
        ledger(&pg, summer).await.into_iter().map(|r| (r.2, r.4)).collect();
    assert_eq!(reasons[0], (some("already_engaged"), Some(spring)));
    assert_eq!(reasons[3], (some("already_engaged"), Some(spring)));

    // Campaigns that are not active are not planned.
    let draft = campaign(&pg, org, "Draft", "editable").await;
    assert_eq!(planned(&pg, draft).await, PlanOutcome::NotActive);
    assert_eq!(planned(&pg, 424_242).await, PlanOutcome::NotActive);

    // Deleting a finished campaign takes its ledger and engagements with it.
    sqlx::query("update campaigns set lifecycle = 'finished' where id = $1").bind(spring).execute(&pg).await.unwrap();
    sqlx::query("delete from campaigns where id = $1").bind(spring).execute(&pg).await.unwrap();
    let left: (i64, i64) = sqlx::query_as(
        "select (select count(*) from recipients where campaign_id = $1), (select count(*) from engagements where campaign_id = $1)",
    )
    .bind(spring)
    .fetch_one(&pg)
    .await
    .unwrap();
    assert_eq!(left, (0, 0));
}
