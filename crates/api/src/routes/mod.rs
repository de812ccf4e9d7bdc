//! The `/v1` routes, grouped by resource, each with its OpenAPI description.

pub(crate) mod api_keys;
pub(crate) mod bot_flows;
pub(crate) mod campaigns;
pub(crate) mod contacts;
pub(crate) mod dead_letters;
pub(crate) mod media;
pub(crate) mod numbers;
mod organization;
pub(crate) mod reports;
pub(crate) mod templates;
mod webhooks;

use serde::{Deserialize, Deserializer};
use utoipa_axum::router::OpenApiRouter;

use crate::{
    error::{ApiError, ApiResult},
    state::AppState,
};

pub fn v1(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(contacts::router(state))
        .merge(numbers::router())
        .merge(api_keys::router())
        .merge(templates::router())
        .merge(bot_flows::router())
        .merge(media::router())
        .merge(campaigns::router())
        .merge(organization::router())
        .merge(dead_letters::router())
        .merge(reports::router())
}

/// Meta's webhook callback, outside `/v1`: authenticated by signature, not API key.
pub fn webhooks(state: &AppState) -> OpenApiRouter<AppState> {
    webhooks::router(state)
}

/// The display name of a key, bot flow or campaign: trimmed, 1 to 200
/// characters, on one line.
pub(crate) fn check_name(value: &str) -> ApiResult<&str> {
    crate::text::check_line(value, "name")?;
    let name = value.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid("invalid_name", "name must be 1 to 200 characters", Some("name".into())));
    }
    Ok(name)
}

/// A field that can be absent (`None`), `null` (`Some(None)`) or set; use
/// with `#[serde(default, deserialize_with = "double_option")]`.
pub(crate) fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}
