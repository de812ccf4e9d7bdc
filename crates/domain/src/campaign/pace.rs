//! Delivery pace bounds: "launch now" in contacts per second, scheduled
//! campaigns in contacts per hour.

/// Meta's highest throughput tier is 1,000 messages per second per number.
pub const MAX_PACE_PER_SECOND: f64 = 1000.0;
/// The same ceiling per hour.
pub const MAX_CONTACTS_PER_HOUR: i64 = 3_600_000;
/// Slower than one contact every ten minutes is a mistake, not a pace.
const MIN_PACE_PER_SECOND: f64 = 1.0 / 600.0;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PaceError {
    #[error(
        "pace_per_second must be between 1/600 (one contact every ten minutes) and {MAX_PACE_PER_SECOND} \
         (Meta's highest throughput), not {0}"
    )]
    PerSecond(f64),
    #[error("contacts_per_hour must be between 1 and {MAX_CONTACTS_PER_HOUR}, not {0}")]
    PerHour(i64),
}

pub fn check_pace_per_second(pace: f64) -> Result<f64, PaceError> {
    if pace.is_finite() && (MIN_PACE_PER_SECOND..=MAX_PACE_PER_SECOND).contains(&pace) {
        Ok(pace)
    } else {
        Err(PaceError::PerSecond(pace))
    }
}

pub fn check_contacts_per_hour(per_hour: i64) -> Result<i64, PaceError> {
    if (1..=MAX_CONTACTS_PER_HOUR).contains(&per_hour) { Ok(per_hour) } else { Err(PaceError::PerHour(per_hour)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_negative_absurd_and_non_finite_paces_are_refused() {
        for bad in [0.0, -1.0, 0.0001, 1000.5, 1e9, f64::NAN, f64::INFINITY] {
            assert!(check_pace_per_second(bad).is_err(), "{bad}");
        }
        for good in [0.01, 1.0, 20.0, 1000.0] {
            assert_eq!(check_pace_per_second(good), Ok(good));
        }
        for bad in [0, -5, MAX_CONTACTS_PER_HOUR + 1] {
            assert!(check_contacts_per_hour(bad).is_err(), "{bad}");
        }
        assert_eq!(check_contacts_per_hour(500), Ok(500));
    }
}
