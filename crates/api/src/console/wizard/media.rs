//! The message step's header upload: an image or video for a template whose
//! header needs one, uploaded to Meta for the campaign's number and set as
//! the campaign's header media (the API's `/v1/media` upload and PATCH).

use axum::{
    extract::{Multipart, Path, State},
    http::HeaderMap,
    response::Response,
};
use axum_extra::extract::cookie::CookieJar;
use domain::MediaType;
use store::campaigns;

use crate::{
    cloud::number_access,
    console::{
        i18n,
        session::{self, Rejection, Signed},
    },
    error::ApiError,
    routes::{
        campaigns::{crud, input::CampaignInput},
        media,
    },
    state::AppState,
};

/// Reads the form (`csrf` first, then `file`) and uploads the file.
pub async fn upload(
    State(state): State<AppState>,
    signed: Signed,
    jar: CookieJar,
    headers: HeaderMap,
    Path(id): Path<i64>,
    mut form: Multipart,
) -> Result<Response, Rejection> {
    let org = signed.org();
    let mut csrf_checked = false;
    let mut upload = None;
    while let Some(field) = form.next_field().await.map_err(session::unreadable_form)? {
        match field.name() {
            Some("csrf") => {
                signed.check_csrf(&field.text().await.map_err(session::unreadable_form)?)?;
                csrf_checked = true;
            }
            Some("file") if csrf_checked => {
                let declared = field.content_type().unwrap_or_default().to_owned();
                let name = field.file_name().map(str::to_owned);
                let content = field.bytes().await.map_err(session::unreadable_form)?;
                upload = Some((declared, name, content));
            }
            _ => {}
        }
    }
    if !csrf_checked {
        return Err(Rejection::Csrf);
    }
    let done = async {
        let (declared, name, content) = upload.ok_or_else(|| {
            ApiError::invalid("missing_file", "choose the image or video file to upload", Some("file".into()))
        })?;
        let media_type =
            MediaType::from_content_type(&declared).or_else(|| MediaType::sniff(&content)).ok_or_else(|| {
                ApiError::invalid(
                    "unsupported_media_type",
                    "the file is not a JPEG or PNG image or an MP4 or 3GPP video",
                    Some("file".into()),
                )
            })?;
        if content.len() as u64 > media_type.max_bytes() {
            return Err(ApiError::invalid(
                "payload_too_large",
                format!("{} files may be at most {} MB, Meta's limit", media_type.mime(), media_type.max_bytes() >> 20),
                Some("file".into()),
            ));
        }
        let filename = media::filename(name.as_deref().filter(|n| !n.trim().is_empty()), media_type)?;
        let record = campaigns::get(&state.pg, org, id).await?.ok_or(ApiError::NotFound { what: "campaign" })?;
        let number_id = record.number_id.ok_or_else(|| {
            ApiError::invalid(
                "number_required",
                "choose the campaign's number first: media are uploaded for one number",
                Some("number_id".into()),
            )
        })?;
        let access = number_access(&state, org, number_id).await?.ok_or(ApiError::NotFound { what: "number" })?;
        let asset =
            media::store_upload(&state, org, &access, number_id, media_type, &filename, content.to_vec()).await?;
        crud::update_campaign(
            &state,
            org,
            id,
            CampaignInput { header_media_id: Some(Some(asset.id)), ..CampaignInput::default() },
        )
        .await?;
        Ok::<_, ApiError>(filename)
    }
    .await;
    let text = match done {
        Ok(filename) => i18n::lang().t1("wizard-media-uploaded", "filename", filename),
        Err(e) => session::refusal(e)?,
    };
    let to = format!("/console/campaigns/{id}/edit/message");
    Ok(session::redirect_with_notice(jar, &headers, &text, &to))
}
