//! `/v1/contacts`: the audience.

mod bulk;
pub(crate) mod import;
mod inbox;
mod input;
pub(crate) mod read;
mod tags;

use axum::extract::DefaultBodyLimit;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let bulk = OpenApiRouter::new()
        .routes(routes!(bulk::bulk_upsert))
        .layer(DefaultBodyLimit::max(state.limits.bulk_body_bytes));
    // The CSV import streams its body and enforces its own limit.
    let import = OpenApiRouter::new().routes(routes!(import::import_csv)).layer(DefaultBodyLimit::disable());
    OpenApiRouter::new()
        .routes(routes!(read::list))
        .routes(routes!(read::get, read::delete))
        .routes(routes!(tags::add_tags))
        .routes(routes!(tags::remove_tag))
        .routes(routes!(tags::set_valued_tag, tags::remove_valued_tag))
        .routes(routes!(inbox::open, inbox::close))
        .merge(bulk)
        .merge(import)
}
