use chrono::{DateTime, Utc};
use e2e::{StatusCode, TestApp, code, send, sim};
use serde_json::{Value, json};
use sqlx::PgPool;

const MB: usize = 1024 * 1024;

fn jpeg(len: usize) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00];
    bytes.resize(len.max(bytes.len() + 2) - 2, 0x42);
    bytes.extend_from_slice(&[0xFF, 0xD9]);
    bytes
}

fn png() -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R'];
    bytes.extend_from_slice(&[0; 32]);
    bytes
}

fn iso_media(brand: &[u8; 4], len: usize) -> Vec<u8> {
    let mut bytes = vec![0, 0, 0, 0x18];
    bytes.extend_from_slice(b"ftyp");
    bytes.extend_from_slice(brand);
    bytes.extend_from_slice(&[0, 0, 2, 0]);
    bytes.extend_from_slice(b"isommp41");
    bytes.resize(len.max(bytes.len()), 0);
    bytes
}

async fn upload(app: &TestApp, query: &str, content_type: Option<&str>, bytes: Vec<u8>) -> (StatusCode, Value) {
    let mut req = app.req(reqwest::Method::POST, &format!("/v1/media?{query}")).body(bytes);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    send(req).await
}

async fn upload_jpeg(app: &TestApp, number: i64) -> Value {
    let (status, body) =
        upload(app, &format!("number_id={number}&filename=promo.jpg"), Some("image/jpeg"), jpeg(2048)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// What the simulator (Meta) holds under a media id.
async fn at_meta(app: &TestApp, media_id: &str) -> Value {
    let url = format!("{}/v23.0/{media_id}", app.sim.base_url());
    let (status, body) = send(app.http.get(url).bearer_auth(sim::ACCESS_TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "Meta has {media_id}: {body}");
    body
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_header_image_is_uploaded_to_meta_then_stored_with_its_30_day_expiry(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let number = app.register_number().await;
    let media = upload_jpeg(&app, number).await;
    assert_eq!(media["number_id"], number);
    assert_eq!((media["kind"].as_str(), media["mime_type"].as_str()), (Some("image"), Some("image/jpeg")));
    assert_eq!((media["filename"].as_str(), media["size_bytes"].as_i64()), (Some("promo.jpg"), Some(2048)));
    assert!(media.get("content").is_none(), "the bytes are never returned: {media}");
    let lifetime = time(&media["meta_expires_at"]) - time(&media["meta_uploaded_at"]);
    assert_eq!(lifetime, chrono::Duration::days(30));

    let meta = at_meta(&app, media["meta_media_id"].as_str().unwrap()).await;
    assert_eq!(meta["mime_type"], "image/jpeg");
    assert_eq!(meta["file_size"], "2048");
    assert_eq!(meta["sha256"], media["sha256"], "Meta got exactly the stored bytes");
    let stored: (Vec<u8>, String) =
        sqlx::query_as("select content, encode(sha256, 'hex') from media_assets").fetch_one(&app.pg).await.unwrap();
    assert_eq!((stored.0, stored.1.as_str()), (jpeg(2048), media["sha256"].as_str().unwrap()));

    let id = media["id"].as_i64().unwrap();
    assert_eq!(app.get(&format!("/v1/media/{id}")).await, (StatusCode::OK, media.clone()));
    assert_eq!(app.get("/v1/media").await, (StatusCode::OK, json!([media])));

    for (content_type, brand, kind) in [("video/mp4", b"isom", "video"), ("video/3gpp", b"3gp5", "video")] {
        let (status, video) =
            upload(&app, &format!("number_id={number}"), Some(content_type), iso_media(brand, 6 * MB)).await;
        assert_eq!(status, StatusCode::CREATED, "{content_type}: videos may be up to 16 MB: {video}");
        assert_eq!((video["kind"].as_str(), video["mime_type"].as_str()), (Some(kind), Some(content_type)));
        assert!(video["filename"].as_str().unwrap().starts_with("upload."), "{video}");
    }
    let (status, image) = upload(&app, &format!("number_id={number}"), Some("image/png"), png()).await;
    assert_eq!((status, image["kind"].as_str()), (StatusCode::CREATED, Some("image")), "{image}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn files_meta_would_refuse_are_answered_precisely_and_never_stored(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let number = app.register_number().await;
    let query = format!("number_id={number}");

    let (status, err) = upload(&app, &query, Some("image/gif"), b"GIF89a".to_vec()).await;
    assert_eq!((status, code(&err)), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"));
    let message = err["error"]["message"].as_str().unwrap();
    assert!(["image/jpeg", "image/png", "video/mp4", "video/3gpp"].iter().all(|t| message.contains(t)), "{message}");
    assert_eq!(upload(&app, &query, None, jpeg(100)).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let (status, err) = upload(&app, &query, Some("image/jpeg"), jpeg(5 * MB + 1)).await;
    assert_eq!((status, code(&err)), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"), "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("5 MB"), "{err}");
    let (status, err) = upload(&app, &query, Some("video/mp4"), iso_media(b"isom", 16 * MB + 1)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("16 MB"), "{err}");

    let (status, err) = upload(&app, &query, Some("image/jpeg"), Vec::new()).await;
    assert_eq!((status, code(&err)), (StatusCode::UNPROCESSABLE_ENTITY, "empty_file"), "{err}");
    let (status, err) = upload(&app, &query, Some("image/jpeg"), png()).await;
    assert_eq!((status, code(&err)), (StatusCode::UNPROCESSABLE_ENTITY, "media_type_mismatch"), "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("image/png"), "says what it looks like: {err}");
    let (status, err) = upload(&app, &query, Some("video/3gpp"), iso_media(b"mp42", 1024)).await;
    assert_eq!((status, code(&err)), (StatusCode::UNPROCESSABLE_ENTITY, "media_type_mismatch"), "{err}");

    let (_, other) = app.other_org().await;
    let foreign = app.register_other_number(&other).await;
    for query in ["number_id=999999".to_owned(), format!("number_id={foreign}"), "filename=a.jpg".to_owned()] {
        let (status, err) = upload(&app, &query, Some("image/jpeg"), jpeg(100)).await;
        assert_eq!(
            (status, err["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("number_id")),
            "{query}: {err}"
        );
    }
    let (status, err) = upload(&app, &format!("{query}&filename=a/b.jpg"), Some("image/jpeg"), jpeg(100)).await;
    assert_eq!((status, err["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("filename")), "{err}");

    assert_eq!(app.get("/v1/media").await.1, json!([]), "nothing stored");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_file_meta_refuses_gives_502_and_is_not_stored(pg: PgPool) {
    const BAD_TOKEN: &str = "EAAGrevoked-token-never-shown";
    let app = TestApp::spawn(pg).await;
    let number = app.register_number().await;
    // Meta revoked the token after the number was registered.
    e2e::replace_token(&app, number, BAD_TOKEN).await;
    let (status, err) = upload(&app, &format!("number_id={number}"), Some("image/jpeg"), jpeg(100)).await;
    assert_eq!((status, code(&err)), (StatusCode::BAD_GATEWAY, "cloud_api_error"), "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("190"), "Meta's code is named: {err}");
    assert!(!err.to_string().contains(BAD_TOKEN), "{err}");
    assert_eq!(app.get("/v1/media").await.1, json!([]), "nothing stored");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn refreshing_uploads_the_stored_bytes_again_for_a_new_id_and_expiry(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let number = app.register_number().await;
    let media = upload_jpeg(&app, number).await;
    let id = media["id"].as_i64().unwrap();

    let (status, refreshed) = app.post(&format!("/v1/media/{id}/refresh"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_ne!(refreshed["meta_media_id"], media["meta_media_id"]);
    assert!(time(&refreshed["meta_expires_at"]) > time(&media["meta_expires_at"]));
    assert_eq!((refreshed["id"].clone(), refreshed["sha256"].clone()), (media["id"].clone(), media["sha256"].clone()));
    let meta = at_meta(&app, refreshed["meta_media_id"].as_str().unwrap()).await;
    assert_eq!(meta["sha256"], media["sha256"]);
    assert_eq!(app.post("/v1/media/999999/refresh", json!({})).await.0, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn ensure_media_fresh_uploads_again_only_when_the_id_expires_within_the_horizon(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let number = app.register_number().await;
    let media = upload_jpeg(&app, number).await;
    let id = media["id"].as_i64().unwrap();
    let week = chrono::Duration::days(7);
    let meta_id = || async {
        sqlx::query_scalar::<_, Option<String>>("select meta_media_id from media_assets where id = $1")
            .bind(id)
            .fetch_one(&app.pg)
            .await
            .unwrap()
    };

    api::cloud::ensure_media_fresh(&app.state, app.org, id, week).await.unwrap();
    assert_eq!(meta_id().await.as_deref(), media["meta_media_id"].as_str(), "30 days left: kept");

    sqlx::query("update media_assets set meta_expires_at = now() + interval '6 days' where id = $1")
        .bind(id)
        .execute(&app.pg)
        .await
        .unwrap();
    api::cloud::ensure_media_fresh(&app.state, app.org, id, week).await.unwrap();
    let renewed = meta_id().await;
    assert_ne!(renewed.as_deref(), media["meta_media_id"].as_str(), "6 days left: uploaded again");
    let (_, now) = app.get(&format!("/v1/media/{id}")).await;
    assert!(time(&now["meta_expires_at"]) > Utc::now() + chrono::Duration::days(29));
    at_meta(&app, renewed.as_deref().unwrap()).await;

    sqlx::query("update media_assets set meta_media_id = null, meta_expires_at = null where id = $1")
        .bind(id)
        .execute(&app.pg)
        .await
        .unwrap();
    api::cloud::ensure_media_fresh(&app.state, app.org, id, week).await.unwrap();
    assert!(meta_id().await.is_some(), "a media without a Meta id gets one");

    let missing = api::cloud::ensure_media_fresh(&app.state, app.org, 999_999, week).await;
    assert!(matches!(missing, Err(api::error::ApiError::NotFound { .. })), "{missing:?}");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_media_used_by_a_running_campaign_cannot_be_deleted_and_other_campaigns_lose_it(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let number = app.register_number().await;
    let id = upload_jpeg(&app, number).await["id"].as_i64().unwrap();
    for (name, lifecycle) in [("Spring promo", "scheduled"), ("Draft promo", "editable")] {
        sqlx::query(
            "insert into campaigns (org_id, kind, name, lifecycle, header_media_id) values ($1, 'real', $2, $3, $4)",
        )
        .bind(app.org.0)
        .bind(name)
        .bind(lifecycle)
        .bind(id)
        .execute(&app.pg)
        .await
        .unwrap();
    }
    let (status, err) = app.delete(&format!("/v1/media/{id}")).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "media_in_use"), "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("Spring promo"), "{err}");

    sqlx::query("update campaigns set lifecycle = 'finished' where name = 'Spring promo'")
        .execute(&app.pg)
        .await
        .unwrap();
    assert_eq!(app.delete(&format!("/v1/media/{id}")).await.0, StatusCode::NO_CONTENT);
    let refs: Vec<Option<i64>> =
        sqlx::query_scalar("select header_media_id from campaigns order by id").fetch_all(&app.pg).await.unwrap();
    assert_eq!(refs, [None, None]);
    assert_eq!(app.get(&format!("/v1/media/{id}")).await.0, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn another_organizations_media_are_not_found(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let number = app.register_number().await;
    let id = upload_jpeg(&app, number).await["id"].as_i64().unwrap();
    let (_, other) = app.other_org().await;
    use reqwest::Method as M;
    for (method, path) in [
        (M::GET, format!("/v1/media/{id}")),
        (M::POST, format!("/v1/media/{id}/refresh")),
        (M::DELETE, format!("/v1/media/{id}")),
    ] {
        let (status, err) = send(app.http.request(method.clone(), app.url(&path)).bearer_auth(&other)).await;
        assert_eq!((status, code(&err)), (StatusCode::NOT_FOUND, "not_found"), "{method} {path}: {err}");
    }
    assert_eq!(send(app.http.get(app.url("/v1/media")).bearer_auth(&other)).await, (StatusCode::OK, json!([])));
    assert_eq!(app.get(&format!("/v1/media/{id}")).await.0, StatusCode::OK);
}
