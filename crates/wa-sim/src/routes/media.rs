//! `POST /{version}/{phone_number_id}/media`, `GET /{version}/{media_id}` and
//! the download URL it hands out.

use axum::{
    Json,
    body::Bytes,
    extract::{Multipart, Path, State as AxumState},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::{Shared, bearer};
use crate::{error::MetaError, state::State};

pub(super) async fn upload(
    AxumState(state): AxumState<Shared>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    if let Err(e) = state.authorize(&phone_number_id, bearer(&headers)) {
        return e.into_response();
    }
    let (product, kind, file) = match read_form(multipart).await {
        Ok(form) => form,
        Err(e) => return e.into_response(),
    };
    if product.as_deref() != Some("whatsapp") {
        return MetaError::invalid_parameter("The parameter messaging_product is required and must be whatsapp")
            .into_response();
    }
    let Some((file_type, bytes)) = file else {
        return MetaError::invalid_parameter("The parameter file is required.").into_response();
    };
    let Some(mime) = kind.or(file_type) else {
        return MetaError::invalid_parameter("The parameter type is required.").into_response();
    };
    match state.media.upload(&mime, bytes) {
        Ok(id) => Json(json!({ "id": id })).into_response(),
        Err(e) => e.into_response(),
    }
}

type Form = (Option<String>, Option<String>, Option<(Option<String>, Bytes)>);

async fn read_form(mut multipart: Multipart) -> Result<Form, MetaError> {
    let bad = |e: axum::extract::multipart::MultipartError| MetaError::invalid_parameter(e.body_text());
    let (mut product, mut kind, mut file) = (None, None, None);
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        match field.name() {
            Some("messaging_product") => product = Some(field.text().await.map_err(bad)?),
            Some("type") => kind = Some(field.text().await.map_err(bad)?),
            Some("file") => {
                let content_type = field.content_type().map(str::to_owned);
                file = Some((content_type, field.bytes().await.map_err(bad)?));
            }
            _ => {}
        }
    }
    Ok((product, kind, file))
}

/// Any configured token reads any media, as the simulator has no owners.
pub(super) fn metadata(state: &State, version: &str, media_id: &str, headers: &HeaderMap) -> Response {
    if !state.knows_token(bearer(headers)) {
        return MetaError::invalid_token().into_response();
    }
    let Some(media) = state.media.get(media_id) else {
        return MetaError::unsupported_get(media_id).into_response();
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    Json(json!({
        "messaging_product": "whatsapp",
        "url": format!("http://{host}/{version}/_sim_download/{}", media.id),
        "mime_type": media.mime_type,
        "sha256": media.sha256,
        "file_size": media.bytes.len().to_string(),
        "id": media.id,
    }))
    .into_response()
}

/// Like Meta's media URLs, downloading needs the bearer token.
pub(super) async fn download(
    AxumState(state): AxumState<Shared>,
    Path((_version, media_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !state.knows_token(bearer(&headers)) {
        return MetaError::invalid_token().into_response();
    }
    match state.media.get(&media_id) {
        Some(media) => ([(header::CONTENT_TYPE, media.mime_type)], media.bytes).into_response(),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}
