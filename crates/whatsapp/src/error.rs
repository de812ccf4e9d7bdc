//! Meta's error shapes and what a bulk sender should do about each code.
//!
//! Meta asks clients to key their handling on `code` (and `error_data.details`),
//! not on HTTP status or subcodes, so [`classify`] takes only the code.

use std::borrow::Cow;

use serde::Deserialize;

/// The body of a failed Graph API call: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GraphErrorBody {
    pub error: GraphError,
}

/// The synchronous error object returned by the Graph API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GraphError {
    /// `"(#<code>) <title>"`; Meta says the title part will be deprecated.
    #[serde(default)]
    pub message: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    pub code: i64,
    /// Documented as deprecated since v16.0, yet still seen in Meta's examples.
    #[serde(default)]
    pub error_subcode: Option<i64>,
    #[serde(default)]
    pub error_data: Option<GraphErrorData>,
    #[serde(default)]
    pub fbtrace_id: Option<String>,
    #[serde(default)]
    pub is_transient: Option<bool>,
    #[serde(default)]
    pub error_user_title: Option<String>,
    #[serde(default)]
    pub error_user_msg: Option<String>,
}

impl GraphError {
    /// What to do about this error; see [`classify`].
    pub fn classify(&self) -> Classified {
        classify(self.code)
    }

    /// The most specific human-readable explanation Meta gave.
    pub fn details(&self) -> &str {
        self.error_data.as_ref().and_then(|d| d.details.as_deref()).unwrap_or(&self.message)
    }
}

/// `error.error_data` of a Graph error.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GraphErrorData {
    #[serde(default)]
    pub messaging_product: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
}

/// An error item inside a webhook (`statuses[].errors[]`, `value.errors[]`,
/// `messages[].errors[]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WebhookError {
    pub code: i64,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub error_data: Option<WebhookErrorData>,
    #[serde(default)]
    pub href: Option<String>,
}

impl WebhookError {
    /// What to do about this error; see [`classify`].
    pub fn classify(&self) -> Classified {
        classify(self.code)
    }
}

/// `error_data` of a webhook error item.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WebhookErrorData {
    #[serde(default)]
    pub details: Option<String>,
}

/// What a campaign sender should do after Meta reported an error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// A transient fault on Meta's side: retry the same message soon, with a
    /// short exponential backoff and a small attempt cap.
    RetryNow,
    /// A throughput or rate limit: slow down and retry the message later.
    RetryLater,
    /// This message to this recipient will never succeed as sent; record the
    /// failure and move on to the next recipient.
    Permanent,
    /// The recipient opted out of marketing; record the opt-out and never
    /// retry.
    OptOut,
    /// The sender itself is unusable (token, permissions, account, payment,
    /// template state). Every other recipient would fail the same way, so
    /// pause the campaign and alert instead of failing recipients one by one.
    Halt,
}

/// The outcome of [`classify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub class: ErrorClass,
    /// A snake_case code that stays stable across Meta's wording changes, for
    /// reports and metrics labels. Unknown codes get `meta_<code>`.
    pub stable_code: Cow<'static, str>,
    /// A short human-readable reason for campaign reports.
    pub reason: Cow<'static, str>,
}

/// The classification table: `(code, class, stable code, reason)`.
/// The `200..=299` permission range is handled in [`classify`].
const TABLE: &[(i64, ErrorClass, &str, &str)] = {
    use ErrorClass::{Halt, OptOut, Permanent, RetryLater, RetryNow};
    &[
        (0, Halt, "auth_failed", "Meta could not authenticate the app user; check the access token"),
        (1, RetryNow, "api_unknown", "invalid request or possible Meta server error"),
        (2, RetryNow, "api_service", "temporary Meta API downtime"),
        (3, Halt, "missing_capability", "the app lacks the capability or permission for this call"),
        (4, RetryLater, "app_rate_limited", "the app reached its Graph API call rate limit"),
        (10, Halt, "permission_denied", "permission not granted or removed for this app"),
        (100, Permanent, "invalid_parameter", "invalid parameter (unsupported, misspelled or too long)"),
        (190, Halt, "access_token_expired", "the access token expired or is invalid"),
        (368, Halt, "account_restricted", "the WhatsApp Business Account is restricted for a policy violation"),
        (80007, RetryLater, "waba_rate_limited", "the WhatsApp Business Account reached its rate limit"),
        (130403, Permanent, "recipient_blocked_by_business", "the business has blocked this user"),
        (130429, RetryLater, "rate_limited", "Cloud API throughput limit reached for this number"),
        (
            130430,
            RetryLater,
            "messaging_limit_reached",
            "the business portfolio reached its messaging limit (distinct users in a moving 24 hours)",
        ),
        (130472, Permanent, "experiment_group", "the user is in a Meta marketing experiment group; not sent"),
        (130497, Permanent, "country_restricted", "the business may not message users in this country"),
        (131000, RetryNow, "unknown_error", "something went wrong on Meta's side"),
        (131005, Halt, "access_denied", "access denied: the token lacks messaging permission"),
        (131008, Permanent, "required_parameter_missing", "a required parameter is missing"),
        (131009, Permanent, "invalid_parameter_value", "a parameter value is invalid"),
        (131016, RetryNow, "service_unavailable", "the Cloud API service is temporarily unavailable"),
        (131021, Permanent, "recipient_is_sender", "the recipient is the sending business number"),
        (131026, Permanent, "not_whatsapp_user", "not a valid WhatsApp user (or an outdated app / terms not accepted)"),
        (131031, Halt, "account_locked", "the business account is locked"),
        (131042, Halt, "payment_issue", "a problem with the business payment method"),
        (131045, Halt, "phone_registration_error", "the business phone number has a registration error"),
        (131047, Permanent, "reengagement_required", "more than 24 hours since the user last replied"),
        (131048, Halt, "spam_rate_limited", "too many previous messages were blocked or flagged as spam"),
        (
            131049,
            Permanent,
            "ecosystem_limited",
            "not delivered to maintain healthy ecosystem engagement; wait at least 24 hours before resending",
        ),
        (131050, OptOut, "marketing_opt_out", "the user stopped marketing messages from this business"),
        (131051, Permanent, "unsupported_message_type", "unsupported message type"),
        (131052, Permanent, "media_download_failed", "the media sent by the user could not be downloaded"),
        (131053, Permanent, "media_upload_error", "the media could not be processed (for example a MIME mismatch)"),
        (131056, RetryLater, "pair_rate_limited", "too many messages to this user in a short time (pair rate limit)"),
        (131057, RetryLater, "account_maintenance", "the business account is in maintenance mode"),
        (131063, Halt, "marketing_disabled", "marketing templates are disabled on Cloud API for this account"),
        (131064, Halt, "template_classification_limited", "messaging limited for template classification violations"),
        (132000, Permanent, "template_param_count_mismatch", "the number of parameters does not match the template"),
        (132001, Halt, "template_not_found", "the template does not exist in this language or is not approved"),
        (132005, Permanent, "template_text_too_long", "the hydrated template text is too long"),
        (132007, Halt, "template_policy_violation", "the template content violates a WhatsApp policy"),
        (132012, Permanent, "template_param_format", "template parameter values are formatted incorrectly"),
        (132015, Halt, "template_paused", "the template is paused for low quality"),
        (132016, Halt, "template_disabled", "the template is permanently disabled"),
        (132018, Permanent, "template_param_invalid", "template parameter validation failed (e.g. newlines or tabs)"),
        (133004, RetryNow, "server_unavailable", "the Cloud API server is temporarily unavailable"),
        (133010, Halt, "phone_not_registered", "the business phone number is not registered"),
    ]
};

/// The readable reason of one of [`classify`]'s stable codes (for reports
/// and statistics that keep only the code); `None` for codes not in the table.
pub fn describe(stable_code: &str) -> Option<&'static str> {
    if stable_code == "api_permission_missing" {
        return Some("an API permission is missing or was removed");
    }
    TABLE.iter().find(|(_, _, code, _)| *code == stable_code).map(|(.., reason)| *reason)
}

/// The Meta error codes of failures worth sending again later, as a new
/// campaign ("Retry failed"): the transient and rate-limit ones, and 131049
/// (Meta held the marketing message back for ecosystem engagement and says
/// to wait at least 24 hours). A message refused for good (not a WhatsApp
/// user, bad parameters) or by an opt-out is not among them.
pub fn worth_retrying_later() -> Vec<i32> {
    TABLE
        .iter()
        .filter(|(code, class, ..)| matches!(class, ErrorClass::RetryNow | ErrorClass::RetryLater) || *code == 131049)
        .filter_map(|(code, ..)| i32::try_from(*code).ok())
        .collect()
}

/// Maps a Meta error code to what a campaign sender should do about it.
///
/// Unknown codes are [`ErrorClass::Permanent`]: retrying an error we do not
/// understand risks duplicate sends, while a permanent failure shows up in
/// the campaign report where someone will look at it.
pub fn classify(code: i64) -> Classified {
    if let Some(&(_, class, stable_code, reason)) = TABLE.iter().find(|(c, ..)| *c == code) {
        return Classified { class, stable_code: Cow::Borrowed(stable_code), reason: Cow::Borrowed(reason) };
    }
    if (200..=299).contains(&code) {
        return Classified {
            class: ErrorClass::Halt,
            stable_code: Cow::Borrowed("api_permission_missing"),
            reason: Cow::Borrowed("an API permission is missing or was removed"),
        };
    }
    Classified {
        class: ErrorClass::Permanent,
        stable_code: Cow::Owned(format!("meta_{code}")),
        reason: Cow::Owned(format!("unrecognised Meta error code {code}")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use ErrorClass::{Halt, OptOut, Permanent, RetryLater, RetryNow};

    /// Every code from the reference table with its expected class, written
    /// out independently of `TABLE` so a typo in either shows up.
    const EXPECTED: &[(i64, ErrorClass)] = &[
        (0, Halt),
        (1, RetryNow),
        (2, RetryNow),
        (3, Halt),
        (4, RetryLater),
        (10, Halt),
        (100, Permanent),
        (190, Halt),
        (200, Halt),
        (250, Halt),
        (299, Halt),
        (368, Halt),
        (80007, RetryLater),
        (130403, Permanent),
        (130429, RetryLater),
        (130430, RetryLater),
        (130472, Permanent),
        (130497, Permanent),
        (131000, RetryNow),
        (131005, Halt),
        (131008, Permanent),
        (131009, Permanent),
        (131016, RetryNow),
        (131021, Permanent),
        (131026, Permanent),
        (131031, Halt),
        (131042, Halt),
        (131045, Halt),
        (131047, Permanent),
        (131048, Halt),
        (131049, Permanent),
        (131050, OptOut),
        (131051, Permanent),
        (131052, Permanent),
        (131053, Permanent),
        (131056, RetryLater),
        (131057, RetryLater),
        (131063, Halt),
        (131064, Halt),
        (132000, Permanent),
        (132001, Halt),
        (132005, Permanent),
        (132007, Halt),
        (132012, Permanent),
        (132015, Halt),
        (132016, Halt),
        (132018, Permanent),
        (133004, RetryNow),
        (133010, Halt),
    ];

    #[test]
    fn every_documented_code_has_the_expected_class() {
        for &(code, class) in EXPECTED {
            let c = classify(code);
            assert_eq!(c.class, class, "code {code}");
            assert!(!c.stable_code.starts_with("meta_"), "code {code} fell through to the default");
            assert!(!c.reason.is_empty());
        }
        for &(code, ..) in TABLE {
            assert!(EXPECTED.iter().any(|(c, _)| *c == code), "code {code} is classified but not tested");
        }
    }

    #[test]
    fn stable_codes_are_unique_snake_case() {
        let mut seen = HashSet::new();
        for &(code, ..) in TABLE {
            let c = classify(code);
            assert!(c.stable_code.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_'));
            assert!(seen.insert(c.stable_code.clone()), "duplicate stable code {}", c.stable_code);
        }
        assert!(seen.insert(classify(200).stable_code));
    }

    #[test]
    fn failures_worth_retrying_later_are_the_transient_ones_and_the_marketing_limit() {
        let codes = worth_retrying_later();
        for code in [131049, 130429, 131056, 131000, 131016, 133004, 80007] {
            assert!(codes.contains(&code), "{code}");
        }
        for code in [131026, 131050, 132000, 131047, 190] {
            assert!(!codes.contains(&code), "{code}");
        }
    }

    #[test]
    fn examples_from_the_brief() {
        let c = classify(131026);
        assert_eq!((c.class, c.stable_code.as_ref()), (Permanent, "not_whatsapp_user"));
        assert!(c.reason.contains("not a valid WhatsApp user"));
        let c = classify(131050);
        assert_eq!(c.class, OptOut);
        assert_eq!(c.reason, "the user stopped marketing messages from this business");
        let c = classify(130429);
        assert_eq!((c.class, c.reason.as_ref()), (RetryLater, "Cloud API throughput limit reached for this number"));
        assert_eq!(classify(131056).stable_code, "pair_rate_limited");
        assert_eq!(classify(132015).stable_code, "template_paused");
    }

    #[test]
    fn unknown_codes_are_permanent_with_the_code_in_them() {
        let c = classify(987654);
        assert_eq!(c.class, Permanent);
        assert_eq!(c.stable_code, "meta_987654");
        assert!(c.reason.contains("987654"));
    }

    #[test]
    fn parses_metas_graph_error_example() {
        let body = r#"{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,
            "error_data":{"messaging_product":"whatsapp","details":"Cloud API message throughput has been reached."},
            "error_subcode":2494055,"fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam","new_field":1}}"#;
        let e = serde_json::from_str::<GraphErrorBody>(body).expect("parses").error;
        assert_eq!(e.code, 130429);
        assert_eq!(e.kind.as_deref(), Some("OAuthException"));
        assert_eq!(e.error_subcode, Some(2494055));
        assert_eq!(e.details(), "Cloud API message throughput has been reached.");
        assert_eq!(e.classify().class, RetryLater);

        let minimal =
            serde_json::from_str::<GraphErrorBody>(r#"{"error":{"message":"bad","code":100}}"#).expect("parses").error;
        assert_eq!((minimal.details(), &minimal.error_data, minimal.is_transient), ("bad", &None, None));
    }

    #[test]
    fn parses_a_webhook_error_item() {
        let item = r#"{"code":131049,"title":"This message was not delivered.","message":"This message was not delivered.",
            "error_data":{"details":"In order to maintain a healthy ecosystem engagement, the message failed."},
            "href":"/documentation/business-messaging/whatsapp/support/error-codes"}"#;
        let e: WebhookError = serde_json::from_str(item).expect("parses");
        assert_eq!(e.code, 131049);
        assert!(e.error_data.and_then(|d| d.details).is_some_and(|d| d.contains("healthy ecosystem")));
        let bare: WebhookError = serde_json::from_str(r#"{"code":131051}"#).expect("parses");
        assert_eq!((bare.title.as_str(), bare.classify().class), ("", Permanent));
    }
}
