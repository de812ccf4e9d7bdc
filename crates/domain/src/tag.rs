use std::{collections::BTreeSet, fmt};

use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

use crate::DomainError;

/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;
/// Most tags one contact may carry.
pub const MAX_TAGS_PER_CONTACT: usize = 100;

/// A normalised tag: Unicode NFKC, lowercase, surrounding whitespace removed
/// and inner whitespace runs collapsed to one space. Letters, digits and
/// combining marks of any script (so Hindi, Thai or Turkish words work) plus
/// ` _-./` are allowed; it starts with a letter or digit.
/// `VIP  Customers` and `vip customers` are the same tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Tag(String);

impl Tag {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let fail = |why| DomainError::InvalidTag { input: input.to_owned(), why };
        // NFKC leaves ASCII unchanged, so the common case skips it.
        let folded =
            if input.is_ascii() { input.to_ascii_lowercase() } else { input.nfkc().collect::<String>().to_lowercase() };
        let normalised = folded.split_whitespace().collect::<Vec<_>>().join(" ");
        if normalised.is_empty() {
            return Err(fail("it is empty"));
        }
        if normalised.chars().count() > MAX_TAG_CHARS {
            return Err(fail("it is longer than 64 characters"));
        }
        if !normalised.starts_with(char::is_alphanumeric) {
            return Err(fail("it must start with a letter or a digit"));
        }
        if !normalised
            .chars()
            .all(|c| c.is_alphanumeric() || is_combining_mark(c) || matches!(c, ' ' | '_' | '-' | '.' | '/'))
        {
            return Err(fail("only letters, digits, spaces and _ - . / are allowed"));
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Tag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Tag::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A contact's tags: a sorted set without duplicates, at most
/// [`MAX_TAGS_PER_CONTACT`] of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagList(BTreeSet<Tag>);

impl TagList {
    pub fn parse<'a>(inputs: impl IntoIterator<Item = &'a str>) -> Result<Self, DomainError> {
        let mut set = BTreeSet::new();
        for input in inputs {
            set.insert(Tag::parse(input)?);
            if set.len() > MAX_TAGS_PER_CONTACT {
                return Err(DomainError::TooManyTags { max: MAX_TAGS_PER_CONTACT });
            }
        }
        Ok(Self(set))
    }

    /// Parses a `;`-separated cell such as `vip; madrid;newsletter`; empty
    /// items are ignored, so an empty cell is no tags.
    pub fn parse_delimited(cell: &str) -> Result<Self, DomainError> {
        Self::parse(cell.split(';').filter(|s| !s.trim().is_empty()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The tags as plain strings, sorted, for storage.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|t| t.0.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn normalises_case_width_and_spaces() {
        assert_eq!(Tag::parse("  VIP   Customers ").unwrap().as_str(), "vip customers");
        assert_eq!(Tag::parse("ＶＩＰ").unwrap().as_str(), "vip"); // full-width letters (NFKC)
        assert_eq!(Tag::parse("Señal-2024/q1").unwrap().as_str(), "señal-2024/q1");
    }

    #[test]
    fn accepts_words_written_with_combining_marks() {
        for word in ["हिन्दी", "ไม่", "İstanbul", "தமிழ்", "ภาษาไทย"] {
            assert!(Tag::parse(word).is_ok(), "{word} should be a valid tag");
        }
    }

    #[test]
    fn refuses_separators_and_empty() {
        for bad in
            ["", "   ", "a;b", "a=b", "a,b", "-lead", "nul\u{0}byte", "quo\"te", "\u{301}accent", &"x".repeat(65)]
        {
            let err = Tag::parse(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_tag", "{bad:?}");
        }
    }

    #[test]
    fn lists_are_deduplicated_and_sorted() {
        let list = TagList::parse_delimited("b; A ;a;; c").unwrap();
        assert_eq!(list.to_strings(), vec!["a", "b", "c"]);
        assert!(TagList::parse_delimited("  ").unwrap().is_empty());
    }

    #[test]
    fn lists_are_capped() {
        let many: Vec<String> = (0..101).map(|i| format!("t{i}")).collect();
        assert_eq!(TagList::parse(many.iter().map(String::as_str)).unwrap_err().code(), "too_many_tags");
        assert_eq!(TagList::parse(many[..100].iter().map(String::as_str)).unwrap().to_strings().len(), 100);
    }

    proptest! {
        #[test]
        fn normalisation_is_idempotent(s in "[\\p{L}\\p{Nd}][\\p{L}\\p{Nd} _./-]{0,20}") {
            // NFKC may expand a compatibility letter into symbols or past 64 characters.
            let parsed = Tag::parse(&s);
            prop_assume!(parsed.is_ok());
            let tag = parsed.unwrap();
            prop_assert_eq!(Tag::parse(tag.as_str()).unwrap(), tag.clone());
            prop_assert!(tag.as_str().chars().count() <= MAX_TAG_CHARS);
        }

        #[test]
        fn separators_never_survive(s in "\\PC{0,40}") {
            if let Ok(tag) = Tag::parse(&s) {
                prop_assert!(!tag.as_str().contains([';', '=', ',']));
            }
        }

        #[test]
        fn case_does_not_matter(s in "[a-zA-Z0-9][a-zA-Z0-9 _.-]{0,30}") {
            prop_assert_eq!(Tag::parse(&s.to_uppercase()).unwrap(), Tag::parse(&s.to_lowercase()).unwrap());
        }
    }
}
