//! Media upload through `whatsapp::CloudClient` and the metadata lookup.

mod common;

use common::{PNID, TOKEN, config, start};
use whatsapp::{ApiError, management::MediaUrl};

#[tokio::test]
async fn an_uploaded_image_can_be_looked_up_and_downloaded() {
    let (sim, client) = start(config()).await;
    let bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3];
    let upload = client.upload_media(PNID, TOKEN, bytes.clone(), "image/jpeg", "a.jpg").await.expect("uploaded");

    let http = reqwest::Client::new();
    let url = format!("{}/v23.0/{}", sim.base_url(), upload.id);
    let meta: MediaUrl = http.get(&url).bearer_auth(TOKEN).send().await.expect("ok").json().await.expect("json");
    assert_eq!(meta.id.as_deref(), Some(upload.id.as_str()));
    assert_eq!(meta.mime_type.as_deref(), Some("image/jpeg"));
    assert_eq!(meta.file_size, Some(bytes.len() as u64));
    assert_eq!(meta.sha256.as_ref().map(String::len), Some(64));
    let unauthorized = http.get(&meta.url).send().await.expect("answers");
    assert_eq!(unauthorized.status(), 401);
    let downloaded = http.get(&meta.url).bearer_auth(TOKEN).send().await.expect("ok").bytes().await.expect("body");
    assert_eq!(downloaded.as_ref(), bytes.as_slice());

    let unknown = http.get(format!("{}/v23.0/42", sim.base_url())).bearer_auth(TOKEN).send().await.expect("answers");
    assert_eq!(unknown.status(), 400);
    let body: serde_json::Value = unknown.json().await.expect("json");
    assert_eq!((&body["error"]["code"], &body["error"]["error_subcode"]), (&100.into(), &33.into()));
}

#[tokio::test]
async fn wrong_types_and_oversized_files_are_131053() {
    let (_sim, client) = start(config()).await;
    let cases = [(vec![0u8; 10], "application/zip"), (vec![0u8; 5 * 1024 * 1024 + 1], "image/png")];
    for (bytes, mime) in cases {
        match client.upload_media(PNID, TOKEN, bytes, mime, "f").await {
            Err(ApiError::Graph { status, error }) => assert_eq!((status, error.code), (400, 131053), "{mime}"),
            other => panic!("expected 131053 for {mime}, got {other:?}"),
        }
    }
    let video = client.upload_media(PNID, TOKEN, vec![0u8; 6 * 1024 * 1024], "video/mp4", "v.mp4").await;
    assert!(video.is_ok(), "videos may be up to 16 MB: {video:?}");
}
