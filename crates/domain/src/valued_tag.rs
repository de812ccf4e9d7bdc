use std::{collections::BTreeMap, fmt};

use unicode_normalization::UnicodeNormalization;

use crate::DomainError;

/// Longest valued-tag value, in characters.
pub const MAX_VALUE_CHARS: usize = 1024;
/// Most valued tags one contact may carry.
pub const MAX_VALUED_TAGS_PER_CONTACT: usize = 50;

/// The key of a valued tag (`customer_id` in `customer_id=123`): after NFKC
/// and lowercasing, a letter followed by up to 63 letters, digits or `_`.
/// The same alphabet as Meta's named template parameters, so a key can name a
/// parameter directly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ValuedTagKey(String);

impl ValuedTagKey {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let fail = |why| DomainError::InvalidValuedTagKey { input: input.to_owned(), why };
        let key: String = input.trim().nfkc().collect::<String>().to_lowercase();
        if key.is_empty() {
            return Err(fail("it is empty"));
        }
        if key.len() > 64 {
            return Err(fail("it is longer than 64 characters"));
        }
        if !key.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(fail("it must start with a letter a-z"));
        }
        if !key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err(fail("only letters a-z, digits and _ are allowed"));
        }
        Ok(Self(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Parsed like any key: bindings name keys in JSON.
impl<'de> serde::Deserialize<'de> for ValuedTagKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ValuedTagKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The value of a valued tag, kept exactly as given (it is data, e.g. a
/// customer id or a first name). Refused only when it cannot be stored
/// (NUL characters) or is longer than [`MAX_VALUE_CHARS`]. Values that Meta
/// would reject as template parameters (empty, newlines, tabs, runs of spaces)
/// are accepted here and reported as exclusions when a campaign needs them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ValuedTagValue(String);

impl ValuedTagValue {
    pub fn parse(key: &ValuedTagKey, input: &str) -> Result<Self, DomainError> {
        let fail = |why| DomainError::InvalidValuedTagValue { key: key.0.clone(), why };
        if input.contains('\0') {
            return Err(fail("it contains a NUL character"));
        }
        if input.chars().count() > MAX_VALUE_CHARS {
            return Err(fail("it is longer than 1024 characters"));
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A contact's valued tags: one value per key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValuedTags(BTreeMap<ValuedTagKey, ValuedTagValue>);

impl ValuedTags {
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, DomainError> {
        let mut map = BTreeMap::new();
        for (k, v) in pairs {
            let key = ValuedTagKey::parse(k)?;
            let value = ValuedTagValue::parse(&key, v)?;
            map.insert(key, value);
            if map.len() > MAX_VALUED_TAGS_PER_CONTACT {
                return Err(DomainError::TooManyValuedTags { max: MAX_VALUED_TAGS_PER_CONTACT });
            }
        }
        Ok(Self(map))
    }

    /// Parses `key=value` (used by list filters); the value may contain `=`.
    pub fn parse_pair(input: &str) -> Result<(ValuedTagKey, ValuedTagValue), DomainError> {
        let Some((k, v)) = input.split_once('=') else {
            return Err(DomainError::InvalidValuedTagKey { input: input.to_owned(), why: "expected key=value" });
        };
        let key = ValuedTagKey::parse(k)?;
        let value = ValuedTagValue::parse(&key, v)?;
        Ok((key, value))
    }

    /// Sets one key, refusing a 51st key.
    pub fn insert(&mut self, key: ValuedTagKey, value: ValuedTagValue) -> Result<(), DomainError> {
        if self.0.len() >= MAX_VALUED_TAGS_PER_CONTACT && !self.0.contains_key(&key) {
            return Err(DomainError::TooManyValuedTags { max: MAX_VALUED_TAGS_PER_CONTACT });
        }
        self.0.insert(key, value);
        Ok(())
    }

    /// Key to value as plain strings, sorted by key, for storage as a JSON object.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.0.iter().map(|(k, v)| (k.0.clone(), v.0.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn keys_follow_identifier_rules() {
        assert_eq!(ValuedTagKey::parse(" Customer_ID ").unwrap().as_str(), "customer_id");
        for bad in ["", "1st", "_x", "customer-id", "customer id", "código", &"k".repeat(65)] {
            let err = ValuedTagKey::parse(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_valued_tag_key", "{bad:?}");
        }
    }

    #[test]
    fn values_are_kept_verbatim_but_bounded() {
        let key = ValuedTagKey::parse("note").unwrap();
        assert_eq!(ValuedTagValue::parse(&key, " two  words\n").unwrap().as_str(), " two  words\n");
        assert_eq!(ValuedTagValue::parse(&key, "").unwrap().as_str(), "");
        assert!(ValuedTagValue::parse(&key, "a\0b").is_err());
        assert!(ValuedTagValue::parse(&key, &"x".repeat(1025)).is_err());
    }

    #[test]
    fn pairs_split_on_the_first_equals_sign() {
        let (k, v) = ValuedTags::parse_pair("Plan=a=b").unwrap();
        assert_eq!((k.as_str(), v.as_str()), ("plan", "a=b"));
        assert!(ValuedTags::parse_pair("plan").is_err());
    }

    #[test]
    fn at_most_fifty_keys() {
        let keys: Vec<String> = (0..51).map(|i| format!("k{i}")).collect();
        let err = ValuedTags::parse(keys.iter().map(|k| (k.as_str(), "v"))).unwrap_err();
        assert_eq!(err.code(), "too_many_valued_tags");
        let mut tags = ValuedTags::parse(keys[..50].iter().map(|k| (k.as_str(), "v"))).unwrap();
        let extra = ValuedTagKey::parse("extra").unwrap();
        assert!(tags.insert(extra.clone(), ValuedTagValue::parse(&extra, "v").unwrap()).is_err());
        let existing = ValuedTagKey::parse("k0").unwrap();
        assert!(tags.insert(existing.clone(), ValuedTagValue::parse(&existing, "new").unwrap()).is_ok());
    }

    #[test]
    fn later_values_replace_earlier_ones() {
        let tags = ValuedTags::parse([("city", "Madrid"), ("CITY", "Lima")]).unwrap();
        assert_eq!(tags.to_map().get("city").map(String::as_str), Some("Lima"));
    }

    proptest! {
        #[test]
        fn parsed_keys_reparse_to_themselves(s in "[a-zA-Z][a-zA-Z0-9_]{0,63}") {
            let key = ValuedTagKey::parse(&s).unwrap();
            prop_assert_eq!(ValuedTagKey::parse(key.as_str()).unwrap(), key.clone());
            prop_assert_eq!(key.as_str(), s.to_lowercase());
        }
    }
}
