use std::fmt::Write;

use api::Limits;
use e2e::{StatusCode, TestApp, code};
use serde_json::json;
use sqlx::PgPool;

fn csv_rows(n: usize) -> String {
    let mut csv = String::from("phone,name,tags,vt:customer_id,vt:city\n");
    for i in 0..n {
        writeln!(csv, "+3461{i:07},Name {i},vip;wave-{};all,C-{i},Madrid", i % 3).unwrap();
    }
    csv
}

async fn count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from contacts").fetch_one(&app.pg).await.unwrap()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn csv_import_writes_every_row_across_batches(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let (status, body) = app.import_csv(csv_rows(12_345)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"rows": 12_345, "created": 12_345, "updated": 0}));

    let (_, page) = app.get("/v1/contacts?tag=wave-1&valued_tag=customer_id=C-4&limit=5").await;
    let c = &page["data"][0];
    assert_eq!(c["phone"], "+34610000004");
    assert_eq!(c["tags"], json!(["all", "vip", "wave-1"]));
    assert_eq!(c["valued_tags"], json!({"city": "Madrid", "customer_id": "C-4"}));

    // Importing the same file again updates rather than duplicates.
    let (status, body) = app.import_csv(csv_rows(100)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["updated"], 100);
    assert_eq!(count(&app).await, 12_345);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_broken_row_after_many_good_batches_rolls_back_the_whole_import(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let mut csv = csv_rows(11_000);
    csv.push_str("+34699999999,Late,vip\n"); // 3 fields where the header has 5
    csv.push_str("not-a-phone,X,vip,C,M\n");
    let (status, body) = app.import_csv(csv).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(code(&body), "invalid_rows");
    let details = body["error"]["details"].as_array().unwrap();
    assert_eq!(details.len(), 2);
    assert_eq!(details[0]["row"], 11_002, "line numbers count the header as line 1");
    assert_eq!(details[0]["code"], "malformed_csv_row");
    assert_eq!(details[1]["row"], 11_003);
    assert_eq!(details[1]["code"], "invalid_phone");
    assert_eq!(details[1]["field"], "phone");
    assert_eq!(count(&app).await, 0, "batches written before the bad row must be rolled back");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn csv_header_problems_are_named(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    for (csv, expected, needle) in [
        ("name,tags\nAna,vip\n", "missing_column", "phone"),
        ("phone,colour\n+34612345678,red\n", "unknown_column", "colour"),
        ("phone,tags,Tags\n+34612345678,a,b\n", "duplicate_column", "Tags"),
        ("phone,vt:1bad\n+34612345678,x\n", "invalid_column", "1bad"),
    ] {
        let (status, body) = app.import_csv(csv).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{csv}: {body}");
        assert_eq!(code(&body), expected, "{csv}");
        assert!(body["error"]["message"].as_str().unwrap().contains(needle), "{body}");
    }
    let (status, _) = e2e::send(app.req(reqwest::Method::POST, "/v1/contacts/import").body("phone\n")).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn csv_import_over_the_size_limit_is_refused_even_when_streamed(pg: PgPool) {
    let limits = Limits { csv_import_bytes: 64 * 1024, ..Limits::default() };
    let app = TestApp::spawn_with(pg, limits).await;
    // Known length: refused before reading.
    let (status, body) = app.import_csv(csv_rows(5_000)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    // Chunked (no Content-Length): refused when the limit is crossed.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
        csv_rows(5_000).into_bytes().chunks(8 * 1024).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let (status, json) = app.import_csv(body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{json}");
    assert_eq!(code(&json), "payload_too_large");
    assert_eq!(count(&app).await, 0);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn csv_cells_are_validated_like_json(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let csv = "\u{feff}phone,name,wa_id,tags,vt:plan\n\
               +34612345678,\"Pérez, Ana\",34612345678,VIP; Madrid ,gold\n\
               +34612345679,,,,\n\
               +34612345670,Bad wa,12ab,,\n";
    let (status, body) = app.import_csv(csv).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["details"][0]["row"], 4);
    assert_eq!(body["error"]["details"][0]["code"], "invalid_wa_id");

    let csv = "\u{feff}phone,name,wa_id,tags,vt:plan\n\
               +34612345678,\"Pérez, Ana\",34612345678,VIP; Madrid ,gold\n\
               +34612345679,,,,\n";
    let (status, body) = app.import_csv(csv).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, page) = app.get("/v1/contacts").await;
    assert_eq!(page["data"][0]["name"], "Pérez, Ana");
    assert_eq!(page["data"][0]["wa_id"], "34612345678");
    assert_eq!(page["data"][0]["tags"], json!(["madrid", "vip"]));
    assert_eq!(page["data"][1]["name"], serde_json::Value::Null);
    assert_eq!(page["data"][1]["valued_tags"], json!({}), "an empty vt: cell sets nothing");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_phone_repeated_in_one_import_is_applied_in_order(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let csv = "phone,name,tags,vt:plan,vt:city\n\
               +34612345678,Ana,vip,gold,Madrid\n\
               +34612345679,Bob,lead,,\n\
               +34 612 345 678,Ana María,newsletter,silver,\n";
    let (status, body) = app.import_csv(csv).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"rows": 3, "created": 2, "updated": 1}), "the repeat updates the first row");
    let (_, page) = app.get("/v1/contacts?tag=newsletter").await;
    let ana = &page["data"][0];
    assert_eq!(ana["name"], "Ana María");
    assert_eq!(ana["tags"], json!(["newsletter", "vip"]));
    assert_eq!(ana["valued_tags"], json!({"city": "Madrid", "plan": "silver"}));
    assert_eq!(count(&app).await, 2);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_row_that_is_not_utf8_is_reported_by_line(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let mut csv = b"phone,name\n+34612345678,Ana\n+34612345679,".to_vec();
    csv.extend_from_slice(&[0xff, 0xfe, b'\n']);
    let (status, body) = app.import_csv(csv).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["details"][0]["row"], 3);
    assert_eq!(body["error"]["details"][0]["code"], "malformed_csv_row");
    assert_eq!(count(&app).await, 0);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn too_many_valued_tag_columns_are_refused_per_row(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let header: Vec<String> = (0..51).map(|i| format!("vt:k{i}")).collect();
    let csv = format!("phone,{}\n+34612345678,{}\n", header.join(","), vec!["v"; 51].join(","));
    let (status, body) = app.import_csv(csv).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["details"][0]["code"], "too_many_valued_tags");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn imports_beyond_the_concurrency_limit_are_turned_away_until_one_finishes(pg: PgPool) {
    let limits = Limits { concurrent_imports: 1, ..Limits::default() };
    let app = TestApp::spawn_with(pg, limits).await;
    // A first import that is still uploading holds the only slot.
    let (chunks, rx) = futures::channel::mpsc::unbounded::<Result<bytes::Bytes, std::io::Error>>();
    chunks.unbounded_send(Ok(bytes::Bytes::from_static(b"phone\n+34612345678\n"))).unwrap();
    let slow = tokio::spawn({
        let req = app.req(reqwest::Method::POST, "/v1/contacts/import").header("content-type", "text/csv");
        async move { e2e::send(req.body(reqwest::Body::wrap_stream(rx))).await }
    });
    e2e::eventually(std::time::Duration::from_secs(10), "the first import to take the slot", || async {
        (app.state.import_slots.available_permits() == 0).then_some(())
    })
    .await;
    let (status, body) = app.import_csv("phone\n+34612345679\n").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(code(&body), "too_many_imports");
    drop(chunks); // the first upload ends
    let (status, body) = slow.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app.import_csv("phone\n+34612345679\n").await;
    assert_eq!(status, StatusCode::OK, "the slot is free again");
}
