//! `/v1/media`: images and videos for template headers. A file is checked
//! against Meta's rules (type, size, content matching the type), uploaded to
//! the Cloud API for one number, and only then stored, with the Meta media
//! id and its 30-day expiry. The bytes are kept so the id can be renewed.

use axum::{
    Json,
    body::Body,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, StatusCode, header},
};
use domain::MediaType;
use futures::StreamExt;
use serde::Deserialize;
use store::{
    in_use::Removal,
    media::{self, MediaAsset, NewMedia},
};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::bot_flows::in_use;
use crate::{
    auth::Auth,
    cloud::{self, number_access},
    error::{ApiError, ApiResult, ErrorBody},
    extract::{ApiPath, ApiQuery},
    state::AppState,
};

const MAX_FILENAME_CHARS: usize = 255;

pub fn router() -> OpenApiRouter<AppState> {
    // The upload reads its body itself, within the limit of its media type
    // (5 MB images, 16 MB videos), instead of the 1 MiB JSON default.
    let upload = OpenApiRouter::new().routes(routes!(upload)).layer(DefaultBodyLimit::disable());
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(get, delete)).routes(routes!(refresh)).merge(upload)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The number the media is uploaded for (Meta media ids belong to one number).
    number_id: Option<i64>,
    /// Shown to recipients of document headers and in listings; up to 255 characters.
    filename: Option<String>,
}

fn accepted_types() -> String {
    MediaType::ALL.iter().map(|t| t.mime()).collect::<Vec<_>>().join(", ")
}

fn media_type(headers: &HeaderMap) -> ApiResult<MediaType> {
    let declared = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    MediaType::from_content_type(declared).ok_or_else(|| ApiError::Invalid {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        code: "unsupported_media_type",
        message: format!(
            "Content-Type {declared:?} is not accepted for header media; send one of {}",
            accepted_types()
        ),
        field: None,
    })
}

fn too_large(media_type: MediaType) -> ApiError {
    let max = media_type.max_bytes();
    ApiError::Invalid {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: "payload_too_large",
        message: format!("{} files may be at most {} MB ({max} bytes), Meta's limit", media_type.mime(), max >> 20),
        field: None,
    }
}

/// Reads the body, refusing it as soon as it passes the type's limit.
async fn read_body(headers: &HeaderMap, body: Body, media_type: MediaType) -> ApiResult<Vec<u8>> {
    let max = media_type.max_bytes();
    let announced = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|n| n > max) {
        return Err(too_large(media_type));
    }
    let mut content = Vec::with_capacity(announced.unwrap_or(0) as usize);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request("unreadable_body", format!("the upload broke off: {e}")))?;
        if (content.len() + chunk.len()) as u64 > max {
            return Err(too_large(media_type));
        }
        content.extend_from_slice(&chunk);
    }
    Ok(content)
}

pub(crate) fn filename(value: Option<&str>, media_type: MediaType) -> ApiResult<String> {
    let Some(name) = value.map(str::trim) else { return Ok(format!("upload.{}", media_type.extension())) };
    let bad = name.is_empty()
        || name.chars().count() > MAX_FILENAME_CHARS
        || name.chars().any(|c| c.is_control() || c == '/' || c == '\\');
    if bad {
        return Err(ApiError::invalid(
            "invalid_filename",
            format!("filename must be 1 to {MAX_FILENAME_CHARS} characters, without slashes or control characters"),
            Some("filename".into()),
        ));
    }
    Ok(name.to_owned())
}

/// Uploads an image or video for template headers: the raw file is the body.
/// Accepted: image/jpeg and image/png up to 5 MB, video/mp4 and video/3gpp up
/// to 16 MB. The file goes to Meta first; nothing is stored if Meta refuses it.
#[utoipa::path(
    post, path = "/v1/media", tag = "media", security(("api_key" = [])), params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "The raw file; also image/png, video/mp4, video/3gpp"),
    responses(
        (status = 201, body = MediaAsset),
        (status = 413, description = "Over the limit of its type", body = ErrorBody),
        (status = 415, description = "Not an accepted type", body = ErrorBody),
        (status = 422, description = "Empty file, `media_type_mismatch`, unknown `number_id`, bad `filename`", body = ErrorBody),
        (status = 502, description = "`cloud_api_error`: Meta refused the upload; nothing stored", body = ErrorBody),
    )
)]
pub async fn upload(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<MediaAsset>)> {
    let org = auth.org();
    let media_type = media_type(&headers)?;
    let filename = filename(q.filename.as_deref(), media_type)?;
    let unknown_number = || {
        ApiError::invalid(
            "unknown_number",
            "number_id must be one of the organization's numbers",
            Some("number_id".into()),
        )
    };
    let number_id = q.number_id.ok_or_else(|| {
        ApiError::invalid(
            "missing_number_id",
            "number_id is required: the number the media is for",
            Some("number_id".into()),
        )
    })?;
    // Checked before reading up to 16 MB for nothing.
    let access = number_access(&state, org, number_id).await?.ok_or_else(unknown_number)?;
    let content = read_body(&headers, body, media_type).await?;
    let asset = store_upload(&state, org, &access, number_id, media_type, &filename, content).await?;
    Ok((StatusCode::CREATED, Json(asset)))
}

/// Checks an uploaded file (not empty, its content of its declared type),
/// uploads it to Meta for the number, and stores it: the API's upload and
/// the console's.
pub(crate) async fn store_upload(
    state: &AppState,
    org: store::OrgId,
    access: &cloud::NumberAccess,
    number_id: i64,
    media_type: MediaType,
    filename: &str,
    content: Vec<u8>,
) -> ApiResult<MediaAsset> {
    if content.is_empty() {
        return Err(ApiError::invalid("empty_file", "the body is empty: send the file's bytes", None));
    }
    if !media_type.matches(&content) {
        let actual = MediaType::sniff(&content).map_or("something else".to_owned(), |t| t.mime().to_owned());
        return Err(ApiError::invalid(
            "media_type_mismatch",
            format!(
                "the file is declared as {} but its content looks like {actual}; Meta refuses such files (error 131053)",
                media_type.mime()
            ),
            None,
        ));
    }
    let meta_media_id = cloud::upload(state, access, content.clone(), media_type.mime(), filename).await?;
    let new = NewMedia {
        number_id,
        kind: media_type.kind().as_str(),
        mime_type: media_type.mime(),
        filename: Some(filename),
        content: &content,
        meta_media_id: &meta_media_id,
    };
    media::create(&state.pg, org, &new).await?.ok_or_else(|| {
        ApiError::invalid(
            "unknown_number",
            "number_id must be one of the organization's numbers",
            Some("number_id".into()),
        )
    })
}

/// Lists the organization's media (without their bytes).
#[utoipa::path(get, path = "/v1/media", tag = "media", security(("api_key" = [])),
    responses((status = 200, body = Vec<MediaAsset>)))]
pub async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<MediaAsset>>> {
    Ok(Json(media::list(&state.pg, auth.org()).await?))
}

#[utoipa::path(get, path = "/v1/media/{id}", tag = "media", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Media id (ours, not Meta's)")),
    responses((status = 200, body = MediaAsset), (status = 404, body = ErrorBody)))]
pub async fn get(State(state): State<AppState>, auth: Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<MediaAsset>> {
    media::get(&state.pg, auth.org(), id).await?.map(Json).ok_or(ApiError::NotFound { what: "media" })
}

/// Uploads the stored file to Meta again now: a new Meta media id, valid 30
/// days. Campaigns do this by themselves when they launch with an id about to
/// expire.
#[utoipa::path(post, path = "/v1/media/{id}/refresh", tag = "media", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Media id")),
    responses((status = 200, body = MediaAsset), (status = 404, body = ErrorBody),
              (status = 502, description = "`cloud_api_error`: Meta refused; the old id is kept", body = ErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<MediaAsset>> {
    Ok(Json(cloud::reupload(&state, auth.org(), id).await?))
}

/// Deletes a media. Refused while a scheduled or active campaign uses it as
/// its header; other campaigns using it lose it.
#[utoipa::path(delete, path = "/v1/media/{id}", tag = "media", security(("api_key" = [])),
    params(("id" = i64, Path, description = "Media id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody),
              (status = 409, description = "`media_in_use` by a scheduled or active campaign", body = ErrorBody)))]
pub async fn delete(State(state): State<AppState>, auth: Auth, ApiPath(id): ApiPath<i64>) -> ApiResult<StatusCode> {
    match media::delete(&state.pg, auth.org(), id).await {
        Ok(Removal::Deleted) => Ok(StatusCode::NO_CONTENT),
        Ok(Removal::NotFound) => Err(ApiError::NotFound { what: "media" }),
        Ok(Removal::InUse(campaigns)) => Err(in_use("media_in_use", "this media", &campaigns)),
        Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
            Err(in_use("media_in_use", "this media", &[]))
        }
        Err(e) => Err(e.into()),
    }
}
