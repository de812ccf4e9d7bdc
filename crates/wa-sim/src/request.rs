//! The send request as received, parsed leniently so that missing or wrong
//! fields become Meta's error codes rather than generic decode failures.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::MetaError;

#[derive(Debug, Deserialize)]
pub struct SendRequest {
    #[serde(default)]
    pub messaging_product: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub template: Option<TemplateRequest>,
    #[serde(default)]
    pub biz_opaque_callback_data: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct TemplateRequest {
    pub name: String,
    pub language: LanguageRequest,
    #[serde(default)]
    pub components: Vec<ComponentRequest>,
}

#[derive(Debug, Deserialize)]
pub struct LanguageRequest {
    pub code: String,
}

#[derive(Debug, Deserialize)]
pub struct ComponentRequest {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub sub_type: Option<String>,
    /// Meta documents a string; numbers are tolerated.
    #[serde(default)]
    pub index: Option<Value>,
    #[serde(default)]
    pub parameters: Vec<Value>,
}

impl SendRequest {
    /// Bad JSON and a body that is not a send request are both code 100.
    pub fn parse(bytes: &[u8]) -> Result<Self, MetaError> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| MetaError::invalid_parameter(format!("Request body is not valid JSON: {e}")))?;
        serde_json::from_value(value).map_err(|e| MetaError::invalid_parameter(e.to_string()))
    }
}

/// A text parameter as recorded: `name` only for NAMED templates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextParam {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub text: String,
}

/// A button parameter as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ButtonParam {
    pub sub_type: String,
    pub index: String,
    /// The payload, URL suffix or coupon code.
    pub value: String,
}

/// `parameters[i]` of a body or text header: `{"type":"text","text":..,"parameter_name"?}`.
pub fn text_param(value: &Value, component: &str) -> Result<TextParam, MetaError> {
    let text = value.get("text").and_then(Value::as_str).ok_or_else(|| {
        MetaError::invalid_parameter(format!("{component}: parameters must be objects with type text and a text"))
    })?;
    check_whitespace(text)?;
    let name = value.get("parameter_name").and_then(Value::as_str).map(str::to_owned);
    Ok(TextParam { name, text: text.to_owned() })
}

/// Meta refuses newlines, tabs and more than 4 consecutive spaces in params.
pub fn check_whitespace(text: &str) -> Result<(), MetaError> {
    if text.contains(['\n', '\r', '\t']) || text.contains("     ") {
        return Err(MetaError::bad_param_whitespace());
    }
    Ok(())
}

pub fn button_param(component: &ComponentRequest) -> Result<Vec<ButtonParam>, MetaError> {
    let sub_type = component.sub_type.clone().unwrap_or_default();
    let index = match &component.index {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(MetaError::invalid_parameter("button: index is required")),
    };
    component
        .parameters
        .iter()
        .map(|p| {
            let value =
                ["payload", "text", "coupon_code"].iter().find_map(|k| p.get(k).and_then(Value::as_str)).ok_or_else(
                    || MetaError::invalid_parameter("button: parameter needs a payload, text or coupon_code"),
                )?;
            check_whitespace(value)?;
            Ok(ButtonParam { sub_type: sub_type.clone(), index: index.clone(), value: value.to_owned() })
        })
        .collect()
}

/// The digits of `to`, which Meta returns as `wa_id`.
pub fn wa_id(to: &str) -> Result<String, MetaError> {
    let digits: String = to.chars().filter(char::is_ascii_digit).collect();
    let allowed = to.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c));
    if digits.len() < 5 || digits.len() > 15 || !allowed {
        return Err(MetaError::invalid_parameter(format!("Invalid parameter 'to': {to}")));
    }
    Ok(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_rules_match_metas() {
        assert!(check_whitespace("a    b").is_ok());
        assert_eq!(check_whitespace("a     b").map_err(|e| e.code), Err(132018));
        assert_eq!(check_whitespace("a\nb").map_err(|e| e.code), Err(132018));
        assert_eq!(check_whitespace("a\tb").map_err(|e| e.code), Err(132018));
    }

    #[test]
    fn wa_id_keeps_only_digits() {
        assert_eq!(wa_id("+34 612-345 (678)").ok().as_deref(), Some("34612345678"));
        assert!(wa_id("hello").is_err());
        assert!(wa_id("+1").is_err());
    }

    #[test]
    fn bad_json_is_code_100() {
        assert_eq!(SendRequest::parse(b"{nope").map(|_| ()).map_err(|e| e.code), Err(100));
    }
}
