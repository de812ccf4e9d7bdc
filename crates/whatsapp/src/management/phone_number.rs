//! The phone number node (`GET /{phone_number_id}`) and a WABA's
//! `GET /{waba_id}/phone_numbers` edge: who a number belongs to, and how fast
//! and how widely it may send.

use serde::Deserialize;

use super::Paging;

/// Messages per second at Meta's `STANDARD` throughput level.
pub const STANDARD_THROUGHPUT: i32 = 80;
/// Messages per second after Meta's automatic upgrade.
pub const HIGH_THROUGHPUT: i32 = 1_000;

/// A phone number node. Graph returns only the requested fields (and `id`),
/// so every field may be absent; values stay text because Meta adds ratings,
/// levels and tiers without a version bump.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PhoneNumberInfo {
    #[serde(default)]
    pub id: Option<String>,
    /// Formatted for display by Meta (`+1 555-123-4567`, or bare digits);
    /// compare [`PhoneNumberInfo::display_digits`] instead.
    #[serde(default)]
    pub display_phone_number: Option<String>,
    #[serde(default)]
    pub verified_name: Option<String>,
    /// `GREEN`, `YELLOW`, `RED` or `UNKNOWN`.
    #[serde(default)]
    pub quality_rating: Option<String>,
    #[serde(default)]
    pub throughput: Option<Throughput>,
    /// e.g. `TIER_250`, `TIER_2K`, `TIER_10K`, `TIER_100K`, `TIER_UNLIMITED`;
    /// kept as text because Meta renamed the tiers before.
    #[serde(default)]
    pub whatsapp_business_manager_messaging_limit: Option<String>,
}

/// The name this type had when only throughput and tier were read.
pub type PhoneNumberFields = PhoneNumberInfo;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Throughput {
    /// `STANDARD` (80 mps); the higher level's name is unconfirmed
    /// (commonly `HIGH`, 1,000 mps).
    #[serde(default)]
    pub level: Option<String>,
}

impl PhoneNumberInfo {
    /// Messages per second for the reported throughput level: 80 for
    /// `STANDARD`, 1,000 for any other level (the only other one Meta
    /// describes is the upgraded one, whose name is unconfirmed). `None`
    /// when the level was not returned.
    pub fn throughput_per_second(&self) -> Option<i32> {
        let level = self.throughput.as_ref()?.level.as_deref()?.trim();
        if level.is_empty() {
            None
        } else if level.eq_ignore_ascii_case("STANDARD") {
            Some(STANDARD_THROUGHPUT)
        } else {
            Some(HIGH_THROUGHPUT)
        }
    }

    /// The digits of `display_phone_number`, which is what survives Meta's
    /// display formatting (`+1 555-123-4567` → `15551234567`).
    pub fn display_digits(&self) -> Option<String> {
        let digits: String = self.display_phone_number.as_deref()?.chars().filter(char::is_ascii_digit).collect();
        (!digits.is_empty()).then_some(digits)
    }
}

/// One page of `GET /{waba_id}/phone_numbers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PhoneNumberPage {
    #[serde(default)]
    pub data: Vec<PhoneNumberInfo>,
    #[serde(default)]
    pub paging: Option<Paging>,
}

impl PhoneNumberPage {
    /// The cursor for the next page, or `None` on the last page.
    pub fn next_cursor(&self) -> Option<&str> {
        self.paging.as_ref()?.next_cursor()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> PhoneNumberInfo {
        serde_json::from_str(body).expect("parses")
    }

    #[test]
    fn parses_the_phone_number_node() {
        let p = parse(
            r#"{"verified_name":"Jasper's Market","display_phone_number":"+1 631-555-5555","id":"1906385232743451",
                "quality_rating":"GREEN","throughput":{"level":"STANDARD"},
                "whatsapp_business_manager_messaging_limit":"TIER_2K","code_verification_status":"VERIFIED"}"#,
        );
        assert_eq!(p.id.as_deref(), Some("1906385232743451"));
        assert_eq!(p.verified_name.as_deref(), Some("Jasper's Market"));
        assert_eq!(p.quality_rating.as_deref(), Some("GREEN"));
        assert_eq!(p.whatsapp_business_manager_messaging_limit.as_deref(), Some("TIER_2K"));
        assert_eq!(p.throughput_per_second(), Some(80));
        assert_eq!(p.display_digits().as_deref(), Some("16315555555"));
    }

    #[test]
    fn only_the_id_is_enough() {
        let p = parse(r#"{"id":"106"}"#);
        assert_eq!(p, PhoneNumberInfo { id: Some("106".into()), ..PhoneNumberInfo::default() });
        assert_eq!((p.throughput_per_second(), p.display_digits()), (None, None));
        assert_eq!(parse("{}").id, None);
    }

    #[test]
    fn throughput_levels_map_to_messages_per_second() {
        let level = |json: &str| parse(&format!(r#"{{"throughput":{json}}}"#)).throughput_per_second();
        assert_eq!(level(r#"{"level":"STANDARD"}"#), Some(80));
        assert_eq!(level(r#"{"level":"HIGH"}"#), Some(1000));
        assert_eq!(level(r#"{"level":"SOMETHING_NEW"}"#), Some(1000), "unknown levels are the upgraded one");
        assert_eq!(level(r#"{"level":""}"#), None);
        assert_eq!(level("{}"), None);
        assert_eq!(level("null"), None);
    }

    #[test]
    fn unknown_ratings_and_tiers_are_kept_as_text() {
        let p = parse(r#"{"quality_rating":"PURPLE","whatsapp_business_manager_messaging_limit":"TIER_1M"}"#);
        assert_eq!(p.quality_rating.as_deref(), Some("PURPLE"));
        assert_eq!(p.whatsapp_business_manager_messaging_limit.as_deref(), Some("TIER_1M"));
    }

    #[test]
    fn parses_a_listing_page_and_its_cursor() {
        let page: PhoneNumberPage = serde_json::from_str(
            r#"{"data":[{"id":"1","display_phone_number":"15550001111","verified_name":"A","quality_rating":"GREEN"},
                        {"id":"2","quality_rating":"RED"}],
                "paging":{"cursors":{"before":"QVFI","after":"QVFJ"},"next":"https://graph.facebook.com/x?after=QVFJ"}}"#,
        )
        .expect("parses");
        assert_eq!(page.data.len(), 2);
        assert_eq!(page.data[1].quality_rating.as_deref(), Some("RED"));
        assert_eq!(page.next_cursor(), Some("QVFJ"));
        let last: PhoneNumberPage =
            serde_json::from_str(r#"{"data":[],"paging":{"cursors":{"before":"A","after":"B"}}}"#).expect("parses");
        assert_eq!(last.next_cursor(), None);
        assert_eq!(serde_json::from_str::<PhoneNumberPage>("{}").expect("parses"), PhoneNumberPage::default());
    }
}
