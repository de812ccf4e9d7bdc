/// Why a value was refused. Each variant has a stable machine code
/// ([`DomainError::code`]) and a readable message (its `Display`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("invalid phone number {input:?}: {why}")]
    InvalidPhone { input: String, why: &'static str },
    #[error("invalid tag {input:?}: {why}")]
    InvalidTag { input: String, why: &'static str },
    #[error("invalid valued tag key {input:?}: {why}")]
    InvalidValuedTagKey { input: String, why: &'static str },
    #[error("invalid valued tag value for {key:?}: {why}")]
    InvalidValuedTagValue { key: String, why: &'static str },
    #[error("a contact may carry at most {max} tags")]
    TooManyTags { max: usize },
    #[error("a contact may carry at most {max} valued tags")]
    TooManyValuedTags { max: usize },
    #[error("invalid URL: {why}")]
    InvalidUrl { why: &'static str },
}

impl DomainError {
    /// A stable code for API error bodies and reports.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidPhone { .. } => "invalid_phone",
            Self::InvalidTag { .. } => "invalid_tag",
            Self::InvalidValuedTagKey { .. } => "invalid_valued_tag_key",
            Self::InvalidValuedTagValue { .. } => "invalid_valued_tag_value",
            Self::TooManyTags { .. } => "too_many_tags",
            Self::TooManyValuedTags { .. } => "too_many_valued_tags",
            Self::InvalidUrl { .. } => "invalid_url",
        }
    }
}
