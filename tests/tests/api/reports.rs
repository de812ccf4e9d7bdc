//! CSV reports: requested through the API, built by the report job's
//! builder (run directly here), downloaded plain and gzip.

use std::{collections::HashMap, io::Read};

use e2e::{StatusCode, TestApp, code, send};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use store::campaigns::plan;
use workers::report::{Built, build, build_in_pages};

const HYPERLINK: &str = r#"=HYPERLINK("http://evil.example","click")"#;

/// (phone, name, ledger state) of each contact, and the SQL that leaves its
/// ledger row as sending would have; `None`: as planning left it.
const PEOPLE: [(&str, &str, Option<&str>); 11] = [
    (
        "+34612000001",
        "Ana",
        Some(
            "state = 'read', wamid = 'wamid.R', sent_at = '2026-11-20T10:00:00Z',
        delivered_at = '2026-11-20T10:00:05Z', read_at = '2026-11-20T10:01:00Z', replied_at = '2026-11-20T10:02:00Z'",
        ),
    ),
    (
        "+34612000002",
        HYPERLINK,
        Some(
            "state = 'delivered', wamid = 'wamid.D', sent_at = '2026-11-20T10:00:00Z',
        delivered_at = '2026-11-20T10:00:05Z'",
        ),
    ),
    // No order_id valued tag: excluded by planning.
    ("+34612000003", "Carla", None),
    (
        "+34612000004",
        "Dora",
        Some(
            "state = 'failed', wamid = 'wamid.F', failed_at = now(),
        reason_code = 'not_on_whatsapp', reason = 'the phone is not on WhatsApp', meta_error_code = 131026",
        ),
    ),
    (
        "+34612000005",
        "Eva",
        Some(
            "state = 'in_doubt', reason_code = 'outcome_unknown',
        reason = 'the sender stopped between sending and recording the answer'",
        ),
    ),
    ("+34612000006", "Fina", Some("state = 'sent', wamid = 'wamid.S', sent_at = '2026-11-20T10:00:00Z'")),
    ("+34612000007", "Gala", Some("state = 'accepted', wamid = 'wamid.A'")),
    ("+34612000008", "@Hana", Some("state = 'queued', queued_at = now()")),
    ("+34612000009", "Ines", None),
    ("+34612000010", "Juana", Some("state = 'sending', sending_at = now()")),
    ("+34612000011", "-Kira", Some("state = 'queued', queued_at = now()")),
];

/// A launched campaign whose ledger has every outcome; returns its id.
async fn campaign_with_every_outcome(app: &TestApp) -> i64 {
    let setup = app.campaign_setup().await;
    let contacts: Vec<Value> = PEOPLE
        .iter()
        .map(|(phone, name, _)| {
            let mut c = json!({"phone": phone, "name": name, "tags": ["vip"], "valued_tags": {"order_id": "A-1"}});
            if *phone == "+34612000003" {
                c["valued_tags"] = json!({});
            }
            c
        })
        .collect();
    let ids = app.contacts(Value::Array(contacts)).await;
    let campaign = app.ready_campaign(&setup, "Spring sale", json!({})).await;
    let id = campaign["id"].as_i64().unwrap();
    assert_eq!(app.post(&format!("/v1/campaigns/{id}/launch"), json!({})).await.0, StatusCode::OK);
    let mut tx = app.pg.begin().await.unwrap();
    plan(&mut tx, id).await.unwrap();
    tx.commit().await.unwrap();
    for ((_, _, change), contact) in PEOPLE.iter().zip(&ids) {
        if let Some(change) = change {
            sqlx::query(&format!("update recipients set {change} where campaign_id = $1 and contact_id = $2"))
                .bind(id)
                .bind(contact)
                .execute(&app.pg)
                .await
                .unwrap();
        }
    }
    for (step, at) in [("bought", "2026-11-20T10:40:00Z"), ("opened", "2026-11-20T10:05:00Z")] {
        let body = json!({"contact_id": ids[0], "step": step, "reached_at": at});
        assert_eq!(app.post(&format!("/v1/campaigns/{id}/funnel-steps"), body).await.0, StatusCode::CREATED);
    }
    id
}

async fn request(app: &TestApp, campaign: i64) -> i64 {
    let (status, report) = app.post(&format!("/v1/campaigns/{campaign}/reports"), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{report}");
    assert_eq!(report["status"], "pending");
    report["id"].as_i64().unwrap()
}

/// Downloads a report: the status, the headers and the raw body.
async fn download(
    app: &TestApp,
    report: i64,
    accept_encoding: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let resp = app
        .req(Method::GET, &format!("/v1/reports/{report}/download"))
        .header("accept-encoding", accept_encoding)
        .send()
        .await
        .unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

/// The CSV's rows by phone (the header row under "phone").
fn rows_by_phone(csv: &[u8]) -> HashMap<String, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(csv);
    reader
        .records()
        .map(|r| {
            let r: Vec<String> = r.unwrap().iter().map(str::to_owned).collect();
            (r[0].clone(), r)
        })
        .collect()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_report_has_every_recipient_with_its_outcome_reason_times_and_steps_neutralised(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let campaign = campaign_with_every_outcome(&app).await;
    let report = request(&app, campaign).await;
    let outbox: (String, Value) = sqlx::query_as("select queue, payload from job_outbox where dedupe_key = $1")
        .bind(format!("report:{report}"))
        .fetch_one(&app.pg)
        .await
        .unwrap();
    assert_eq!(outbox, ("report".to_owned(), json!({"report_id": report})), "the job is in the outbox");
    let (status, body) = app.get(&format!("/v1/reports/{report}/download")).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "report_not_ready"), "{body}");

    let built = build(&app.pg, report).await.unwrap();
    assert!(matches!(built, Built::Ready { rows: 11, .. }), "{built:?}");
    assert_eq!(build(&app.pg, report).await.unwrap(), Built::AlreadyDone, "a ready report is not built again");
    let (status, view) = app.get(&format!("/v1/reports/{report}")).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!((view["status"].as_str(), view["row_count"].as_i64()), (Some("ready"), Some(11)));
    assert!(view["finished_at"].is_string() && view["error"].is_null(), "{view}");

    let (status, headers, csv) = download(&app, report, "identity").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"campaign-{campaign}-report-{report}.csv\"").as_str()
    );
    assert!(headers.get("content-encoding").is_none());
    assert_eq!(Built::Ready { rows: 11, bytes: csv.len() as i64 }, built);
    assert_eq!(view["byte_count"].as_i64(), Some(csv.len() as i64));
    let rows = rows_by_phone(&csv);
    assert_eq!(rows.len(), 12, "a header and one row per targeted contact, the excluded one included");
    assert_eq!(
        rows["phone"],
        [
            "phone",
            "name",
            "outcome",
            "error_code",
            "error_msg",
            "sent_at",
            "delivered_at",
            "read_at",
            "replied_at",
            "time_per_funnel_step",
            "wamid",
            "time_zone"
        ]
    );
    assert_eq!(
        rows["'+34612000001"],
        [
            "'+34612000001",
            "Ana",
            "read",
            "",
            "",
            "2026-11-20T10:00:00Z",
            "2026-11-20T10:00:05Z",
            "2026-11-20T10:01:00Z",
            "2026-11-20T10:02:00Z",
            r#"{"opened":"2026-11-20T10:05:00Z","bought":"2026-11-20T10:40:00Z"}"#,
            "wamid.R",
            ""
        ]
    );
    let formula = &rows["'+34612000002"];
    assert_eq!((formula[1].as_str(), formula[2].as_str()), (format!("'{HYPERLINK}").as_str(), "delivered"));
    assert_eq!(formula[9], "{}");
    let excluded = &rows["'+34612000003"];
    assert_eq!(excluded[2..4], ["excluded", "missing_valued_tag"]);
    assert!(excluded[4].contains("\"order_id\""), "a readable reason: {excluded:?}");
    assert_eq!(excluded[5..9], ["", "", "", ""]);
    let failed = &rows["'+34612000004"];
    assert_eq!(failed[2..5], ["failed", "not_on_whatsapp", "the phone is not on WhatsApp (Meta error 131026)"]);
    assert_eq!(rows["'+34612000005"][2..4], ["in_doubt", "outcome_unknown"]);
    let outcomes: Vec<&str> = PEOPLE.iter().map(|(phone, ..)| rows[&format!("'{phone}")][2].as_str()).collect();
    assert_eq!(
        outcomes,
        [
            "read",
            "delivered",
            "excluded",
            "failed",
            "in_doubt",
            "sent",
            "accepted",
            "queued",
            "planned",
            "sending",
            "queued"
        ]
    );
    assert_eq!(rows["'+34612000008"][1], "'@Hana");
    assert_eq!(rows["'+34612000011"][1], "'-Kira");

    // gzip, when asked: the same bytes.
    let (status, headers, gz) = download(&app, report, "gzip, deflate").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (headers["content-encoding"].to_str().unwrap(), headers["vary"].to_str().unwrap()),
        ("gzip", "accept-encoding")
    );
    assert_eq!(headers["content-length"].to_str().unwrap(), gz.len().to_string());
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut unzipped).unwrap();
    assert_eq!(unzipped, csv);

    let (status, list) = app.get(&format!("/v1/campaigns/{campaign}/reports")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["reports"][0]["id"], report);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_report_in_many_chunks_downloads_whole_and_an_interrupted_build_restarts_cleanly(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let campaign = campaign_with_every_outcome(&app).await;
    let report = request(&app, campaign).await;
    // A build that died: status building, with chunks of its own.
    sqlx::query("update reports set status = 'building', started_at = now() where id = $1")
        .bind(report)
        .execute(&app.pg)
        .await
        .unwrap();
    sqlx::query("insert into report_chunks (report_id, seq, data) values ($1, 0, 'junk'), ($1, 7, 'junk')")
        .bind(report)
        .execute(&app.pg)
        .await
        .unwrap();
    let Built::Ready { rows, .. } = build_in_pages(&app.pg, report, 2).await.unwrap() else { panic!("not built") };
    assert_eq!(rows, 11);
    let chunks: i64 = sqlx::query_scalar("select count(*) from report_chunks where report_id = $1")
        .bind(report)
        .fetch_one(&app.pg)
        .await
        .unwrap();
    assert_eq!(chunks, 7, "6 pages of 2 and the trailer; the old chunks are gone");
    let (_, _, plain) = download(&app, report, "br").await;
    let (_, _, gz) = download(&app, report, "gzip").await;
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut unzipped).unwrap();
    assert_eq!(unzipped, plain);
    let rows = rows_by_phone(&plain);
    assert_eq!(rows.len(), 12);
    assert_eq!(rows["'+34612000001"][9], r#"{"opened":"2026-11-20T10:05:00Z","bought":"2026-11-20T10:40:00Z"}"#);

    // One page per chunk gives the same CSV.
    let again = request(&app, campaign).await;
    build(&app.pg, again).await.unwrap();
    assert_eq!(download(&app, again, "identity").await.2, plain);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_failed_report_says_why_and_is_not_built_again(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let campaign = campaign_with_every_outcome(&app).await;
    let report = request(&app, campaign).await;
    sqlx::query("update reports set status = 'failed', error = 'the database went away' where id = $1")
        .bind(report)
        .execute(&app.pg)
        .await
        .unwrap();
    assert_eq!(build(&app.pg, report).await.unwrap(), Built::AlreadyDone);
    let (status, body) = app.get(&format!("/v1/reports/{report}/download")).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "report_failed"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("the database went away"));

    // A campaign with no ledger yet (a Draft) gives the header row only.
    let (status, draft) = app.post("/v1/campaigns", json!({"name": "Later"})).await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let empty = request(&app, draft["id"].as_i64().unwrap()).await;
    let header = workers::report::rows::COLUMNS.join(",") + "\n";
    assert_eq!(build(&app.pg, empty).await.unwrap(), Built::Ready { rows: 0, bytes: header.len() as i64 });
    assert_eq!(download(&app, empty, "identity").await.2, header.as_bytes());
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn another_organizations_reports_are_not_found(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let campaign = campaign_with_every_outcome(&app).await;
    let report = request(&app, campaign).await;
    build(&app.pg, report).await.unwrap();
    let (_, other_key) = app.other_org().await;
    let as_other =
        |method: Method, path: String| send(app.http.request(method, app.url(&path)).bearer_auth(&other_key));
    for (method, path) in [
        (Method::GET, format!("/v1/reports/{report}")),
        (Method::GET, format!("/v1/reports/{report}/download")),
        (Method::GET, format!("/v1/campaigns/{campaign}/reports")),
        (Method::POST, format!("/v1/campaigns/{campaign}/reports")),
    ] {
        let (status, body) = as_other(method, path.clone()).await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{path}: {body}");
    }
    assert_eq!(app.get("/v1/reports/999999").await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.post("/v1/campaigns/999999/reports", json!({})).await.0, StatusCode::NOT_FOUND);
}
