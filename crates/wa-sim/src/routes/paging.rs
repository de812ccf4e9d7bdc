//! Graph cursor paging for the listing edges: opaque `before`/`after`
//! cursors, and `paging.next` only while there is more to read.

use std::ops::Range;

use axum::http::{HeaderMap, header::HOST};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::error::MetaError;

/// Meta's default page size.
const DEFAULT_LIMIT: usize = 25;
const MAX_LIMIT: usize = 1000;

/// Cursors are opaque to clients; here they encode a position in the list.
fn cursor(position: usize) -> String {
    URL_SAFE_NO_PAD.encode(position.to_string())
}

fn position(cursor: &str) -> Option<usize> {
    String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?.parse().ok()
}

/// The part of a listing of `total` items that one request asks for.
pub(super) struct Window {
    range: Range<usize>,
    limit: usize,
    total: usize,
}

impl Window {
    pub fn new(total: usize, limit: Option<usize>, after: Option<&str>) -> Result<Self, MetaError> {
        let start = match after.map(position) {
            None => 0,
            Some(Some(p)) => p + 1,
            Some(None) => return Err(MetaError::invalid_parameter("Invalid cursor in parameter after")),
        };
        let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        // The list may have shrunk since the cursor was handed out.
        let start = start.min(total);
        Ok(Self { range: start..(start + limit).min(total), limit, total })
    }

    pub fn range(&self) -> Range<usize> {
        self.range.clone()
    }

    /// `{"data": .., "paging": ..}`; `edge_url` is the listing's URL without
    /// a query, `extra` more query text for `next` (like `&fields=id`).
    pub fn body(&self, data: Vec<Value>, edge_url: &str, extra: &str) -> Value {
        let mut body = json!({ "data": data });
        let Range { start, end } = self.range;
        if start < end {
            let after = cursor(end - 1);
            body["paging"] = json!({"cursors": {"before": cursor(start), "after": after}});
            if end < self.total {
                body["paging"]["next"] = json!(format!("{edge_url}?limit={}&after={after}{extra}", self.limit));
            }
        }
        body
    }
}

/// The URL of an edge as the client reached it, for `paging.next`.
pub(super) fn edge_url(headers: &HeaderMap, version: &str, node: &str, edge: &str) -> String {
    let host = headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}/{version}/{node}/{edge}")
}
