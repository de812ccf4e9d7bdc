use super::*;
use crate::error::ErrorClass;

fn parse(fixture: &str) -> WebhookPayload {
    serde_json::from_str(fixture).expect("fixture parses")
}

fn messages_value(change: &Change) -> &MessagesValue {
    match change {
        Change::Messages(value) => value,
        other => panic!("expected a messages change, got {other:?}"),
    }
}

#[test]
fn status_batch_across_several_entries() {
    let payload = parse(include_str!("../../fixtures/webhooks/status_batch.json"));
    assert_eq!(payload.object, "whatsapp_business_account");
    let statuses: Vec<&Status> =
        payload.entry.iter().flat_map(|e| &e.changes).flat_map(|c| &messages_value(c).statuses).collect();
    let kinds: Vec<DeliveryStatus> = statuses.iter().map(|s| s.status).collect();
    assert_eq!(kinds, [DeliveryStatus::Sent, DeliveryStatus::Delivered, DeliveryStatus::Read]);

    let sent = statuses[0];
    assert_eq!(sent.unix_seconds(), Some(1750030073));
    assert_eq!(sent.recipient_id.as_deref(), Some("16505551234"));
    assert_eq!(sent.biz_opaque_callback_data.as_deref(), Some("campaign=7;row=42"));
    let conversation = sent.conversation.as_ref().expect("conversation on sent");
    assert_eq!(conversation.expiration_timestamp.as_deref(), Some("1750116480"));
    assert_eq!(conversation.origin.as_ref().and_then(|o| o.kind.as_deref()), Some("marketing"));
    let pricing = sent.pricing.as_ref().expect("pricing on sent");
    assert_eq!((pricing.billable, pricing.category.as_deref()), (Some(true), Some("marketing")));
    assert_eq!((pricing.pricing_model.as_deref(), pricing.kind.as_deref()), (Some("PMP"), Some("regular")));

    let read = statuses[2];
    assert_eq!((&read.pricing, &read.conversation, read.errors.len()), (&None, &None, 0));
    let metadata = &messages_value(&payload.entry[1].changes[0]).metadata;
    assert_eq!(metadata.phone_number_id, "106540352242922");
}

#[test]
fn failed_status_carries_a_classifiable_error() {
    let payload = parse(include_str!("../../fixtures/webhooks/status_failed.json"));
    let status = &messages_value(&payload.entry[0].changes[0]).statuses[0];
    assert_eq!(status.status, DeliveryStatus::Failed);
    assert_eq!(status.pricing, None);
    let error = &status.errors[0];
    assert_eq!((error.code, error.title.as_str()), (131026, "Message undeliverable"));
    assert_eq!(error.classify().stable_code, "not_whatsapp_user");
    assert_eq!(error.classify().class, ErrorClass::Permanent);
}

#[test]
fn template_button_reply_links_back_to_our_message() {
    let payload = parse(include_str!("../../fixtures/webhooks/button_reply.json"));
    let value = messages_value(&payload.entry[0].changes[0]);
    assert_eq!(value.contacts[0].wa_id.as_deref(), Some("16505551234"));
    assert_eq!(value.contacts[0].profile.as_ref().and_then(|p| p.name.as_deref()), Some("Sheena Nelson"));
    let message = &value.messages[0];
    assert_eq!(message.kind, MessageType::Button);
    let context = message.context.as_ref().expect("context");
    assert_eq!(context.id, "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJBQkNERUYwMTIzNDU2Nzg5AA==");
    assert_eq!(context.from.as_deref(), Some("15550783881"));
    let button = message.button.as_ref().expect("button");
    assert_eq!((button.payload.as_deref(), button.text.as_deref()), (Some("STOP_PROMO"), Some("Stop promotions")));
}

#[test]
fn text_interactive_media_unsupported_and_system_messages() {
    let payload = parse(include_str!("../../fixtures/webhooks/inbound_mixed.json"));
    let value = messages_value(&payload.entry[0].changes[0]);
    assert_eq!(value.contacts[1].wa_id, None);
    assert_eq!(value.contacts[1].user_id.as_deref(), Some("US.13491208655302741918"));
    let [text, list, button, image, unsupported, system] = value.messages.as_slice() else {
        panic!("expected six messages, got {}", value.messages.len());
    };

    assert_eq!(text.kind, MessageType::Text);
    assert_eq!(text.text.as_ref().map(|t| t.body.as_str()), Some("Does it come in another color?"));
    assert_eq!(text.context, None);

    let Some(Interactive::ListReply { list_reply }) = &list.interactive else { panic!("list reply: {list:?}") };
    assert_eq!(list_reply.id, "priority_express");
    assert_eq!(list_reply.description.as_deref(), Some("Next Day to 2 Days"));
    let Some(Interactive::ButtonReply { button_reply }) = &button.interactive else { panic!("button: {button:?}") };
    assert_eq!((button_reply.id.as_str(), button_reply.title.as_str()), ("cancel-button", "Cancel"));
    assert_eq!(button_reply.description, None);
    assert!(button.context.is_some());

    let media = image.image.as_ref().expect("image");
    assert_eq!((media.id.as_str(), media.mime_type.as_deref()), ("1003383421387256", Some("image/jpeg")));
    assert_eq!(media.caption.as_deref(), Some("the red one"));

    assert_eq!(unsupported.kind, MessageType::Unsupported);
    assert_eq!(unsupported.from, None);
    assert_eq!(unsupported.from_user_id.as_deref(), Some("US.13491208655302741918"));
    assert_eq!(unsupported.errors[0].code, 131051);

    let event = system.system.as_ref().expect("system");
    assert_eq!((event.kind.as_deref(), event.wa_id.as_deref()), (Some("user_changed_number"), Some("16505559999")));
}

#[test]
fn template_status_update() {
    let payload = parse(include_str!("../../fixtures/webhooks/template_status_update.json"));
    assert_eq!(payload.entry[0].time, Some(1751247548));
    let Change::TemplateStatus(update) = &payload.entry[0].changes[0] else {
        panic!("expected a template status update");
    };
    assert_eq!(update.event, "PAUSED");
    assert_eq!(update.message_template_id, "1689556908129832");
    assert_eq!(update.message_template_name, "order_confirmation");
    assert_eq!(update.message_template_language, "en_US");
    assert_eq!(update.reason, None);
    assert_eq!(update.message_template_category.as_deref(), Some("UTILITY"));
}

#[test]
fn unknown_fields_values_and_change_kinds_do_not_break_parsing() {
    let payload = parse(include_str!("../../fixtures/webhooks/unknown_extras.json"));
    let changes = &payload.entry[0].changes;
    let Change::Other { field, value } = &changes[0] else { panic!("expected an unknown change kind") };
    assert_eq!(field, "user_preferences");
    assert_eq!(value["user_preferences"][0]["value"], "stop");

    let value = messages_value(&changes[1]);
    let status = &value.statuses[0];
    assert_eq!(status.status, DeliveryStatus::Unknown);
    assert_eq!(
        (status.recipient_id.as_deref(), status.recipient_user_id.as_deref()),
        (None, Some("US.13491208655302741918"))
    );
    assert_eq!(status.pricing.as_ref().and_then(|p| p.billable), None);
    assert_eq!(value.messages[0].kind, MessageType::Other);
    assert_eq!(value.messages[1].interactive, Some(Interactive::Other));
    assert_eq!(value.errors[0].classify().stable_code, "rate_limited");
}

#[test]
fn a_known_field_with_a_broken_value_is_an_error() {
    let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[
        {"field":"messages","value":{"statuses":[]}}]}]}"#;
    let err = serde_json::from_str::<WebhookPayload>(body).expect_err("metadata is required");
    assert!(err.to_string().contains("metadata"), "{err}");
}

#[test]
fn a_business_capability_update_carries_the_portfolios_messaging_limit() {
    let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","time":1765000042,
        "changes":[{"field":"business_capability_update","value":{"max_daily_conversation_per_phone":2000,
        "max_daily_conversations_per_business":100000,"max_phone_numbers_per_business":2,"unknown":true}}]}]}"#;
    let payload: WebhookPayload = serde_json::from_str(body).unwrap();
    let Change::Capability(c) = &payload.entry[0].changes[0] else { panic!("{payload:?}") };
    assert_eq!(
        (c.max_daily_conversations_per_business, c.max_daily_conversation_per_phone),
        (Some(100_000), Some(2000))
    );
    let unlimited = body.replace("100000", "-1");
    let payload: WebhookPayload = serde_json::from_str(&unlimited).unwrap();
    assert!(
        matches!(&payload.entry[0].changes[0], Change::Capability(c) if c.max_daily_conversations_per_business == Some(-1))
    );
}
