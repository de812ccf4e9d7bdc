//! Meta's messaging limit: how many distinct users a business portfolio may
//! start conversations with in a moving 24 hours, by tier.

/// The window the engine budgets in, in seconds: Meta's moving 24 hours
/// plus 5 minutes. A phone is recorded as reached when its recipient is
/// queued, a little before Meta counts it; keeping it 5 minutes longer
/// than Meta does means the budget frees a place no earlier than Meta.
pub const DEFAULT_WINDOW_SECS: u64 = 86_400 + 300;

/// A portfolio's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// At most this many distinct users in the window.
    Users(u32),
    Unlimited,
}

/// The limit assumed for a tier Meta did not report or this code does not
/// know: the lowest, so an unknown tier never sends more than Meta allows.
pub const CONSERVATIVE: Limit = Limit::Users(250);

/// The limit of Meta's `whatsapp_business_manager_messaging_limit` value
/// (`TIER_250`, `TIER_1K` (legacy), `TIER_2K`, `TIER_10K`, `TIER_100K`,
/// `TIER_UNLIMITED`); anything else is [`CONSERVATIVE`].
pub fn limit_of(tier: Option<&str>) -> Limit {
    match tier {
        Some("TIER_50") => Limit::Users(50),
        Some("TIER_250") => Limit::Users(250),
        Some("TIER_1K") => Limit::Users(1_000),
        Some("TIER_2K") => Limit::Users(2_000),
        Some("TIER_10K") => Limit::Users(10_000),
        Some("TIER_100K") => Limit::Users(100_000),
        Some("TIER_UNLIMITED") => Limit::Unlimited,
        _ => CONSERVATIVE,
    }
}

/// The tier of a `business_capability_update` webhook's
/// `max_daily_conversations_per_business` (−1 is unlimited); `None` for a
/// value that is not a tier.
pub fn tier_of_daily_limit(limit: i64) -> Option<&'static str> {
    Some(match limit {
        -1 => "TIER_UNLIMITED",
        50 => "TIER_50",
        250 => "TIER_250",
        1_000 => "TIER_1K",
        2_000 => "TIER_2K",
        10_000 => "TIER_10K",
        100_000 => "TIER_100K",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_map_to_limits_and_unknown_ones_to_the_lowest() {
        assert_eq!(limit_of(Some("TIER_10K")), Limit::Users(10_000));
        assert_eq!(limit_of(Some("TIER_UNLIMITED")), Limit::Unlimited);
        assert_eq!(limit_of(Some("TIER_1M")), CONSERVATIVE);
        assert_eq!(limit_of(None), CONSERVATIVE);
        for tier in ["TIER_250", "TIER_2K", "TIER_10K", "TIER_100K", "TIER_UNLIMITED"] {
            let n = match limit_of(Some(tier)) {
                Limit::Users(n) => i64::from(n),
                Limit::Unlimited => -1,
            };
            assert_eq!(tier_of_daily_limit(n), Some(tier));
        }
        assert_eq!(tier_of_daily_limit(3), None);
    }
}
