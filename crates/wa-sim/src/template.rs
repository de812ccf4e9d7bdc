//! Configured templates: checking a send against one, and rendering one the
//! way `GET /{waba_id}/message_templates` lists it.

use serde_json::{Value, json};

use crate::{
    config::{HeaderFormat, ParameterFormat, TemplateConfig},
    error::MetaError,
    request::{ButtonParam, TemplateRequest, TextParam, button_param, text_param},
};

/// The parameters of an accepted send, in the order they were given.
#[derive(Debug, Default)]
pub struct Filled {
    pub header: Vec<Value>,
    pub body: Vec<TextParam>,
    pub buttons: Vec<ButtonParam>,
}

/// The distinct placeholder names of a text, in order of first use:
/// `{{1}}` gives "1", `{{first_name}}` gives "first_name".
pub fn placeholders(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim().to_owned();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
        rest = &after[end + 2..];
    }
    names
}

/// Checks the send's components against the template, as Meta does.
pub fn fill(template: &TemplateConfig, request: &TemplateRequest) -> Result<Filled, MetaError> {
    match template.status.as_str() {
        "APPROVED" => {}
        "PAUSED" => return Err(MetaError::template_paused(&template.name)),
        "DISABLED" => return Err(MetaError::template_disabled(&template.name)),
        _ => return Err(MetaError::template_missing(&template.name, &template.language)),
    }
    let mut filled = Filled::default();
    for component in &request.components {
        match component.kind.to_ascii_lowercase().as_str() {
            "body" => {
                for p in &component.parameters {
                    filled.body.push(text_param(p, "body")?);
                }
            }
            "header" => filled.header.extend(component.parameters.iter().cloned()),
            "button" => filled.buttons.extend(button_param(component)?),
            other => return Err(MetaError::invalid_parameter(format!("Unknown component type: {other}"))),
        }
    }
    check_texts("body", template.parameter_format, &placeholders(&template.body), &filled.body)?;
    check_header(template, &filled.header)?;
    Ok(filled)
}

fn check_texts(
    component: &str,
    format: ParameterFormat,
    expected: &[String],
    given: &[TextParam],
) -> Result<(), MetaError> {
    if expected.len() != given.len() {
        return Err(MetaError::parameter_mismatch(format!(
            "{component}: number of localizable_params ({}) does not match the expected number of params ({})",
            given.len(),
            expected.len()
        )));
    }
    if format == ParameterFormat::Named {
        for p in given {
            let name = p.name.as_deref().unwrap_or_default();
            if !expected.iter().any(|e| e == name) {
                return Err(MetaError::parameter_mismatch(format!(
                    "{component}: parameter_name '{name}' is not a parameter of the template"
                )));
            }
        }
    }
    Ok(())
}

fn check_header(template: &TemplateConfig, given: &[Value]) -> Result<(), MetaError> {
    let mismatch = |expected: &str| {
        MetaError::invalid_parameter(format!("header: Format mismatch, expected {expected}, received {}", given.len()))
    };
    match template.header_format {
        None if given.is_empty() => Ok(()),
        None => Err(MetaError::parameter_mismatch("header: the template has no header parameters")),
        Some(HeaderFormat::Text) => {
            let texts = given.iter().map(|p| text_param(p, "header")).collect::<Result<Vec<_>, _>>()?;
            let expected = placeholders(template.header_text.as_deref().unwrap_or_default());
            check_texts("header", template.parameter_format, &expected, &texts)
        }
        Some(media) => {
            let key = match media {
                HeaderFormat::Image => "image",
                HeaderFormat::Video => "video",
                _ => "document",
            };
            let ok = given.len() == 1
                && given[0].get("type").and_then(Value::as_str) == Some(key)
                && given[0].get(key).is_some_and(|m| m.get("id").is_some() != m.get("link").is_some());
            if ok { Ok(()) } else { Err(mismatch(&key.to_ascii_uppercase())) }
        }
    }
}

/// The template as the listing endpoint shows it.
pub fn listing(template: &TemplateConfig, id: &str) -> Value {
    let mut components = Vec::new();
    if let Some(format) = template.header_format {
        let mut header = json!({"type": "HEADER", "format": format});
        if let Some(text) = &template.header_text {
            header["text"] = json!(text);
        }
        components.push(header);
    }
    components.push(json!({"type": "BODY", "text": template.body}));
    if let Some(footer) = &template.footer {
        components.push(json!({"type": "FOOTER", "text": footer}));
    }
    if !template.quick_replies.is_empty() {
        let buttons: Vec<Value> =
            template.quick_replies.iter().map(|t| json!({"type": "QUICK_REPLY", "text": t})).collect();
        components.push(json!({"type": "BUTTONS", "buttons": buttons}));
    }
    json!({
        "name": template.name,
        "parameter_format": template.parameter_format,
        "language": template.language,
        "status": template.status,
        "category": template.category,
        "id": id,
        "components": components,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_distinct_and_ordered() {
        assert_eq!(placeholders("Hi {{1}}, code {{2}} ({{1}})"), ["1", "2"]);
        assert_eq!(placeholders("Hi {{first_name}}, {{ code }}"), ["first_name", "code"]);
        assert!(placeholders("no params {{").is_empty());
    }
}
