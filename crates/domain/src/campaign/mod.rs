//! Campaigns: their lifecycle and derived state, the bindings of
//! template placeholders, the rule for parameter values Meta accepts, and
//! what makes a campaign ready to launch.

mod binding;
mod exclusion;
mod pace;
mod readiness;
mod render;
mod rules;

pub use binding::{Binding, BindingError, Component, ParamValueProblem, Source, check_param_value};
pub use exclusion::Exclusion;
pub use pace::{MAX_CONTACTS_PER_HOUR, MAX_PACE_PER_SECOND, PaceError, check_contacts_per_hour, check_pace_per_second};
pub use readiness::{Audience, HeaderFormat, MediaRef, Problem, Snapshot, TemplateRef, problems};
pub use render::{FrozenValues, Param, render};
pub use rules::{DeliveryRules, QuietHours, RulesError, SupportCapacity, TimeOfDay, parse_time_zone, zone_or_utc};

/// Real campaigns reach production audiences; test campaigns pilot the same
/// message to a few chosen contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Real,
    Test,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Real => "real",
            Self::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "real" => Some(Self::Real),
            "test" => Some(Self::Test),
            _ => None,
        }
    }
}

/// The stored step of a campaign's life. Draft and Ready are both
/// `Editable`: which one is derived from [`problems`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Editable,
    Scheduled,
    Active,
    Finished,
}

impl Lifecycle {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Editable => "editable",
            Self::Scheduled => "scheduled",
            Self::Active => "active",
            Self::Finished => "finished",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "editable" => Some(Self::Editable),
            "scheduled" => Some(Self::Scheduled),
            "active" => Some(Self::Active),
            "finished" => Some(Self::Finished),
            _ => None,
        }
    }
}

/// The state an operator sees: Draft while something required is
/// missing or invalid, Ready when complete, then Scheduled, Active, Finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Draft,
    Ready,
    Scheduled,
    Active,
    Finished,
}

impl State {
    /// The state of a campaign in `lifecycle` with `problems` found.
    pub fn derive(lifecycle: Lifecycle, problems: &[Problem]) -> Self {
        match lifecycle {
            Lifecycle::Editable if problems.is_empty() => Self::Ready,
            Lifecycle::Editable => Self::Draft,
            Lifecycle::Scheduled => Self::Scheduled,
            Lifecycle::Active => Self::Active,
            Lifecycle::Finished => Self::Finished,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(Self::Draft),
            "ready" => Some(Self::Ready),
            "scheduled" => Some(Self::Scheduled),
            "active" => Some(Self::Active),
            "finished" => Some(Self::Finished),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Ready => "ready",
            Self::Scheduled => "scheduled",
            Self::Active => "active",
            Self::Finished => "finished",
        }
    }
}

/// What to do with a send whose outcome is unknown (a timeout after the
/// request left, a crash between claim and record) once the reconcile window
/// passes without a status webhook.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryPolicy {
    /// Record "outcome unknown, not retried": never a duplicate (marketing default).
    #[default]
    AtMostOnce,
    /// Retry: never a silent loss, at the risk of a duplicate.
    AtLeastOnce,
}

impl DeliveryPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AtMostOnce => "at_most_once",
            Self::AtLeastOnce => "at_least_once",
        }
    }
}
