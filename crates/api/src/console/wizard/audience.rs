//! The audience step's numbers: how many contacts an audience matches, live
//! while the operator types (`/console/audience-count`, read by
//! `audience-count.js`) and for the saved audience.

use axum::{
    Json,
    extract::{Query, State},
};
use serde::{Deserialize, Serialize};
use store::{OrgId, audience::Audience, campaigns::CampaignRecord};

use crate::{
    console::{
        i18n,
        session::{Rejection, Signed},
    },
    error::ApiError,
    routes::campaigns::input::AudienceInput,
    state::AppState,
};

#[derive(Debug, Default, Deserialize)]
pub struct CountQuery {
    #[serde(default)]
    tags: String,
    #[serde(default)]
    valued_tags: String,
    #[serde(rename = "match")]
    match_mode: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CountAnswer {
    count: i64,
    /// Why the audience matches nothing (invalid or empty); without it the
    /// page says the count in its own words ("3 contacts match this audience").
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

/// The count for an audience being typed; an invalid one says why (422).
pub async fn count(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<CountQuery>,
) -> Result<(axum::http::StatusCode, Json<CountAnswer>), Rejection> {
    let checked = super::steps::split_pairs(&q.valued_tags).and_then(|valued_tags| {
        AudienceInput { tags: super::steps::split_list(&q.tags), valued_tags, match_mode: q.match_mode }.check()
    });
    let (tags, valued, mode) = match checked {
        Ok(a) => a,
        Err(e @ ApiError::Internal(_)) => return Err(e.into()),
        Err(e) => {
            let (_, code, message) = e.describe();
            let answer = CountAnswer { count: 0, text: Some(format!("{message} ({code})")) };
            return Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, Json(answer)));
        }
    };
    let audience = Audience::from_parts(tags, &valued, &mode);
    if audience.is_empty() {
        let text = Some(i18n::t("wizard-audience-empty"));
        return Ok((axum::http::StatusCode::OK, Json(CountAnswer { count: 0, text })));
    }
    let count = store::audience::count(&state.pg, signed.org(), &audience).await?;
    Ok((axum::http::StatusCode::OK, Json(CountAnswer { count, text: None })))
}

/// The audience a campaign has saved.
pub fn audience(r: &CampaignRecord) -> Audience {
    Audience::from_parts(r.audience_tags.clone(), &r.audience_valued_tags, &r.audience_match)
}

/// How many contacts the saved audience (or the test phones) reaches.
pub async fn of_record(state: &AppState, org: OrgId, r: &CampaignRecord) -> Result<i64, Rejection> {
    if r.kind() == domain::campaign::Kind::Test {
        return Ok(r.test_phones.len() as i64);
    }
    if let Some(fixed) = r.audience_contacts {
        return Ok(fixed.into());
    }
    let audience = audience(r);
    if audience.is_empty() {
        return Ok(0);
    }
    Ok(store::audience::count(&state.pg, org, &audience).await?)
}

pub async fn valued_tag_keys(state: &AppState, org: OrgId) -> Result<Vec<String>, Rejection> {
    Ok(store::audience::valued_tag_keys(&state.pg, org).await?)
}
