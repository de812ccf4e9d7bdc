//! Media a template header can carry, with Meta's type and size rules.
//!
//! Checking before the upload turns Meta's generic 131053 ("media upload
//! error", most often a file whose content is not its declared type) into a
//! precise answer, and keeps files Meta would refuse out of the database.

const MB: u64 = 1024 * 1024;

/// An accepted header media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Jpeg,
    Png,
    Mp4,
    ThreeGpp,
}

/// The header kind a media type serves (the `media_assets.kind` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Video,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
        }
    }
}

impl MediaType {
    pub const ALL: [Self; 4] = [Self::Jpeg, Self::Png, Self::Mp4, Self::ThreeGpp];

    /// From a `Content-Type` value; parameters (`; charset=...`) and case are ignored.
    pub fn from_content_type(value: &str) -> Option<Self> {
        let essence = value.split(';').next().unwrap_or_default().trim();
        Self::ALL.into_iter().find(|t| t.mime().eq_ignore_ascii_case(essence))
    }

    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Mp4 => "video/mp4",
            Self::ThreeGpp => "video/3gpp",
        }
    }

    pub fn kind(self) -> MediaKind {
        match self {
            Self::Jpeg | Self::Png => MediaKind::Image,
            Self::Mp4 | Self::ThreeGpp => MediaKind::Video,
        }
    }

    /// Meta's limit: 5 MB for images, 16 MB for videos.
    pub fn max_bytes(self) -> u64 {
        match self.kind() {
            MediaKind::Image => 5 * MB,
            MediaKind::Video => 16 * MB,
        }
    }

    /// A file name extension, for uploads that come without a file name.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Mp4 => "mp4",
            Self::ThreeGpp => "3gp",
        }
    }

    /// Whether `content` starts the way a file of this type does: JPEG's SOI
    /// marker, PNG's signature, or an ISO media `ftyp` box (3GPP brands start
    /// with `3g`; MP4 accepts any other brand, as players do).
    pub fn matches(self, content: &[u8]) -> bool {
        match self {
            Self::Jpeg => content.starts_with(&[0xFF, 0xD8, 0xFF]),
            Self::Png => content.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]),
            Self::Mp4 => ftyp_brand(content).is_some_and(|brand| !brand.starts_with(b"3g")),
            Self::ThreeGpp => ftyp_brand(content).is_some_and(|brand| brand.starts_with(b"3g")),
        }
    }

    /// What `content` looks like, for a readable mismatch message.
    pub fn sniff(content: &[u8]) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.matches(content))
    }
}

/// The major brand of an ISO base media file: `ftyp` at offset 4, the brand after it.
fn ftyp_brand(content: &[u8]) -> Option<&[u8]> {
    (content.get(4..8)? == b"ftyp").then(|| content.get(8..12)).flatten()
}

#[cfg(test)]
mod tests {
    use super::{MediaKind, MediaType};

    fn iso(brand: &[u8; 4]) -> Vec<u8> {
        let mut bytes = vec![0, 0, 0, 0x18];
        bytes.extend_from_slice(b"ftyp");
        bytes.extend_from_slice(brand);
        bytes.extend_from_slice(&[0; 12]);
        bytes
    }

    #[test]
    fn content_types_are_read_without_parameters_or_case() {
        assert_eq!(MediaType::from_content_type("image/jpeg"), Some(MediaType::Jpeg));
        assert_eq!(MediaType::from_content_type("IMAGE/PNG; charset=binary"), Some(MediaType::Png));
        assert_eq!(MediaType::from_content_type("video/3gpp"), Some(MediaType::ThreeGpp));
        assert_eq!(MediaType::from_content_type("image/gif"), None);
        assert_eq!(MediaType::from_content_type(""), None);
    }

    #[test]
    fn limits_and_kinds_follow_meta() {
        assert_eq!(MediaType::Png.max_bytes(), 5 * 1024 * 1024);
        assert_eq!(MediaType::Mp4.max_bytes(), 16 * 1024 * 1024);
        assert_eq!(MediaType::ThreeGpp.kind(), MediaKind::Video);
        assert_eq!(MediaType::Jpeg.kind().as_str(), "image");
    }

    #[test]
    fn magic_bytes_must_match_the_declared_type() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10];
        let png = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0];
        assert!(MediaType::Jpeg.matches(&jpeg));
        assert!(!MediaType::Png.matches(&jpeg));
        assert!(MediaType::Png.matches(&png));
        assert!(!MediaType::Jpeg.matches(&png));
        assert!(MediaType::Mp4.matches(&iso(b"isom")));
        assert!(!MediaType::Mp4.matches(&iso(b"3gp4")));
        assert!(MediaType::ThreeGpp.matches(&iso(b"3gp5")));
        assert!(!MediaType::ThreeGpp.matches(&iso(b"mp42")));
        assert!(!MediaType::Mp4.matches(b"\0\0\0\x18ftyp"), "a truncated box has no brand");
        assert!(!MediaType::Jpeg.matches(&[]));
    }

    #[test]
    fn sniffing_names_what_the_content_is() {
        assert_eq!(MediaType::sniff(&[0xFF, 0xD8, 0xFF, 0xDB]), Some(MediaType::Jpeg));
        assert_eq!(MediaType::sniff(&iso(b"mp42")), Some(MediaType::Mp4));
        assert_eq!(MediaType::sniff(b"GIF89a"), None);
    }
}
