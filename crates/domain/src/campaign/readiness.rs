//! Whether a campaign is complete enough to launch, and if not, what is
//! missing or wrong, field by field (Draft vs Ready).
//!
//! Checked against the *current* state of what the campaign points at: a
//! template paused at Meta after it was chosen turns a Ready campaign back
//! into a Draft that says why.

use serde::Serialize;

use super::{Binding, Component, Kind};

/// A template as the campaign rules need it.
#[derive(Debug, Clone)]
pub struct TemplateRef {
    pub name: String,
    pub language: String,
    pub waba_id: String,
    /// Meta's status: only `APPROVED` can be sent.
    pub status: String,
    /// No longer listed by Meta at the last sync.
    pub missing: bool,
    pub body_params: Vec<String>,
    pub header_format: Option<HeaderFormat>,
    pub header_params: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderFormat {
    Text,
    Image,
    Video,
    Document,
    Location,
}

impl HeaderFormat {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "TEXT" => Some(Self::Text),
            "IMAGE" => Some(Self::Image),
            "VIDEO" => Some(Self::Video),
            "DOCUMENT" => Some(Self::Document),
            "LOCATION" => Some(Self::Location),
            _ => None,
        }
    }

    /// The media kind a header of this format needs, if any.
    fn media_kind(self) -> Option<&'static str> {
        match self {
            Self::Image => Some("image"),
            Self::Video => Some("video"),
            Self::Document => Some("document"),
            Self::Text | Self::Location => None,
        }
    }
}

/// The header media the campaign points at.
#[derive(Debug, Clone)]
pub struct MediaRef {
    /// `image`, `video` or `document`.
    pub kind: String,
    /// The number it was uploaded for.
    pub number_id: i64,
}

/// Who the campaign is for.
#[derive(Debug, Clone, Default)]
pub struct Audience {
    pub tags: usize,
    pub valued_tags: usize,
    /// Test campaigns: the chosen contacts.
    pub test_contacts: usize,
    /// A real campaign retrying another's failures: the contacts it lists.
    pub fixed_contacts: usize,
}

/// Everything readiness depends on, already loaded.
#[derive(Debug, Clone)]
pub struct Snapshot<'a> {
    pub kind: Kind,
    /// The sending number's id and WABA.
    pub number: Option<(i64, &'a str)>,
    pub audience: Audience,
    pub template: Option<&'a TemplateRef>,
    pub bindings: &'a [Binding],
    pub header_media: Option<&'a MediaRef>,
    pub has_bot_flow: bool,
}

/// One reason a campaign is a Draft: the field to fix, a stable code and a
/// readable message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub field: &'static str,
    pub code: &'static str,
    pub message: String,
}

impl Problem {
    fn new(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self { field, code, message: message.into() }
    }
}

/// Every reason the campaign cannot launch yet; empty means Ready.
pub fn problems(s: &Snapshot<'_>) -> Vec<Problem> {
    let mut out = Vec::new();
    if s.number.is_none() {
        out.push(Problem::new("number_id", "number_required", "choose the WhatsApp Cloud number to send from"));
    }
    match s.kind {
        Kind::Real if s.audience.tags + s.audience.valued_tags + s.audience.fixed_contacts == 0 => {
            out.push(Problem::new(
                "audience",
                "audience_required",
                "choose the audience by tags and/or valued tags; contacts without tags are never included",
            ))
        }
        Kind::Test if s.audience.test_contacts == 0 => {
            out.push(Problem::new("test_phones", "test_phones_required", "add the phones of the test contacts"));
        }
        _ => {}
    }
    if !s.has_bot_flow {
        out.push(Problem::new("bot_flow_id", "bot_flow_required", "assign the bot flow that will handle replies"));
    }
    match s.template {
        None => {
            out.push(Problem::new("template_id", "template_required", "choose an approved template and language"));
            if !s.bindings.is_empty() {
                out.push(Problem::new(
                    "bindings",
                    "template_required",
                    "bindings need a template to be checked against",
                ));
            }
        }
        Some(t) => template_problems(s, t, &mut out),
    }
    out
}

fn template_problems(s: &Snapshot<'_>, t: &TemplateRef, out: &mut Vec<Problem>) {
    let label = format!("template {} ({})", t.name, t.language);
    if t.missing {
        out.push(Problem::new(
            "template_id",
            "template_missing_at_meta",
            format!("{label} was not found at Meta in the last template sync"),
        ));
    } else if t.status != "APPROVED" {
        out.push(Problem::new(
            "template_id",
            "template_not_approved",
            format!("{label} is {} at Meta; only APPROVED templates can be sent", t.status),
        ));
    }
    if let Some((_, waba)) = s.number
        && waba != t.waba_id
    {
        out.push(Problem::new(
            "template_id",
            "template_not_on_number",
            format!("{label} belongs to WhatsApp Business Account {}, not to the sending number's {waba}", t.waba_id),
        ));
    }
    binding_problems(s.bindings, t, out);
    header_problems(s, t, &label, out);
}

fn binding_problems(bindings: &[Binding], t: &TemplateRef, out: &mut Vec<Problem>) {
    let expected = |component| match component {
        Component::Body => &t.body_params,
        Component::Header => &t.header_params,
    };
    for component in [Component::Header, Component::Body] {
        for param in expected(component) {
            if !bindings.iter().any(|b| b.component == component && &b.param == param) {
                out.push(Problem::new(
                    "bindings",
                    "binding_missing",
                    format!("the {} placeholder {{{{{param}}}}} has no binding", component.as_str()),
                ));
            }
        }
    }
    for b in bindings {
        if !expected(b.component).contains(&b.param) {
            let names: Vec<String> = expected(b.component).iter().map(|p| format!("{{{{{p}}}}}")).collect();
            let has = if names.is_empty() { "none".to_owned() } else { names.join(", ") };
            out.push(Problem::new(
                "bindings",
                "binding_not_in_template",
                format!("the template has no {} placeholder {{{{{}}}}} (it has {has})", b.component.as_str(), b.param),
            ));
        }
    }
}

fn header_problems(s: &Snapshot<'_>, t: &TemplateRef, label: &str, out: &mut Vec<Problem>) {
    let wanted = t.header_format.and_then(HeaderFormat::media_kind);
    match (wanted, s.header_media) {
        (Some("document"), _) => out.push(Problem::new(
            "template_id",
            "header_format_unsupported",
            format!("{label} has a DOCUMENT header; only image and video headers are supported"),
        )),
        (None, None) => {
            if t.header_format == Some(HeaderFormat::Location) {
                out.push(Problem::new(
                    "template_id",
                    "header_format_unsupported",
                    format!("{label} has a LOCATION header, which campaigns do not support"),
                ));
            }
        }
        (Some(kind), None) => out.push(Problem::new(
            "header_media_id",
            "header_media_required",
            format!("{label} has an {} header: upload the {kind} and set header_media_id", kind.to_uppercase()),
        )),
        (None, Some(_)) => out.push(Problem::new(
            "header_media_id",
            "header_media_not_expected",
            format!("{label} has no media header; remove header_media_id"),
        )),
        (Some(kind), Some(media)) => {
            if media.kind != kind {
                out.push(Problem::new(
                    "header_media_id",
                    "header_media_kind_mismatch",
                    format!("{label} needs an {kind} header but the media is an {}", media.kind),
                ));
            }
            if let Some((number_id, _)) = s.number
                && media.number_id != number_id
            {
                out.push(Problem::new(
                    "header_media_id",
                    "header_media_other_number",
                    "the header media was uploaded for another number; upload it for the sending number",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests;
