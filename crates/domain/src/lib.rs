//! Pure domain types for the campaign engine.
//!
//! Everything here is parsed at the edge (HTTP, CSV) and then trusted by the
//! store and the workers: a [`Phone`] is always valid E.164, a [`Tag`] is
//! always normalised, a [`ValuedTagKey`] always follows the key rules.

pub mod campaign;
pub mod egress;
mod endpoint_url;
mod error;
pub mod media;
pub mod messaging_limit;
mod phone;
mod tag;
pub mod template;
mod valued_tag;

pub use endpoint_url::EndpointUrl;
pub use error::DomainError;
pub use media::{MediaKind, MediaType};
pub use phone::Phone;
pub use tag::{MAX_TAG_CHARS, MAX_TAGS_PER_CONTACT, Tag, TagList};
pub use template::placeholders;
pub use valued_tag::{MAX_VALUE_CHARS, MAX_VALUED_TAGS_PER_CONTACT, ValuedTagKey, ValuedTagValue, ValuedTags};
