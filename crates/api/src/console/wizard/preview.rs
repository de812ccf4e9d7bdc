//! The message as one contact of the audience would read it: the template's
//! header and body text with each placeholder replaced by its binding's value
//! for that contact (free text, the contact's name, or a valued tag).

use domain::campaign::{Binding, Component, Kind, Source};
use store::{OrgId, campaigns::CampaignRecord, contacts::Contact, templates::Template};

use crate::{
    console::{i18n, session::Rejection},
    state::AppState,
};

#[derive(Debug, Clone)]
pub struct Preview {
    /// Who it is rendered for: "Ana (+34612345678)".
    pub contact: String,
    pub header: Option<String>,
    /// A media header, in words: "Image header (uploaded)" or "(not uploaded yet)".
    pub media: Option<String>,
    pub body: String,
    pub footer: Option<String>,
}

/// The text of a component of the template (`HEADER` of format TEXT, `BODY`, `FOOTER`).
fn component_text(template: &Template, kind: &str) -> Option<String> {
    template.components.as_array()?.iter().find_map(|c| {
        let matches = c["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(kind));
        let text_header = kind != "HEADER" || c["format"].as_str().is_none_or(|f| f.eq_ignore_ascii_case("TEXT"));
        (matches && text_header).then(|| c["text"].as_str().map(str::to_owned)).flatten()
    })
}

/// Replaces `{{param}}` in `text` with its value for `contact`.
fn fill(text: &str, component: Component, bindings: &[Binding], contact: Option<&Contact>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else { break };
        out.push_str(&rest[..start]);
        let param = rest[start + 2..start + 2 + len].trim();
        let binding = bindings.iter().find(|b| b.component == component && b.param == param);
        let value = match binding.map(|b| &b.source) {
            Some(Source::Text { value }) => value.clone(),
            Some(Source::ContactName) => {
                contact.and_then(|c| c.name.clone()).unwrap_or_else(|| i18n::t("preview-no-name-value"))
            }
            Some(Source::ValuedTag { key }) => contact
                .and_then(|c| c.valued_tags.get(key.as_str()).cloned())
                .unwrap_or_else(|| i18n::lang().t1("preview-no-valued-tag-value", "key", key.as_str())),
            None => i18n::lang().t1("preview-not-bound", "placeholder", format!("{{{{{param}}}}}")),
        };
        out.push_str(&value);
        rest = &rest[start + 2 + len + 2..];
    }
    out.push_str(rest);
    out
}

/// The preview of the campaign's message for its first contact (the first
/// test phone of a test campaign); the placeholders' sources when it has none.
pub async fn for_campaign(
    state: &AppState,
    org: OrgId,
    r: &CampaignRecord,
    template: &Template,
) -> Result<Option<Preview>, Rejection> {
    let Some(body) = component_text(template, "BODY") else { return Ok(None) };
    let sample = if r.kind() == Kind::Test {
        match r.test_phones.first() {
            Some(phone) => {
                let filter = store::contacts::ContactFilter { q: Some(phone.clone()), limit: 1, ..Default::default() };
                store::contacts::list(&state.pg, org, &filter).await?.into_iter().next()
            }
            None => None,
        }
    } else if r.audience_contacts.is_some() {
        match store::audience::first_of_campaign(&state.pg, r.id).await? {
            Some(contact) => store::contacts::get(&state.pg, org, contact).await?,
            None => None,
        }
    } else {
        let audience = super::audience::audience(r);
        if audience.is_empty() {
            None
        } else {
            store::audience::sample(&state.pg, org, &audience, 1).await?.into_iter().next()
        }
    };
    let bindings = r.bindings();
    Ok(Some(Preview {
        contact: sample.as_ref().map_or_else(
            || i18n::t("preview-no-contact"),
            |c| format!("{} ({})", c.name.clone().unwrap_or_else(|| i18n::t("preview-contact-no-name")), c.phone),
        ),
        header: component_text(template, "HEADER").map(|h| fill(&h, Component::Header, &bindings, sample.as_ref())),
        media: template.header_format.as_deref().filter(|f| *f != "TEXT").map(|f| {
            // Meta's formats (IMAGE, VIDEO, DOCUMENT, LOCATION) have their words; another reads as written.
            let kind = format!("{}{}", &f[..1], f[1..].to_lowercase());
            if r.header_media_id.is_some() {
                i18n::lang().t2("preview-media-uploaded", "format", f, "kind", kind)
            } else {
                i18n::lang().t2("preview-media-not-uploaded", "format", f, "kind", kind)
            }
        }),
        body: fill(&body, Component::Body, &bindings, sample.as_ref()),
        footer: component_text(template, "FOOTER"),
    }))
}
