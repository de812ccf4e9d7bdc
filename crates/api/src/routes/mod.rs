//! The `/v1` routes, grouped by resource, each with its OpenAPI description.

mod api_keys;
mod contacts;
mod numbers;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn v1(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new().merge(contacts::router(state)).merge(numbers::router()).merge(api_keys::router())
}
