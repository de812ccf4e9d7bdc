//! The phone-number reads against a stand-in for Graph: which request goes
//! out, and how the listing walks its pages. Meta's behaviour itself is
//! checked against wa-sim in `crates/wa-sim/tests/phone_numbers.rs`.

use super::*;

#[derive(Debug, Clone)]
struct Read {
    /// The node id as the server decoded it from the path.
    id: String,
    query: HashMap<String, String>,
    authorization: Option<String>,
}

type Reads = Arc<Mutex<Vec<Read>>>;

fn remember(reads: &Reads, id: String, query: HashMap<String, String>, headers: &HeaderMap) {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    reads.lock().expect("lock").push(Read { id, query, authorization });
}

async fn node(
    State(reads): State<Reads>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    remember(&reads, id.clone(), query, &headers);
    Json(json!({"id": id, "display_phone_number": "+1 555-123-4567", "verified_name": "Jasper's Market",
        "quality_rating": "YELLOW", "throughput": {"level": "HIGH"},
        "whatsapp_business_manager_messaging_limit": "TIER_100K"}))
    .into_response()
}

/// `three-pages` answers ids 1..=5 two at a time; `endless` always has a
/// next page; `forbidden` is Graph's answer for an object the token cannot read.
async fn listing(
    State(reads): State<Reads>,
    Path(waba): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let after = query.get("after").cloned();
    remember(&reads, waba.clone(), query, &headers);
    let entry = |id: u32| json!({"id": id.to_string(), "display_phone_number": format!("1555000000{id}")});
    let page = |ids: &[u32], after: &str, more: bool| {
        let mut body = json!({"data": ids.iter().map(|&id| entry(id)).collect::<Vec<_>>(),
            "paging": {"cursors": {"before": "b", "after": after}}});
        if more {
            body["paging"]["next"] = json!(format!("https://example.invalid/next?after={after}"));
        }
        Json(body).into_response()
    };
    match (waba.as_str(), after.as_deref()) {
        ("three-pages", None) => page(&[1, 2], "c1", true),
        ("three-pages", Some("c1")) => page(&[3, 4], "c2", true),
        ("three-pages", Some("c2")) => page(&[5], "c3", false),
        ("endless", _) => page(&[7], "again", true),
        ("forbidden", _) => {
            let body = json!({"error": {"message": "Unsupported get request. Object with ID 'forbidden' does not \
                exist, cannot be loaded due to missing permissions, or does not support this operation.",
                "type": "GraphMethodException", "code": 100, "error_subcode": 33, "fbtrace_id": "AbC"}});
            (StatusCode::BAD_REQUEST, Json(body)).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn spawn() -> (CloudClient, Reads) {
    let reads = Reads::default();
    let app = Router::new()
        .route("/v23.0/{id}", get(node))
        .route("/v23.0/{waba}/phone_numbers", get(listing))
        .with_state(reads.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (client_for(format!("http://{addr}")), reads)
}

fn reads(reads: &Reads) -> Vec<Read> {
    reads.lock().expect("lock").clone()
}

#[tokio::test]
async fn phone_number_asks_for_its_fields_with_bearer_auth() {
    let (client, seen) = spawn().await;
    let info = client.phone_number("106540352242922", TOKEN).await.expect("read");
    assert_eq!(info.id.as_deref(), Some("106540352242922"));
    assert_eq!(info.display_digits().as_deref(), Some("15551234567"));
    assert_eq!(info.throughput_per_second(), Some(1000));
    assert_eq!(info.whatsapp_business_manager_messaging_limit.as_deref(), Some("TIER_100K"));

    let seen = reads(&seen);
    assert_eq!(seen[0].query.get("fields").map(String::as_str), Some(PHONE_NUMBER_FIELDS));
    assert_eq!(seen[0].authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
}

#[tokio::test]
async fn an_id_stays_one_path_segment() {
    let (client, seen) = spawn().await;
    let tricky = "106/phone_numbers?fields=id&x=1#frag";
    client.phone_number(tricky, TOKEN).await.expect("read");
    let seen = reads(&seen);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].id, tricky, "reached the node route, not the listing");
    assert_eq!(seen[0].query.keys().collect::<Vec<_>>(), ["fields"]);
}

#[tokio::test]
async fn waba_phone_numbers_follows_the_cursors_to_the_last_page() {
    let (client, seen) = spawn().await;
    let numbers = client.waba_phone_numbers("three-pages", TOKEN).await.expect("listed");
    let ids: Vec<_> = numbers.iter().filter_map(|n| n.id.as_deref()).collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5"]);

    let seen = reads(&seen);
    let afters: Vec<_> = seen.iter().map(|r| r.query.get("after").map(String::as_str)).collect();
    assert_eq!(afters, [None, Some("c1"), Some("c2")]);
    for read in &seen {
        assert_eq!(read.query.get("limit").map(String::as_str), Some("25"));
        assert_eq!(read.query.get("fields").map(String::as_str), Some(PHONE_NUMBER_FIELDS));
        assert_eq!(read.authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
    }
}

#[tokio::test]
async fn a_listing_that_never_ends_stops_at_the_page_cap() {
    let (client, seen) = spawn().await;
    let numbers = client.waba_phone_numbers("endless", TOKEN).await.expect("listed");
    assert_eq!(numbers.len(), MAX_PHONE_NUMBER_PAGES);
    assert_eq!(reads(&seen).len(), MAX_PHONE_NUMBER_PAGES);
}

#[tokio::test]
async fn a_listing_error_is_the_graph_error() {
    let (client, _) = spawn().await;
    let error = client.waba_phone_numbers("forbidden", TOKEN).await.expect_err("400");
    assert_no_token(&error);
    let ApiError::Graph { status: 400, error } = error else { panic!("{error:?}") };
    assert_eq!((error.code, error.error_subcode, error.kind.as_deref()), (100, Some(33), Some("GraphMethodException")));
}
