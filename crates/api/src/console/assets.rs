//! The console's own CSS and JavaScript, embedded in the binary and served
//! under names that carry a hash of their content (cached for a year).

use axum::{
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

struct Asset {
    /// The name pages link to: `stem.<hash>.ext`.
    name: String,
    content_type: &'static str,
    body: &'static str,
}

fn asset(stem: &str, ext: &str, content_type: &'static str, body: &'static str) -> Asset {
    let hash = hex::encode(&Sha256::digest(body.as_bytes())[..6]);
    Asset { name: format!("{stem}.{hash}.{ext}"), content_type, body }
}

static ASSETS: LazyLock<[Asset; 4]> = LazyLock::new(|| {
    [
        asset("console", "css", "text/css; charset=utf-8", include_str!("../../static/console.css")),
        asset("live-stats", "js", "text/javascript; charset=utf-8", include_str!("../../static/live-stats.js")),
        asset("confirm", "js", "text/javascript; charset=utf-8", include_str!("../../static/confirm.js")),
        asset("audience-count", "js", "text/javascript; charset=utf-8", include_str!("../../static/audience-count.js")),
    ]
});

/// The URL of an embedded asset by its stem (`console`, `live-stats`, `confirm`, `audience-count`).
pub fn url(stem: &str) -> String {
    ASSETS
        .iter()
        .find(|a| a.name.split('.').next() == Some(stem))
        .map_or_else(String::new, |a| format!("/console/assets/{}", a.name))
}

pub async fn serve(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(a.content_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
            ],
            a.body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
