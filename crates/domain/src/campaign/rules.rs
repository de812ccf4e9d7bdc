//! A campaign's delivery rules beyond its pace: the support team's capacity
//! (the pace adapts so the replies it provokes stay within it) and quiet
//! hours (sending only inside a daily window of each recipient's local time).

use std::{fmt, str::FromStr, time::Duration};

use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The most replies per hour or open cases a support team may state.
const MAX_CAPACITY: u32 = 1_000_000;

/// The rules, as `campaigns.delivery_rules` stores them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryRules {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_capacity: Option<SupportCapacity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
}

/// What the team answering the campaign's replies can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportCapacity {
    /// Replies per hour the team can answer (1 to 1,000,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replies_per_hour: Option<u32>,
    /// The most inbox cases of the campaign's contacts open at once (1 to 1,000,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_open_cases: Option<u32>,
}

/// Send only from `send_from` until `send_until`, in each recipient's local
/// time (`"09:00"`, `"20:30"`); a window that ends before it starts spans midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    #[schema(value_type = String, example = "09:00")]
    pub send_from: TimeOfDay,
    #[schema(value_type = String, example = "20:00")]
    pub send_until: TimeOfDay,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("support_capacity needs replies_per_hour or max_open_cases, each between 1 and {MAX_CAPACITY}")]
    SupportCapacity,
    #[error("quiet_hours.send_from and send_until must differ (a window of the whole day is no quiet hours)")]
    EmptyWindow,
    #[error("{0:?} is not an IANA time zone (e.g. Europe/Madrid, America/Bogota)")]
    TimeZone(String),
}

impl RulesError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::SupportCapacity => "invalid_support_capacity",
            Self::EmptyWindow => "invalid_quiet_hours",
            Self::TimeZone(_) => "invalid_time_zone",
        }
    }
}

impl SupportCapacity {
    pub fn check(self) -> Result<Self, RulesError> {
        let ok = |v: Option<u32>| v.is_none_or(|v| (1..=MAX_CAPACITY).contains(&v));
        if (self.replies_per_hour.is_none() && self.max_open_cases.is_none())
            || !ok(self.replies_per_hour)
            || !ok(self.max_open_cases)
        {
            return Err(RulesError::SupportCapacity);
        }
        Ok(self)
    }
}

impl QuietHours {
    pub fn check(self) -> Result<Self, RulesError> {
        if self.send_from == self.send_until {
            return Err(RulesError::EmptyWindow);
        }
        Ok(self)
    }

    /// Whether a recipient whose local time is `local` may be sent to.
    pub fn is_open(self, local: TimeOfDay) -> bool {
        let (from, until, t) = (self.send_from.0, self.send_until.0, local.0);
        if from < until { (from..until).contains(&t) } else { t >= from || t < until }
    }

    /// Whether the window is open now in `zone`.
    pub fn is_open_in(self, zone: Tz, now: DateTime<Utc>) -> bool {
        self.is_open(TimeOfDay::local(zone, now))
    }

    /// How long until the window opens in `zone` (zero when it is open), to
    /// the minute; daylight-saving jumps may shift it by their length.
    pub fn opens_in(self, zone: Tz, now: DateTime<Utc>) -> Duration {
        let local = TimeOfDay::local(zone, now);
        if self.is_open(local) {
            return Duration::ZERO;
        }
        let minutes = (u32::from(self.send_from.0) + 1440 - u32::from(local.0)) % 1440;
        Duration::from_secs(u64::from(minutes) * 60 - u64::from(now.with_timezone(&zone).second()))
    }

    /// The share of a day the window is open.
    pub fn open_fraction(self) -> f64 {
        let (from, until) = (i32::from(self.send_from.0), i32::from(self.send_until.0));
        f64::from((until - from).rem_euclid(1440)) / 1440.0
    }
}

/// A time of day to the minute, written `"HH:MM"` (00:00 to 23:59).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeOfDay(u16);

impl TimeOfDay {
    pub fn new(hour: u16, minute: u16) -> Option<Self> {
        (hour < 24 && minute < 60).then_some(Self(hour * 60 + minute))
    }

    /// The local time of day in `zone` at `now`.
    pub fn local(zone: Tz, now: DateTime<Utc>) -> Self {
        let local = now.with_timezone(&zone);
        Self((local.hour() * 60 + local.minute()) as u16)
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl FromStr for TimeOfDay {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not a time of day as HH:MM (00:00 to 23:59)");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        Self::new(h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?).ok_or_else(bad)
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The zone quiet hours are read in for a stored zone name: one this build
/// does not know (a newer tz database wrote it) is read as UTC.
pub fn zone_or_utc(name: &str) -> Tz {
    parse_time_zone(name).unwrap_or(chrono_tz::UTC)
}

/// An IANA time zone name, as contacts carry it.
pub fn parse_time_zone(name: &str) -> Result<Tz, RulesError> {
    if name.len() > 64 {
        return Err(RulesError::TimeZone(name.chars().take(64).collect()));
    }
    Tz::from_str(name).map_err(|_| RulesError::TimeZone(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn window(from: &str, until: &str) -> QuietHours {
        QuietHours { send_from: from.parse().unwrap(), send_until: until.parse().unwrap() }
    }

    #[test]
    fn a_window_is_open_inside_and_may_span_midnight() {
        let day = window("09:00", "20:00");
        assert!(day.is_open("09:00".parse().unwrap()) && day.is_open("19:59".parse().unwrap()));
        assert!(!day.is_open("20:00".parse().unwrap()) && !day.is_open("08:59".parse().unwrap()));
        let night = window("22:00", "06:00");
        assert!(night.is_open("23:30".parse().unwrap()) && night.is_open("05:00".parse().unwrap()));
        assert!(!night.is_open("12:00".parse().unwrap()));
        assert!((day.open_fraction() - 11.0 / 24.0).abs() < 1e-9 && (night.open_fraction() - 8.0 / 24.0).abs() < 1e-9);
        assert_eq!(window("10:00", "10:00").check(), Err(RulesError::EmptyWindow));
    }

    #[test]
    fn the_window_is_read_in_the_recipients_zone() {
        // 12:00 UTC in January: 13:00 in Madrid, 07:00 in Bogota.
        let now = Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap();
        let day = window("09:00", "20:00");
        let (madrid, bogota) = (parse_time_zone("Europe/Madrid").unwrap(), parse_time_zone("America/Bogota").unwrap());
        assert!(day.is_open_in(madrid, now));
        assert!(!day.is_open_in(bogota, now));
        assert_eq!(day.opens_in(bogota, now), Duration::from_secs(2 * 3600));
        assert_eq!(day.opens_in(madrid, now), Duration::ZERO);
    }

    #[test]
    fn times_zones_and_capacities_are_checked() {
        for bad in ["9:00", "24:00", "12:60", "noon", "12:00:00", ""] {
            assert!(bad.parse::<TimeOfDay>().is_err(), "{bad}");
        }
        assert_eq!("07:05".parse::<TimeOfDay>().unwrap().to_string(), "07:05");
        assert_eq!(parse_time_zone("Mars/Olympus").unwrap_err().code(), "invalid_time_zone");
        assert!(SupportCapacity { replies_per_hour: None, max_open_cases: None }.check().is_err());
        assert!(SupportCapacity { replies_per_hour: Some(0), max_open_cases: None }.check().is_err());
        assert!(SupportCapacity { replies_per_hour: Some(120), max_open_cases: None }.check().is_ok());
        let rules: DeliveryRules =
            serde_json::from_str(r#"{"quiet_hours":{"send_from":"09:00","send_until":"20:00"}}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&rules).unwrap(),
            r#"{"quiet_hours":{"send_from":"09:00","send_until":"20:00"}}"#
        );
        assert!(serde_json::from_str::<DeliveryRules>(r#"{"quiet":{}}"#).is_err());
    }
}

#[cfg(test)]
mod zone_table {
    /// Every default zone the migration gives a calling code is one the
    /// engine reads quiet hours in (an unknown one would be read as UTC).
    #[test]
    fn every_calling_codes_zone_is_known() {
        let sql = include_str!("../../../../migrations/20261208000001_phone_time_zones.sql");
        let zones: Vec<&str> =
            sql.lines().filter(|l| l.trim_start().starts_with("('")).filter_map(|l| l.split('\'').nth(5)).collect();
        assert!(zones.len() > 200, "{} zones", zones.len());
        for zone in zones {
            assert!(super::parse_time_zone(zone).is_ok(), "{zone}");
        }
    }
}
