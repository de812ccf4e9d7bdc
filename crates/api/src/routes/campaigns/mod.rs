//! `/v1/campaigns`: the operator's journey from Draft to Finished (P2–P14).

mod crud;
mod forecast;
mod input;
mod lifecycle;
mod view;

use domain::campaign::Lifecycle;
use store::{OrgId, campaigns};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(crud::create, crud::list))
        .routes(routes!(crud::get, crud::update, crud::delete))
        .routes(routes!(forecast::forecast))
        .routes(routes!(lifecycle::launch))
        .routes(routes!(lifecycle::schedule, lifecycle::unschedule))
        .routes(routes!(lifecycle::finish))
        .routes(routes!(lifecycle::resume))
}

fn not_found() -> ApiError {
    ApiError::NotFound { what: "campaign" }
}

/// The campaign as the API shows it, or 404.
async fn load(state: &AppState, org: OrgId, id: i64) -> ApiResult<view::CampaignView> {
    campaigns::get(&state.pg, org, id).await?.map(view::CampaignView::from).ok_or_else(not_found)
}

/// Only Draft and Ready campaigns can change (P13).
fn editable(lifecycle: &str) -> ApiResult<()> {
    match Lifecycle::parse(lifecycle) {
        Some(Lifecycle::Editable) => Ok(()),
        Some(Lifecycle::Scheduled) => Err(ApiError::Conflict {
            code: "campaign_scheduled",
            message: "the campaign is scheduled; cancel the schedule (DELETE /v1/campaigns/{id}/schedule) to edit it"
                .into(),
        }),
        _ => Err(ApiError::Conflict {
            code: "campaign_immutable",
            message: format!(
                "the campaign is {lifecycle}; active and finished campaigns cannot be changed (create a new campaign \
                 to reach the same audience again)"
            ),
        }),
    }
}
