//! Why a contact of a campaign's audience is not sent to: one
//! stable code and one readable sentence per reason. The SQL that finds them
//! is the `campaign_audience` function in `migrations/`; its codes are these.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exclusion {
    InvalidPhone,
    OptedOut,
    /// Engaged by another active campaign; its name when known.
    AlreadyEngaged {
        campaign_id: i64,
        campaign_name: Option<String>,
    },
    MissingValuedTag {
        key: String,
    },
    MissingName,
    InvalidName,
    InvalidParamValue {
        key: String,
    },
    /// An agent is attending the contact right now; checked again at send time.
    OpenInboxCase,
    /// The contact was deleted before its message was sent (never planned:
    /// only a ledger row waiting to be sent gets it).
    ContactDeleted,
    /// The campaign was finished before the contact's message was sent.
    CampaignFinished,
}

impl Exclusion {
    /// Rebuilds a reason from the columns `campaign_audience` returns; `None`
    /// for an unknown code (a newer database than this binary).
    pub fn from_parts(
        code: &str,
        key: Option<String>,
        engaged_campaign_id: Option<i64>,
        engaged_campaign_name: Option<String>,
    ) -> Option<Self> {
        let key = || key.clone().unwrap_or_default();
        Some(match code {
            "invalid_phone" => Self::InvalidPhone,
            "opted_out" => Self::OptedOut,
            "already_engaged" => Self::AlreadyEngaged {
                campaign_id: engaged_campaign_id.unwrap_or_default(),
                campaign_name: engaged_campaign_name,
            },
            "missing_valued_tag" => Self::MissingValuedTag { key: key() },
            "missing_name" => Self::MissingName,
            "invalid_name" => Self::InvalidName,
            "invalid_param_value" => Self::InvalidParamValue { key: key() },
            "open_inbox_case" => Self::OpenInboxCase,
            "contact_deleted" => Self::ContactDeleted,
            "campaign_finished" => Self::CampaignFinished,
            _ => return None,
        })
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidPhone => "invalid_phone",
            Self::OptedOut => "opted_out",
            Self::AlreadyEngaged { .. } => "already_engaged",
            Self::MissingValuedTag { .. } => "missing_valued_tag",
            Self::MissingName => "missing_name",
            Self::InvalidName => "invalid_name",
            Self::InvalidParamValue { .. } => "invalid_param_value",
            Self::OpenInboxCase => "open_inbox_case",
            Self::ContactDeleted => "contact_deleted",
            Self::CampaignFinished => "campaign_finished",
        }
    }
}

impl fmt::Display for Exclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidPhone => f.write_str("the phone number is not a valid international number"),
            Self::OptedOut => f.write_str("the contact opted out of campaigns"),
            Self::AlreadyEngaged { campaign_id, campaign_name: Some(name) } => {
                write!(f, "already engaged in the active campaign \"{name}\" (#{campaign_id})")
            }
            Self::AlreadyEngaged { campaign_id, campaign_name: None } => {
                write!(f, "already engaged in the active campaign #{campaign_id}")
            }
            Self::MissingValuedTag { key } => {
                write!(f, "the contact has no valued tag \"{key}\", which the template needs")
            }
            Self::MissingName => f.write_str("the contact has no name, which the template needs"),
            Self::InvalidName => f.write_str(
                "the contact's name is a value WhatsApp refuses as a parameter (a new-line, a tab, more than four \
                 consecutive spaces or over 1,024 characters)",
            ),
            Self::InvalidParamValue { key } => write!(
                f,
                "the contact's valued tag \"{key}\" is a value WhatsApp refuses as a parameter (blank, a new-line, a \
                 tab, more than four consecutive spaces or over 1,024 characters)"
            ),
            Self::OpenInboxCase => {
                f.write_str("the contact has an open case in the inbox (an agent is attending them)")
            }
            Self::ContactDeleted => f.write_str("the contact was deleted before the message was sent"),
            Self::CampaignFinished => f.write_str("the campaign was finished before the message was sent"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_and_explains_itself() {
        for code in [
            "invalid_phone",
            "opted_out",
            "already_engaged",
            "missing_valued_tag",
            "missing_name",
            "invalid_name",
            "invalid_param_value",
            "open_inbox_case",
            "contact_deleted",
            "campaign_finished",
        ] {
            let e = Exclusion::from_parts(code, Some("customer_id".into()), Some(12), Some("Spring".into()))
                .expect("known code");
            assert_eq!(e.code(), code);
            assert!(!e.to_string().is_empty());
        }
        let engaged = Exclusion::from_parts("already_engaged", None, Some(12), Some("Spring sale".into()));
        assert_eq!(
            engaged.map(|e| e.to_string()).as_deref(),
            Some("already engaged in the active campaign \"Spring sale\" (#12)")
        );
        let missing = Exclusion::from_parts("missing_valued_tag", Some("customer_id".into()), None, None);
        assert!(missing.is_some_and(|e| e.to_string().contains("\"customer_id\"")));
        assert_eq!(Exclusion::from_parts("new_reason", None, None, None), None);
    }
}
