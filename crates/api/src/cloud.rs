//! What every WhatsApp Cloud API call of the API shares: a number's
//! credentials, Meta's failures as 502 answers that say what Meta said (and
//! never the token), and keeping header media ids from expiring.

use anyhow::Context;
use chrono::Utc;
use store::{OrgId, media, numbers};

use crate::{
    error::{ApiError, ApiResult},
    state::AppState,
};

/// What a Cloud call on behalf of one number needs. `Debug` hides the token.
pub(crate) struct NumberAccess {
    pub phone_number_id: String,
    pub waba_id: String,
    pub access_token: String,
}

impl std::fmt::Debug for NumberAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NumberAccess")
            .field("phone_number_id", &self.phone_number_id)
            .field("waba_id", &self.waba_id)
            .finish_non_exhaustive()
    }
}

/// The number's Meta ids and decrypted token; `None` if it is not the organization's.
pub(crate) async fn number_access(state: &AppState, org: OrgId, number_id: i64) -> ApiResult<Option<NumberAccess>> {
    let Some(number) = numbers::get(&state.pg, org, number_id).await? else { return Ok(None) };
    let credentials = match numbers::credentials(&state.pg, &state.cipher, org, number_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Ok(None),
        Err(numbers::CredentialsError::Db(e)) => return Err(e.into()),
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("decrypting the token of number {number_id}")).into());
        }
    };
    Ok(Some(NumberAccess {
        phone_number_id: number.phone_number_id,
        waba_id: number.waba_id,
        access_token: credentials.access_token,
    }))
}

/// A failed Cloud call as a 502. `doing` completes "while ...", e.g.
/// "listing the templates of WABA 123". The token is cut from anything Meta
/// echoed back, in case it ever does.
pub(crate) fn cloud_error(error: whatsapp::ApiError, doing: &str, access_token: &str) -> ApiError {
    let what = match &error {
        whatsapp::ApiError::Graph { status, error: graph } => {
            let mut what = format!("Meta answered HTTP {status} with error {}: {}", graph.code, graph.message);
            let details = graph.details();
            if details != graph.message {
                what.push_str(&format!(" ({details})"));
            }
            what
        }
        whatsapp::ApiError::Http { status, .. } => format!("Meta answered HTTP {status} without an error body"),
        whatsapp::ApiError::Transport(e) if e.is_timeout() => "the request to Meta timed out".to_owned(),
        whatsapp::ApiError::Transport(_) => "Meta could not be reached".to_owned(),
        whatsapp::ApiError::Decode { status, .. } => format!("Meta's answer (HTTP {status}) could not be read"),
    };
    let mut message = format!("the WhatsApp Cloud API failed while {doing}: {what}");
    if !access_token.is_empty() {
        message = message.replace(access_token, "[redacted]");
    }
    ApiError::Cloud { cause: anyhow::Error::new(error).context(message.clone()), message }
}

/// Uploads bytes for a number; returns Meta's media id (valid 30 days).
pub(crate) async fn upload(
    state: &AppState,
    access: &NumberAccess,
    content: Vec<u8>,
    mime_type: &str,
    filename: &str,
) -> ApiResult<String> {
    state
        .cloud
        .upload_media(&access.phone_number_id, &access.access_token, content, mime_type, filename)
        .await
        .map(|upload| upload.id)
        .map_err(|e| {
            cloud_error(e, &format!("uploading media for number {}", access.phone_number_id), &access.access_token)
        })
}

/// Uploads a stored media again and records its new Meta id and expiry.
pub(crate) async fn reupload(state: &AppState, org: OrgId, media_id: i64) -> ApiResult<media::MediaAsset> {
    let not_found = || ApiError::NotFound { what: "media" };
    let stored = media::content(&state.pg, org, media_id).await?.ok_or_else(not_found)?;
    let access = number_access(state, org, stored.number_id)
        .await?
        .context("a media's number is gone although media are deleted with their number")?;
    let filename = stored.filename.unwrap_or_else(|| format!("media-{media_id}"));
    let meta_id = upload(state, &access, stored.content, &stored.mime_type, &filename).await?;
    media::record_upload(&state.pg, org, media_id, &meta_id).await?.ok_or_else(not_found)
}

/// Makes sure the media's Meta id stays valid for at least `horizon` (a
/// campaign about to send uses it): uploads the stored bytes again when the
/// id expires before `now + horizon` or there is none. 404 for an unknown
/// media, 502 when Meta refuses the upload (the old id is then kept).
pub async fn ensure_media_fresh(
    state: &AppState,
    org: OrgId,
    media_id: i64,
    horizon: chrono::Duration,
) -> ApiResult<()> {
    let asset = media::get(&state.pg, org, media_id).await?.ok_or(ApiError::NotFound { what: "media" })?;
    let fresh = asset.meta_media_id.is_some() && asset.meta_expires_at.is_some_and(|at| at >= Utc::now() + horizon);
    if !fresh {
        reupload(state, org, media_id).await?;
    }
    Ok(())
}

/// Reads a number from Meta with the token the client gave, and checks that
/// it is what the client says: the token can read the phone number's own
/// node, and the number is on `waba_id`'s list of phone numbers. What Meta
/// answers (display number, name, quality, tier, throughput) is what is
/// stored. 422 `number_not_verified` (with Meta's message) when Meta refuses
/// or the number is not on that WABA; 502 when Meta cannot be asked.
pub(crate) async fn verify_number(
    state: &AppState,
    phone_number_id: &str,
    waba_id: &str,
    access_token: &str,
) -> ApiResult<numbers::MetaNumber> {
    let refused = |message: String| ApiError::invalid("number_not_verified", message, Some("phone_number_id".into()));
    let graph_refusal = |error: &whatsapp::ApiError| match error {
        whatsapp::ApiError::Graph { error, .. } => Some(format!("Meta error {}: {}", error.code, error.message)),
        _ => None,
    };
    let redact = |text: String| if access_token.is_empty() { text } else { text.replace(access_token, "[redacted]") };
    let info = match state.cloud.phone_number(phone_number_id, access_token).await {
        Ok(info) => info,
        Err(e) => {
            return Err(match graph_refusal(&e) {
                Some(meta) => refused(redact(format!(
                    "Meta does not show phone number {phone_number_id} to this access token ({meta}); use a token of \
                     the business that owns the number"
                ))),
                None => cloud_error(e, &format!("reading phone number {phone_number_id}"), access_token),
            });
        }
    };
    if info.id.as_deref() != Some(phone_number_id) {
        return Err(refused(format!("Meta answered for another phone number than {phone_number_id}")));
    }
    let listed = match state.cloud.waba_phone_numbers(waba_id, access_token).await {
        Ok(listed) => listed,
        Err(e) => {
            return Err(match graph_refusal(&e) {
                Some(meta) => ApiError::invalid(
                    "number_not_verified",
                    redact(format!("Meta does not show WABA {waba_id} to this access token ({meta})")),
                    Some("waba_id".into()),
                ),
                None => cloud_error(e, &format!("listing the phone numbers of WABA {waba_id}"), access_token),
            });
        }
    };
    if !listed.iter().any(|n| n.id.as_deref() == Some(phone_number_id)) {
        return Err(ApiError::invalid(
            "number_not_verified",
            format!("phone number {phone_number_id} is not on WABA {waba_id}, according to Meta"),
            Some("waba_id".into()),
        ));
    }
    // The messaging limit is the portfolio's; a WABA whose owner Meta does
    // not show is budgeted on its own.
    let portfolio_id = match state.cloud.waba_owner(waba_id, access_token).await {
        Ok(owner) => owner.owner_business_info.map(|b| b.id).filter(|id| !id.trim().is_empty()),
        Err(e) => {
            tracing::warn!(waba_id, error = %redact(e.to_string()), "Meta did not say which portfolio owns the WABA");
            None
        }
    }
    .unwrap_or_else(|| format!("waba:{waba_id}"));
    let digits = info.display_digits().unwrap_or_default();
    if digits.is_empty() {
        return Err(refused(format!("Meta gave no display number for phone number {phone_number_id}")));
    }
    Ok(numbers::MetaNumber {
        // Meta's own test numbers (+1 555 …) are not valid for their country,
        // so the display number is Meta's digits, not a validated contact phone.
        display_number: format!("+{digits}"),
        verified_name: info.verified_name.clone(),
        quality_rating: info.quality_rating.clone(),
        messaging_tier: info.whatsapp_business_manager_messaging_limit.clone(),
        throughput_per_sec: info.throughput_per_second().unwrap_or(whatsapp::management::STANDARD_THROUGHPUT),
        portfolio_id,
    })
}
