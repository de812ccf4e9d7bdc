//! The `/v1` routes, grouped by resource, each with its OpenAPI description.

mod api_keys;
mod bot_flows;
mod campaigns;
mod contacts;
mod media;
mod numbers;
mod templates;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn v1(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(contacts::router(state))
        .merge(numbers::router())
        .merge(api_keys::router())
        .merge(templates::router())
        .merge(bot_flows::router())
        .merge(media::router())
        .merge(campaigns::router())
}
