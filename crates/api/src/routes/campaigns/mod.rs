//! `/v1/campaigns`: the operator's journey from Draft to Finished,
//! and the funnel steps bots record while it runs.

pub(crate) mod crud;
pub(crate) mod forecast;
mod funnel;
pub(crate) mod input;
pub(crate) mod lifecycle;
pub(crate) mod limits;
mod recipients;
pub(crate) mod retry;
pub(crate) mod stats;
pub(crate) mod test_send;
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
        .routes(routes!(crud::clone))
        .routes(routes!(retry::retry_failed))
        .routes(routes!(forecast::forecast))
        .routes(routes!(lifecycle::launch))
        .routes(routes!(lifecycle::schedule, lifecycle::unschedule))
        .routes(routes!(lifecycle::finish))
        .routes(routes!(lifecycle::pause))
        .routes(routes!(lifecycle::resume))
        .routes(routes!(test_send::test_send))
        .routes(routes!(funnel::record))
        .routes(routes!(funnel::summary))
        .routes(routes!(recipients::list))
        .routes(routes!(stats::stats))
        .routes(routes!(stats::stream))
}

fn not_found() -> ApiError {
    ApiError::NotFound { what: "campaign" }
}

/// The campaign as the API shows it, or 404.
async fn load(state: &AppState, org: OrgId, id: i64) -> ApiResult<view::CampaignView> {
    campaigns::get(&state.pg, org, id).await?.map(view::CampaignView::from).ok_or_else(not_found)
}

/// 409 `campaign_not_ready` unless the campaign is complete; the message
/// and `problems` say what is missing.
fn ready(record: &campaigns::CampaignRecord) -> ApiResult<()> {
    let problems = record.problems();
    if problems.is_empty() {
        return Ok(());
    }
    Err(ApiError::NotReady {
        message: format!(
            "the campaign is a draft: {}",
            problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; ")
        ),
        problems: problems.iter().map(crate::error::ProblemBody::from).collect(),
    })
}

/// Only Draft and Ready campaigns can change.
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
