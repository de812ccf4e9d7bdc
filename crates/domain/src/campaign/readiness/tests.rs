use serde_json::json;

use super::*;
use crate::campaign::State;

fn template() -> TemplateRef {
    TemplateRef {
        name: "promo".into(),
        language: "en_US".into(),
        waba_id: "W1".into(),
        status: "APPROVED".into(),
        missing: false,
        body_params: vec!["1".into(), "2".into()],
        header_format: Some(HeaderFormat::Image),
        header_params: vec![],
    }
}

fn bindings(v: serde_json::Value) -> Vec<Binding> {
    serde_json::from_value(v).expect("bindings")
}

fn codes(p: &[Problem]) -> Vec<&'static str> {
    p.iter().map(|p| p.code).collect()
}

fn complete<'a>(t: &'a TemplateRef, b: &'a [Binding], media: &'a MediaRef) -> Snapshot<'a> {
    Snapshot {
        kind: Kind::Real,
        number: Some((7, "W1")),
        audience: Audience { tags: 1, valued_tags: 0, test_contacts: 0, fixed_contacts: 0 },
        template: Some(t),
        bindings: b,
        header_media: Some(media),
        has_bot_flow: true,
    }
}

#[test]
fn a_complete_campaign_is_ready_and_an_empty_one_says_everything_missing() {
    let t = template();
    let b = bindings(json!([{"param": "1", "kind": "contact_name"}, {"param": "2", "kind": "text", "value": "X"}]));
    let media = MediaRef { kind: "image".into(), number_id: 7 };
    let ready = complete(&t, &b, &media);
    assert_eq!(problems(&ready), vec![]);
    assert_eq!(State::derive(crate::campaign::Lifecycle::Editable, &problems(&ready)), State::Ready);

    let empty = Snapshot {
        kind: Kind::Real,
        number: None,
        audience: Audience::default(),
        template: None,
        bindings: &[],
        header_media: None,
        has_bot_flow: false,
    };
    let p = problems(&empty);
    assert_eq!(codes(&p), ["number_required", "audience_required", "bot_flow_required", "template_required"]);
    assert_eq!(State::derive(crate::campaign::Lifecycle::Editable, &p), State::Draft);
    let test = Snapshot { kind: Kind::Test, ..empty.clone() };
    assert!(codes(&problems(&test)).contains(&"test_phones_required"));
    // A "Retry failed" campaign's fixed list of contacts is an audience.
    let fixed = Snapshot { audience: Audience { fixed_contacts: 3, ..Audience::default() }, ..empty };
    assert!(!codes(&problems(&fixed)).contains(&"audience_required"));
}

#[test]
fn bindings_must_cover_exactly_the_templates_placeholders() {
    let t = template();
    let media = MediaRef { kind: "image".into(), number_id: 7 };
    let b = bindings(json!([{"param": "1", "kind": "contact_name"}, {"param": "3", "kind": "contact_name"}]));
    let p = problems(&complete(&t, &b, &media));
    assert_eq!(codes(&p), ["binding_missing", "binding_not_in_template"]);
    assert!(p[0].message.contains("{{2}}"), "{}", p[0].message);
    assert!(p[1].message.contains("{{3}}") && p[1].message.contains("{{1}}, {{2}}"), "{}", p[1].message);

    let mut named = template();
    named.body_params = vec!["first_name".into()];
    let b = bindings(json!([{"param": "1", "kind": "contact_name"}]));
    let p = problems(&complete(&named, &b, &media));
    assert_eq!(codes(&p), ["binding_missing", "binding_not_in_template"], "named templates need their names");

    let mut text_header = template();
    text_header.header_format = Some(HeaderFormat::Text);
    text_header.header_params = vec!["1".into()];
    text_header.body_params = vec![];
    let b = bindings(json!([{"param": "1", "component": "header", "kind": "text", "value": "Madrid"}]));
    assert_eq!(problems(&Snapshot { header_media: None, ..complete(&text_header, &b, &media) }), vec![]);
}

#[test]
fn the_template_must_be_approved_present_and_on_the_numbers_account() {
    let media = MediaRef { kind: "image".into(), number_id: 7 };
    let b = bindings(json!([{"param": "1", "kind": "contact_name"}, {"param": "2", "kind": "contact_name"}]));
    let mut paused = template();
    paused.status = "PAUSED".into();
    let p = problems(&complete(&paused, &b, &media));
    assert_eq!(codes(&p), ["template_not_approved"]);
    assert!(p[0].message.contains("PAUSED"), "{}", p[0].message);

    let mut gone = template();
    gone.missing = true;
    assert_eq!(codes(&problems(&complete(&gone, &b, &media))), ["template_missing_at_meta"]);

    let t = template();
    let other_waba = Snapshot { number: Some((7, "W2")), ..complete(&t, &b, &media) };
    assert_eq!(codes(&problems(&other_waba)), ["template_not_on_number"]);
}

#[test]
fn header_media_must_match_the_templates_header() {
    let t = template();
    let b = bindings(json!([{"param": "1", "kind": "contact_name"}, {"param": "2", "kind": "contact_name"}]));
    let video = MediaRef { kind: "video".into(), number_id: 7 };
    let other_number = MediaRef { kind: "image".into(), number_id: 8 };
    let image = MediaRef { kind: "image".into(), number_id: 7 };
    assert_eq!(codes(&problems(&complete(&t, &b, &video))), ["header_media_kind_mismatch"]);
    assert_eq!(codes(&problems(&complete(&t, &b, &other_number))), ["header_media_other_number"]);
    let none = Snapshot { header_media: None, ..complete(&t, &b, &image) };
    assert_eq!(codes(&problems(&none)), ["header_media_required"]);

    let mut no_header = template();
    no_header.header_format = None;
    assert_eq!(codes(&problems(&complete(&no_header, &b, &image))), ["header_media_not_expected"]);
    let mut document = template();
    document.header_format = Some(HeaderFormat::Document);
    assert_eq!(codes(&problems(&complete(&document, &b, &image))), ["header_format_unsupported"]);
}
