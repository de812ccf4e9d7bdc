//! What is limited and how fast: validated rates and the two keys a send
//! takes a token from.

use std::time::Duration;

/// The fastest rate accepted: ten times Meta's highest throughput tier.
pub const MAX_PER_SECOND: f64 = 10_000.0;
/// The slowest rate accepted (one per day): slower paces would keep limiter
/// keys alive for weeks, and a campaign's slowest pace is 1 contact per hour.
pub const MIN_PER_SECOND: f64 = 1.0 / 86_400.0;
/// The largest burst accepted: one second at [`MAX_PER_SECOND`].
pub const MAX_BURST: u32 = 10_000;

/// A rate and a burst, checked once so the Redis script never sees a
/// nonsense interval (zero, negative, NaN) that would let everything through
/// or nothing.
///
/// `burst` is how many may go at once after a quiet spell (the bucket's
/// capacity; GCRA's tolerance is `burst - 1` emission intervals). Over any
/// window of `w` seconds at most `per_second × w + burst` are allowed, so
/// "no 1-second window above the rate plus the burst" holds by construction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    per_second: f64,
    burst: u32,
}

/// Why a [`Rate`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum InvalidRate {
    /// The rate is NaN, infinite, or outside [`MIN_PER_SECOND`]..=[`MAX_PER_SECOND`].
    #[error("rate {0} per second is out of range (one per day to {MAX_PER_SECOND} per second)")]
    PerSecond(f64),
    /// The burst is 0 (nothing could ever pass) or above [`MAX_BURST`].
    #[error("burst {0} is out of range (1 to {MAX_BURST})")]
    Burst(u32),
}

impl Rate {
    /// A rate with an explicit burst.
    pub fn new(per_second: f64, burst: u32) -> Result<Self, InvalidRate> {
        if !per_second.is_finite() || !(MIN_PER_SECOND..=MAX_PER_SECOND).contains(&per_second) {
            return Err(InvalidRate::PerSecond(per_second));
        }
        if !(1..=MAX_BURST).contains(&burst) {
            return Err(InvalidRate::Burst(burst));
        }
        Ok(Self { per_second, burst })
    }

    /// A Cloud number's throughput tier with a burst of 20 % of a second's
    /// worth (at least 1): enough to absorb workers waking late, small enough
    /// that Meta, which counts over short windows, does not answer 130429.
    pub fn number_tier(per_second: f64) -> Result<Self, InvalidRate> {
        Self::new(per_second, burst_for(per_second, 5.0, 1))
    }

    /// A campaign's pace with a burst of a tenth of a second's worth, at
    /// least 2. A burst of 1 would space sends exactly but lose every
    /// microsecond a waiting worker wakes late (the 0–10 % jitter alone costs
    /// about 5 % of the pace); 2 lets one late interval be made up. A larger
    /// burst would make the first second of a launch visibly faster than its
    /// pace.
    pub fn campaign_pace(per_second: f64) -> Result<Self, InvalidRate> {
        Self::new(per_second, burst_for(per_second, 10.0, 2))
    }

    /// Sends per second.
    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    /// How many may go at once after a quiet spell.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The spacing of sends at this rate (GCRA's emission interval `T`).
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.per_second)
    }

    /// `T` in microseconds, as the script takes it.
    pub(crate) fn interval_us(&self) -> f64 {
        1_000_000.0 / self.per_second
    }

    /// How far a key's theoretical arrival time may run ahead of now after a
    /// send: `burst × T`, in microseconds.
    pub(crate) fn capacity_us(&self) -> f64 {
        f64::from(self.burst) * self.interval_us()
    }
}

/// `per_second / divisor` rounded up (dividing keeps `80 / 5` exactly 16,
/// where `80 × 0.2` would round up to 17).
fn burst_for(per_second: f64, divisor: f64, at_least: u32) -> u32 {
    // Out-of-range rates fall through to `Rate::new`, which refuses them; the
    // `as` cast saturates (NaN becomes 0), so nothing here can panic.
    let share = (per_second / divisor).ceil().min(f64::from(MAX_BURST)) as u32;
    share.max(at_least)
}

/// A Cloud number and its throughput tier: one GCRA key shared by every
/// campaign and process sending from it, because Meta limits the number.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberLimit {
    /// Meta's phone number id (not our row id): what Meta counts against.
    pub phone_number_id: String,
    /// The number's tier, usually [`Rate::number_tier`].
    pub rate: Rate,
}

impl NumberLimit {
    /// The limit for one number.
    pub fn new(phone_number_id: impl Into<String>, rate: Rate) -> Self {
        Self { phone_number_id: phone_number_id.into(), rate }
    }
}

/// A campaign and its pace: one GCRA key, so the pace holds however many
/// workers send the campaign.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CampaignLimit {
    /// The campaign's id.
    pub campaign_id: i64,
    /// The campaign's pace, usually [`Rate::campaign_pace`].
    pub rate: Rate,
}

impl CampaignLimit {
    /// The limit for one campaign.
    pub fn new(campaign_id: i64, rate: Rate) -> Self {
        Self { campaign_id, rate }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_out_of_range_are_refused() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 10_000.5, 1.0 / 100_000.0] {
            assert!(matches!(Rate::new(bad, 1), Err(InvalidRate::PerSecond(_))), "{bad}");
            assert!(Rate::number_tier(bad).is_err(), "{bad}");
            assert!(Rate::campaign_pace(bad).is_err(), "{bad}");
        }
        assert_eq!(Rate::new(10.0, 0), Err(InvalidRate::Burst(0)));
        assert_eq!(Rate::new(10.0, MAX_BURST + 1), Err(InvalidRate::Burst(MAX_BURST + 1)));
        assert!(Rate::new(MAX_PER_SECOND, MAX_BURST).is_ok());
        assert!(Rate::new(1.0 / 3_600.0, 1).is_ok());
    }

    #[test]
    fn default_bursts_follow_the_documented_shares() {
        assert_eq!(Rate::number_tier(80.0).unwrap().burst(), 16);
        assert_eq!(Rate::number_tier(1_000.0).unwrap().burst(), 200);
        assert_eq!(Rate::number_tier(20.0).unwrap().burst(), 4);
        assert_eq!(Rate::number_tier(2.0).unwrap().burst(), 1);
        assert_eq!(Rate::campaign_pace(20.0).unwrap().burst(), 2);
        assert_eq!(Rate::campaign_pace(50.0).unwrap().burst(), 5);
        assert_eq!(Rate::campaign_pace(1_000.0).unwrap().burst(), 100);
        assert_eq!(Rate::campaign_pace(1.0 / 3_600.0).unwrap().burst(), 2);
    }

    #[test]
    fn the_script_gets_microseconds() {
        let rate = Rate::new(80.0, 16).unwrap();
        assert_eq!(rate.interval_us(), 12_500.0);
        assert_eq!(rate.capacity_us(), 200_000.0);
        assert_eq!(rate.interval(), Duration::from_micros(12_500));
    }
}
