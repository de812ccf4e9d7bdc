//! `/v1/dead-letters`: an apalis queue's dead jobs (made dead by a real
//! consumer whose handler fails), the status queue's failed webhooks and the
//! dead replies, each listed, replayed and deleted through the API, by the
//! organization they belong to.

use e2e::{StatusCode, TestApp, code, send, sim};
use queue::{DeadQueue, LaunchJob, ReplyJob, SendJob, queue_gauges};
use serde_json::{Value, json};
use sqlx::PgPool;
use store::{OrgId, api_keys, webhook_events};

fn queue_name(app: &TestApp, queue: DeadQueue) -> String {
    app.state.dead_letters.as_ref().unwrap().redis_queue(queue).unwrap()
}

async fn gauges(app: &TestApp, queue: DeadQueue) -> queue::QueueGauges {
    let mut conn = queue::connect(&e2e::redis_url()).await.unwrap();
    queue_gauges(&mut conn, &queue_name(app, queue)).await.unwrap()
}

async fn campaign(pg: &PgPool, org: OrgId) -> i64 {
    sqlx::query_scalar("insert into campaigns (org_id, kind, name) values ($1, 'real', 'Spring') returning id")
        .bind(org.0)
        .fetch_one(pg)
        .await
        .unwrap()
}

fn count(counts: &Value, queue: &str) -> u64 {
    let queues = counts["queues"].as_array().unwrap();
    queues.iter().find(|q| q["queue"] == queue).unwrap()["dead"].as_u64().unwrap()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn dead_jobs_of_an_apalis_queue_are_listed_replayed_and_deleted_by_their_organization(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (other_org, other_key) = app.other_org().await;
    let ours = campaign(&app.pg, app.org).await;
    let theirs = campaign(&app.pg, other_org).await;
    let jobs = [LaunchJob { campaign_id: ours }, LaunchJob { campaign_id: ours }, LaunchJob { campaign_id: theirs }];
    e2e::dead::make_dead(&app, DeadQueue::Launch, &jobs).await;

    let (status, counts) = app.get("/v1/dead-letters").await;
    assert_eq!(status, StatusCode::OK, "{counts}");
    assert_eq!(count(&counts, "launch"), 2, "only our organization's: {counts}");
    for q in ["send", "reply", "report", "status"] {
        assert_eq!(count(&counts, q), 0, "{q}");
    }

    let (status, first) = app.get("/v1/dead-letters/launch?limit=1").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let item = &first["data"][0];
    assert_eq!(item["payload"]["campaign_id"], ours);
    assert_eq!(item["last_error"], "the handler said no");
    assert_eq!(item["attempts"], 1);
    assert!(item["failed_at"].is_string(), "{item}");
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let (_, second) = app.get(&format!("/v1/dead-letters/launch?limit=1&cursor={cursor}")).await;
    assert_eq!(second["data"].as_array().unwrap().len(), 1, "{second}");
    assert_eq!(second["next_cursor"], Value::Null, "{second}");
    let (a, b) = (item["id"].as_str().unwrap().to_owned(), second["data"][0]["id"].as_str().unwrap().to_owned());
    assert_ne!(a, b);

    // The other organization sees its own job only, and none of ours.
    let as_other = |m: reqwest::Method, path: &str| app.http.request(m, app.url(path)).bearer_auth(&other_key);
    let (_, theirs_page) = send(as_other(reqwest::Method::GET, "/v1/dead-letters/launch")).await;
    let their_items = theirs_page["data"].as_array().unwrap();
    assert_eq!(their_items.len(), 1, "{theirs_page}");
    assert_eq!(their_items[0]["payload"]["campaign_id"], theirs);
    let (status, _) = send(as_other(reqwest::Method::POST, &format!("/v1/dead-letters/launch/{a}/replay"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another organization's dead letter");
    let (status, _) = send(as_other(reqwest::Method::DELETE, &format!("/v1/dead-letters/launch/{a}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = app.post(&format!("/v1/dead-letters/launch/{a}/replay"), json!({})).await;
    assert_eq!((status, &body), (StatusCode::OK, &json!({"queue": "launch", "replayed": 1})));
    let g = gauges(&app, DeadQueue::Launch).await;
    assert_eq!((g.active, g.dead), (1, 2), "back in the active list");
    let (status, body) = app.post(&format!("/v1/dead-letters/launch/{a}/replay"), json!({})).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "no longer dead");

    let (status, _) = app.delete(&format!("/v1/dead-letters/launch/{b}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.delete(&format!("/v1/dead-letters/launch/{b}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(gauges(&app, DeadQueue::Launch).await.dead, 1, "the other organization's job is left");

    let (_, body) = app.post("/v1/dead-letters/launch/replay", json!({})).await;
    assert_eq!(body, json!({"queue": "launch", "replayed": 0}), "nothing of ours is dead");
    let (_, body) = send(as_other(reqwest::Method::POST, "/v1/dead-letters/launch/replay")).await;
    assert_eq!(body, json!({"queue": "launch", "replayed": 1}));
    assert_eq!(gauges(&app, DeadQueue::Launch).await.dead, 0);
}

/// A launched, planned campaign of two contacts whose sends both failed:
/// one with a clear refusal from Meta, one whose outcome is unknown.
async fn failed_sends(app: &TestApp) -> (i64, i64, i64) {
    let setup = app.campaign_setup().await;
    let ids = app
        .contacts(json!([
            {"phone": "+14155550101", "name": "Ada", "tags": ["vip"], "valued_tags": {"order_id": "A1"}},
            {"phone": "+14155550102", "name": "Bob", "tags": ["vip"], "valued_tags": {"order_id": "B2"}},
        ]))
        .await;
    let campaign = app.ready_campaign(&setup, "Replays", json!({})).await;
    let id = campaign["id"].as_i64().unwrap();
    let (status, body) = app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut tx = app.pg.begin().await.unwrap();
    store::campaigns::plan(&mut tx, id).await.unwrap();
    tx.commit().await.unwrap();
    let fail = |contact: i64, code: &'static str| {
        sqlx::query(
            "update recipients set state = 'failed', failed_at = now(), reason_code = $3, reason = 'it failed', attempt = 3
             where campaign_id = $1 and contact_id = $2",
        )
        .bind(id)
        .bind(contact)
        .bind(code)
        .execute(&app.pg)
    };
    fail(ids[0], "meta_rejected").await.unwrap();
    fail(ids[1], "outcome_unknown").await.unwrap();
    (id, ids[0], ids[1])
}

async fn recipient(app: &TestApp, campaign: i64, contact: i64) -> (String, i32) {
    sqlx::query_as("select state::text, dispatch from recipients where campaign_id = $1 and contact_id = $2")
        .bind(campaign)
        .bind(contact)
        .fetch_one(&app.pg)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_dead_send_is_replayed_as_a_fresh_job_unless_its_message_may_have_gone_out(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (campaign, refused, unknown) = failed_sends(&app).await;
    let (_, dispatch_before) = recipient(&app, campaign, refused).await;
    e2e::dead::make_dead(
        &app,
        DeadQueue::Send,
        &[SendJob::new(campaign, refused, 0), SendJob::new(campaign, unknown, 0)],
    )
    .await;
    let (_, page) = app.get("/v1/dead-letters/send").await;
    let ids: Vec<(i64, String)> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["payload"]["contact_id"].as_i64().unwrap(), i["id"].as_str().unwrap().to_owned()))
        .collect();
    let id_of = |contact: i64| ids.iter().find(|(c, _)| *c == contact).map(|(_, id)| id.clone()).unwrap();

    // The refused one goes back to the queue with a new dispatch number: the
    // old job, wherever a copy of it is, can no longer claim the row.
    let (status, body) = app.post(&format!("/v1/dead-letters/send/{}/replay", id_of(refused)), json!({})).await;
    assert_eq!((status, &body), (StatusCode::OK, &json!({"queue": "send", "replayed": 1})));
    let (state, dispatch) = recipient(&app, campaign, refused).await;
    assert_eq!(state, "queued");
    assert_eq!(dispatch, dispatch_before + 1);
    let g = gauges(&app, DeadQueue::Send).await;
    assert_eq!((g.active + g.scheduled, g.dead), (1, 1), "a fresh job is queued and the dead one is gone");

    // The one whose outcome is unknown is refused: it may have been delivered.
    let (status, body) = app.post(&format!("/v1/dead-letters/send/{}/replay", id_of(unknown)), json!({})).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "may_have_been_sent"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("duplicate"), "{body}");
    assert_eq!(recipient(&app, campaign, unknown).await.0, "failed");
    assert_eq!(gauges(&app, DeadQueue::Send).await.dead, 1, "still dead, for the operator to decide");

    // Once the campaign is finished, nothing is sent again.
    let (status, _) = app.post(&format!("/v1/campaigns/{campaign}/finish"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = app.post("/v1/dead-letters/send/replay", json!({})).await;
    assert_eq!(body, json!({"queue": "send", "replayed": 0}));
}

async fn failed_event(app: &TestApp, phone_number_id: &str) -> i64 {
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": []}]});
    let id =
        webhook_events::insert(&app.pg, Some(phone_number_id), &[], &serde_json::to_vec(&body).unwrap()).await.unwrap();
    sqlx::query(
        "update webhook_events set failed_at = now(), last_error = 'no such campaign', attempts = 5,
                claimed_until = now() + interval '1 minute' where id = $1",
    )
    .bind(id)
    .execute(&app.pg)
    .await
    .unwrap();
    id
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn failed_webhooks_of_the_status_queue_are_listed_replayed_and_deleted(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    app.register_number().await;
    let first = failed_event(&app, sim::PHONE_NUMBER_ID).await;
    let second = failed_event(&app, sim::PHONE_NUMBER_ID).await;
    failed_event(&app, "999000999").await; // about no number of ours

    let (_, counts) = app.get("/v1/dead-letters").await;
    assert_eq!(count(&counts, "status"), 2, "{counts}");
    let (status, page) = app.get("/v1/dead-letters/status").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["data"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{page}");
    assert_eq!(items[0]["id"], first.to_string());
    assert_eq!(items[0]["payload"]["object"], "whatsapp_business_account", "the batch as JSON");
    assert_eq!((items[0]["attempts"].as_i64(), items[0]["last_error"].as_str()), (Some(5), Some("no such campaign")));

    let (status, _) = app.post(&format!("/v1/dead-letters/status/{first}/replay"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (failed, attempts, claimed): (bool, i32, bool) = sqlx::query_as(
        "select failed_at is not null, attempts, claimed_until is not null from webhook_events where id = $1",
    )
    .bind(first)
    .fetch_one(&app.pg)
    .await
    .unwrap();
    assert_eq!((failed, attempts, claimed), (false, 0, false), "pending again: the next consumer claims it");

    let (status, _) = app.delete(&format!("/v1/dead-letters/status/{second}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let left: i64 = sqlx::query_scalar("select count(*) from webhook_events where id = $1")
        .bind(second)
        .fetch_one(&app.pg)
        .await
        .unwrap();
    assert_eq!(left, 0);
    for path in ["/v1/dead-letters/status/999999/replay", "/v1/dead-letters/status/not-a-number/replay"] {
        assert_eq!(app.post(path, json!({})).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    let (_, body) = app.post("/v1/dead-letters/status/replay", json!({})).await;
    assert_eq!(body["replayed"], 0, "the remaining one is about no number of ours");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn dead_replies_are_replayed_with_a_new_job_and_never_deleted(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    sqlx::query(
        "insert into inbound_messages (wamid, org_id, from_wa_id, message, route, route_attempts, last_error, dead_at)
         values ('wamid.dead1', $1, '34612345678', '{\"type\": \"text\", \"text\": {\"body\": \"hi\"}}', 'default',
                 8, 'the bot flow answered 500 Internal Server Error: ', now())",
    )
    .bind(app.org.0)
    .execute(&app.pg)
    .await
    .unwrap();
    // The reply job gave up too: its dead task mirrors the row.
    e2e::dead::make_dead(&app, DeadQueue::Reply, &[ReplyJob { wamid: "wamid.dead1".into() }]).await;

    let (_, counts) = app.get("/v1/dead-letters").await;
    assert_eq!(count(&counts, "reply"), 1, "the message, counted once: {counts}");
    let (status, page) = app.get("/v1/dead-letters/reply").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let item = &page["data"][0];
    assert_eq!(item["id"], "wamid.dead1");
    assert_eq!(item["payload"]["message"]["text"]["body"], "hi");
    assert_eq!(item["attempts"], 8);
    assert!(item["last_error"].as_str().unwrap().contains("500"), "{item}");

    let (status, body) = app.delete("/v1/dead-letters/reply/wamid.dead1").await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "reply_kept"), "{body}");

    let (status, body) = app.post("/v1/dead-letters/reply/wamid.dead1/replay", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (dead, attempts, due): (bool, i32, bool) = sqlx::query_as(
        "select dead_at is not null, route_attempts, next_attempt_at <= now() from inbound_messages
         where wamid = 'wamid.dead1'",
    )
    .fetch_one(&app.pg)
    .await
    .unwrap();
    assert_eq!((dead, attempts, due), (false, 0, true));
    let g = gauges(&app, DeadQueue::Reply).await;
    assert_eq!(g.dead, 0, "the mirrored dead task is gone");
    assert_eq!(g.scheduled + g.active, 1, "a new reply job is queued");
    assert_eq!(app.get("/v1/dead-letters/reply").await.1["data"], json!([]));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn dead_letters_need_an_admin_key_and_a_known_queue(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let plain = api_keys::create(&app.pg, app.org, "plain", &[]).await.unwrap().secret;
    use reqwest::Method as M;
    for (method, path) in [
        (M::GET, "/v1/dead-letters"),
        (M::GET, "/v1/dead-letters/send"),
        (M::POST, "/v1/dead-letters/send/replay"),
        (M::POST, "/v1/dead-letters/send/01J0000000000000000000000/replay"),
        (M::DELETE, "/v1/dead-letters/send/01J0000000000000000000000"),
    ] {
        let (status, body) = send(app.http.request(method.clone(), app.url(path)).bearer_auth(&plain)).await;
        assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "missing_scope"), "{method} {path}");
    }
    for (method, path) in [
        (M::GET, "/v1/dead-letters/campaigns.send"),
        (M::POST, "/v1/dead-letters/nope/replay"),
        (M::POST, "/v1/dead-letters/nope/1/replay"),
        (M::DELETE, "/v1/dead-letters/nope/1"),
    ] {
        let (status, body) = send(app.req(method.clone(), path)).await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "unknown_queue"), "{method} {path}: {body}");
    }
    let (status, body) = app.get("/v1/dead-letters/send?limit=0").await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_limit"));
    let (status, body) = app.get("/v1/dead-letters/status?cursor=abc").await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_cursor"));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn dead_letters_past_their_retention_are_trimmed_and_the_rest_kept(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    app.register_number().await;
    let ours = campaign(&app.pg, app.org).await;
    e2e::dead::make_dead(&app, DeadQueue::Launch, &[LaunchJob { campaign_id: ours }, LaunchJob { campaign_id: ours }])
        .await;
    let (old_event, new_event) =
        (failed_event(&app, e2e::sim::PHONE_NUMBER_ID).await, failed_event(&app, e2e::sim::PHONE_NUMBER_ID).await);
    let dl = app.state.dead_letters.clone().unwrap();
    let page = dl.list(DeadQueue::Launch, queue::Scope::Deployment, None, 10).await.unwrap();
    let (old_task, new_task) = (&page.items[0].id, &page.items[1].id);
    // One of each died fifteen days ago.
    let fifteen_days_ago = chrono::Utc::now() - chrono::Duration::days(15);
    let mut conn = queue::connect(&e2e::redis_url()).await.unwrap();
    let _: () = redis::cmd("HSET")
        .arg(format!("{}:meta:{old_task}", queue_name(&app, DeadQueue::Launch)))
        .arg("done_at")
        .arg(fifteen_days_ago.timestamp())
        .query_async(&mut conn)
        .await
        .unwrap();
    sqlx::query("update webhook_events set failed_at = $2 where id = $1")
        .bind(old_event)
        .bind(fifteen_days_ago)
        .execute(&app.pg)
        .await
        .unwrap();

    let trimmed = dl.trim(chrono::Utc::now() - chrono::Duration::days(14)).await.unwrap();
    assert_eq!(trimmed, 2, "the old task and the old webhook");
    let (_, counts) = app.get("/v1/dead-letters").await;
    assert_eq!((count(&counts, "launch"), count(&counts, "status")), (1, 1), "{counts}");
    let (_, launch) = app.get("/v1/dead-letters/launch").await;
    assert_eq!(launch["data"][0]["id"], new_task.as_str());
    let (_, status) = app.get("/v1/dead-letters/status").await;
    assert_eq!(status["data"][0]["id"].to_string().trim_matches('"'), new_event.to_string());
}
