//! Live statistics: served from the counters, equal to an aggregate over the
//! ledger after a campaign with every outcome; ETag and server-sent events.

use std::collections::BTreeMap;

use e2e::{StatusCode, TestApp};
use serde_json::{Value, json};
use sqlx::PgPool;

/// A launched, planned campaign of 12 contacts, two of them excluded at
/// planning (one lacks the valued tag, one opted out), the rest moved to
/// every outcome the ledger has.
async fn campaign_with_every_outcome(app: &TestApp) -> i64 {
    let setup = app.campaign_setup().await;
    let mut list: Vec<Value> = (0..10)
        .map(|i| json!({"phone": format!("+3461277{i:04}"), "name": format!("N{i}"), "tags": ["vip"], "valued_tags": {"order_id": format!("A{i}")}}))
        .collect();
    list.push(json!({"phone": "+34612770010", "name": "No tag", "tags": ["vip"]}));
    list.push(json!({"phone": "+34612770011", "name": "Gone", "tags": ["vip"], "valued_tags": {"order_id": "A11"}}));
    app.contacts(Value::Array(list)).await;
    sqlx::query("insert into opt_outs (org_id, phone, source) values ($1, '+34612770011', 'api')")
        .bind(app.org.0)
        .execute(&app.pg)
        .await
        .unwrap();
    let c = app.ready_campaign(&setup, "stats", json!({"pace_per_second": 10})).await;
    let id = c["id"].as_i64().unwrap();
    assert_eq!(app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await.0, StatusCode::OK);
    let mut tx = app.pg.begin().await.unwrap();
    store::campaigns::plan(&mut tx, id).await.unwrap();
    tx.commit().await.unwrap();
    // Each step is its own statement, as the pipeline's writes are.
    let steps = [
        "update recipients set state = 'queued', queued_at = now() where state = 'planned'",
        "update recipients set state = 'accepted', wamid = 'w' || contact_id, accepted_at = now() where state = 'queued' and phone < '+34612770008'",
        "update recipients set state = 'sent', sent_at = now() where phone in ('+34612770001', '+34612770002', '+34612770003', '+34612770004')",
        "update recipients set state = 'delivered', delivered_at = now() where phone in ('+34612770002', '+34612770003', '+34612770004')",
        "update recipients set state = 'read', read_at = now() where phone in ('+34612770003', '+34612770004')",
        "update recipients set replied_at = now() where phone = '+34612770004'",
        "update recipients set state = 'failed', reason_code = 'not_whatsapp_user', meta_error_code = 131026 where phone = '+34612770005'",
        "update recipients set state = 'in_doubt', reason_code = 'outcome_unknown' where phone = '+34612770006'",
        "update recipients set state = 'sending', sending_at = now() where phone = '+34612770008'",
        // A duplicate status: the same transition again changes nothing.
        "update recipients set state = 'read', read_at = coalesce(read_at, now()) where phone = '+34612770004'",
    ];
    for sql in steps {
        sqlx::query(&format!("{sql} and campaign_id = $1")).bind(id).execute(&app.pg).await.unwrap();
    }
    id
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn live_stats_equal_an_aggregate_over_the_ledger_after_every_outcome(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let id = campaign_with_every_outcome(&app).await;
    let (status, s) = app.get(&format!("/v1/campaigns/{id}/stats")).await;
    assert_eq!(status, StatusCode::OK, "{s}");

    // The same numbers straight from the ledger.
    let by_state: BTreeMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("select state, count(*) from recipients where campaign_id = $1 group by 1")
            .bind(id)
            .fetch_all(&app.pg)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let agg: (i64, i64, i64, i64, i64) = sqlx::query_as(
        "select count(*), count(*) filter (where state <> 'excluded'), count(delivered_at), count(read_at),
                count(replied_at)
         from recipients where campaign_id = $1",
    )
    .bind(id)
    .fetch_one(&app.pg)
    .await
    .unwrap();
    let states: BTreeMap<String, i64> = serde_json::from_value(s["states"].clone()).unwrap();
    assert_eq!(states, by_state);
    assert_eq!((s["targeted"].as_i64(), s["could_send"].as_i64()), (Some(agg.0), Some(agg.1)));
    assert_eq!(
        (s["received"].as_i64(), s["read"].as_i64(), s["replied"].as_i64()),
        (Some(agg.2), Some(agg.3), Some(agg.4))
    );
    assert_eq!((agg.0, agg.1, agg.2, agg.3, agg.4), (12, 10, 3, 2, 1), "the fixture");
    // received of those we could send to, read and replied of those who received.
    assert_eq!(s["received_pct"], 30.0);
    assert_eq!(s["read_pct"], 66.7);
    assert_eq!(s["replied_pct"], 33.3);
    assert_eq!(s["not_sent_to"], 3, "two excluded and one failed");
    assert_eq!(s["in_doubt"], 1);
    assert_eq!(s["still_queued"], 2, "one queued, one sending");
    let reasons: BTreeMap<String, i64> = s["not_sent_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["code"].as_str().unwrap().to_owned(), r["count"].as_i64().unwrap()))
        .collect();
    let expected: BTreeMap<String, i64> =
        [("missing_valued_tag", 1), ("opted_out", 1), ("not_whatsapp_user", 1), ("outcome_unknown", 1)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
    assert_eq!(reasons, expected);
    let failed = s["not_sent_reasons"].as_array().unwrap().iter().find(|r| r["code"] == "not_whatsapp_user").unwrap();
    assert!(failed["reason"].as_str().unwrap().contains("not a valid WhatsApp user"), "{failed}");
    assert_eq!(s["progress_pct"], 75.0, "9 of 12 have a final outcome");
    assert_eq!(s["eta_seconds"], 1, "two left at 10/s");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn stats_answer_304_while_nothing_changed_and_stream_as_server_sent_events(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let id = campaign_with_every_outcome(&app).await;
    let path = format!("/v1/campaigns/{id}/stats");
    let first = app.req(reqwest::Method::GET, &path).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let again = app.req(reqwest::Method::GET, &path).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    sqlx::query(
        "update recipients set state = 'delivered', delivered_at = now() where campaign_id = $1 and state = 'sent'",
    )
    .bind(id)
    .execute(&app.pg)
    .await
    .unwrap();
    let changed = app.req(reqwest::Method::GET, &path).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(changed.status(), StatusCode::OK, "a delivery changes the ETag");

    let mut stream = app.req(reqwest::Method::GET, &format!("{path}/stream")).send().await.unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk =
            tokio::time::timeout(std::time::Duration::from_secs(10), stream.chunk()).await.unwrap().unwrap().unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(text.starts_with("event: stats\n"), "{text}");
    let data: Value = serde_json::from_str(text.lines().nth(1).unwrap().strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(data["received"], 4);
    let (status, _) = app.get("/v1/campaigns/999999/stats/stream").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
