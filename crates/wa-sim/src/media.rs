//! Uploaded media, kept in memory: Meta's type and size rules on upload, and
//! the metadata `GET /{media_id}` returns.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::body::Bytes;
use sha2::{Digest, Sha256};

use crate::error::MetaError;

const MB: usize = 1024 * 1024;

/// The types a template header can use, with Meta's size limits.
const ALLOWED: &[(&str, usize)] =
    &[("image/jpeg", 5 * MB), ("image/png", 5 * MB), ("video/mp4", 16 * MB), ("video/3gpp", 16 * MB)];

/// The largest upload accepted at all, for the request body limit.
pub const MAX_UPLOAD: usize = 16 * MB + 64 * 1024;

#[derive(Debug, Clone)]
pub struct Media {
    pub id: String,
    pub mime_type: String,
    pub sha256: String,
    pub bytes: Bytes,
}

#[derive(Debug)]
pub struct MediaStore {
    items: Mutex<HashMap<String, Media>>,
    next: AtomicU64,
}

impl Default for MediaStore {
    fn default() -> Self {
        // Meta's media ids are long decimal numbers.
        Self { items: Mutex::new(HashMap::new()), next: AtomicU64::new(1_037_543_291_543_636) }
    }
}

impl MediaStore {
    pub fn upload(&self, mime_type: &str, bytes: Bytes) -> Result<String, MetaError> {
        let Some((_, max)) = ALLOWED.iter().find(|(m, _)| *m == mime_type) else {
            return Err(MetaError::media_upload(format!("Unsupported file type {mime_type}")));
        };
        if bytes.len() > *max {
            return Err(MetaError::media_upload(format!(
                "File of {} bytes is larger than the {} MB allowed for {mime_type}",
                bytes.len(),
                max / MB
            )));
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed).to_string();
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let media = Media { id: id.clone(), mime_type: mime_type.to_owned(), sha256, bytes };
        self.items.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), media);
        Ok(id)
    }

    pub fn get(&self, id: &str) -> Option<Media> {
        self.items.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }
}
