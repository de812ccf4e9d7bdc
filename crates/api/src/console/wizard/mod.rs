//! The campaign wizard: one page per step (basics, audience, message, bot
//! flow and pace, review), each saved through the code the API's create and
//! PATCH run, so a half-built campaign is a Draft that lists its problems.
//! "Save and continue" goes to the next step; "Save draft" stays.

mod audience;
mod media;
mod preview;
mod review;
mod steps;

pub use audience::count as audience_count;
pub use media::upload as upload_media;
pub use review::{ready, review, schedule, test_send};
pub use steps::{create, new_form, save, step};

use store::campaigns::CampaignRecord;

use crate::console::i18n;

/// The wizard's steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Basics,
    Audience,
    Message,
    Bot,
    Review,
}

impl Step {
    pub const ALL: [Step; 5] = [Self::Basics, Self::Audience, Self::Message, Self::Bot, Self::Review];

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.slug() == value)
    }

    pub fn slug(self) -> &'static str {
        match self {
            Self::Basics => "basics",
            Self::Audience => "audience",
            Self::Message => "message",
            Self::Bot => "bot",
            Self::Review => "review",
        }
    }

    /// The step's title, in the language of the request.
    pub fn title(self) -> String {
        match self {
            Self::Basics => i18n::t("wizard-step-basics"),
            Self::Audience => i18n::t("wizard-step-audience"),
            Self::Message => i18n::t("wizard-step-message"),
            Self::Bot => i18n::t("wizard-step-bot"),
            Self::Review => i18n::t("wizard-step-review"),
        }
    }

    fn next(self) -> Self {
        let i = Self::ALL.iter().position(|s| *s == self).unwrap_or(0);
        Self::ALL[(i + 1).min(Self::ALL.len() - 1)]
    }

    /// The step where a readiness problem's field is set.
    fn of_field(field: &str) -> Self {
        match field {
            "number_id" | "name" => Self::Basics,
            "audience" | "test_phones" => Self::Audience,
            "bot_flow_id" | "pace_per_second" | "delivery_policy" => Self::Bot,
            _ => Self::Message,
        }
    }
}

/// One entry of the step list at the top of every step.
#[derive(Debug, Clone)]
pub struct StepLink {
    pub slug: &'static str,
    pub title: String,
    pub current: bool,
    /// Problems of the campaign set on this step.
    pub problems: usize,
}

/// A readiness problem, with the step that fixes it.
#[derive(Debug, Clone)]
pub struct ProblemLink {
    pub message: String,
    pub code: &'static str,
    pub step: &'static str,
}

/// The step list and the problems of `record`, seen from `current`.
fn progress(record: &CampaignRecord, current: Step) -> (Vec<StepLink>, Vec<ProblemLink>) {
    let problems: Vec<ProblemLink> = record
        .problems()
        .into_iter()
        .map(|p| ProblemLink { step: Step::of_field(p.field).slug(), code: p.code, message: p.message })
        .collect();
    let steps = Step::ALL
        .iter()
        .map(|s| StepLink {
            slug: s.slug(),
            title: s.title(),
            current: *s == current,
            problems: problems.iter().filter(|p| p.step == s.slug()).count(),
        })
        .collect();
    (steps, problems)
}
