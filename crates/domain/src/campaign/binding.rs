//! How each template placeholder gets its value: the same free text for
//! everyone, the contact's name, or one of the contact's valued tags.

use serde::{Deserialize, Serialize};

use crate::ValuedTagKey;

/// Which part of the template a placeholder is in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    #[default]
    Body,
    /// A TEXT header's one placeholder.
    Header,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Body => "body",
            Self::Header => "header",
        }
    }

    fn is_body(&self) -> bool {
        *self == Self::Body
    }
}

/// Where a placeholder's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Source {
    /// The same value for every recipient; checked when it is set.
    Text { value: String },
    /// The contact's name; contacts without one are not sent to.
    ContactName,
    /// The contact's value for `key`; contacts without it are not sent to.
    ValuedTag { key: ValuedTagKey },
}

/// One placeholder's binding: `{"param": "1", "kind": "valued_tag", "key": "customer_id"}`.
/// `component` is `body` unless given as `header`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    #[serde(default, skip_serializing_if = "Component::is_body")]
    pub component: Component,
    /// The placeholder: `1` for `{{1}}`, `first_name` for `{{first_name}}`.
    pub param: String,
    #[serde(flatten)]
    pub source: Source,
}

/// Why a binding list was refused as input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    #[error(
        "bindings[{index}].param {param:?} is not a placeholder name: use the digits of {{{{1}}}} or the lowercase name of {{{{first_name}}}}"
    )]
    InvalidParam { index: usize, param: String },
    #[error("bindings[{index}] binds the {component} placeholder {param:?} a second time")]
    Duplicate { index: usize, component: &'static str, param: String },
    #[error("bindings[{index}].value: {problem}")]
    InvalidValue { index: usize, problem: ParamValueProblem },
    #[error("at most {max} bindings")]
    TooMany { max: usize },
}

impl BindingError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidParam { .. } => "invalid_binding_param",
            Self::Duplicate { .. } => "duplicate_binding",
            Self::InvalidValue { .. } => "invalid_param_value",
            Self::TooMany { .. } => "too_many_bindings",
        }
    }

    /// The offending field, as a path into the request.
    pub fn field(&self) -> String {
        match self {
            Self::InvalidParam { index, .. } | Self::Duplicate { index, .. } => format!("bindings[{index}].param"),
            Self::InvalidValue { index, .. } => format!("bindings[{index}].value"),
            Self::TooMany { .. } => "bindings".to_owned(),
        }
    }
}

/// Templates have at most a header placeholder and a body of 1,024
/// characters; more bindings than this is not a template.
const MAX_BINDINGS: usize = 100;

impl Binding {
    /// Checks a list as given by an operator: placeholder names, free-text
    /// values Meta would accept, each placeholder bound once. Whether the
    /// list fits the chosen template is a readiness question ([`super::problems`]).
    pub fn check_list(bindings: &[Binding]) -> Result<(), BindingError> {
        if bindings.len() > MAX_BINDINGS {
            return Err(BindingError::TooMany { max: MAX_BINDINGS });
        }
        let mut seen = std::collections::HashSet::new();
        for (index, b) in bindings.iter().enumerate() {
            let valid_name = !b.param.is_empty()
                && b.param.len() <= 64
                && b.param.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
            if !valid_name {
                return Err(BindingError::InvalidParam { index, param: b.param.clone() });
            }
            if !seen.insert((b.component, b.param.as_str())) {
                return Err(BindingError::Duplicate { index, component: b.component.as_str(), param: b.param.clone() });
            }
            if let Source::Text { value } = &b.source {
                check_param_value(value).map_err(|problem| BindingError::InvalidValue { index, problem })?;
            }
        }
        Ok(())
    }
}

/// Why Meta would refuse a text parameter (error 132018 and friends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParamValueProblem {
    #[error("the value is empty or only white space")]
    Empty,
    #[error("the value contains a new-line or tab character")]
    NewlineOrTab,
    #[error("the value has more than four consecutive spaces")]
    TooManySpaces,
    #[error("the value is longer than 1024 characters")]
    TooLong,
}

/// Meta's rule for text parameters: not empty, no new-line or tab, at most
/// four consecutive spaces. The body itself holds at most 1,024 characters.
/// The same rule is applied in SQL to per-contact values (see the
/// `campaign_audience` function in `migrations/`).
pub fn check_param_value(value: &str) -> Result<(), ParamValueProblem> {
    if value.trim().is_empty() {
        return Err(ParamValueProblem::Empty);
    }
    if value.contains(['\n', '\r', '\t']) {
        return Err(ParamValueProblem::NewlineOrTab);
    }
    if value.contains("     ") {
        return Err(ParamValueProblem::TooManySpaces);
    }
    if value.chars().count() > 1024 {
        return Err(ParamValueProblem::TooLong);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_meta_would_reject_are_named() {
        assert_eq!(check_param_value(""), Err(ParamValueProblem::Empty));
        assert_eq!(check_param_value("   "), Err(ParamValueProblem::Empty));
        assert_eq!(check_param_value("a\nb"), Err(ParamValueProblem::NewlineOrTab));
        assert_eq!(check_param_value("a\tb"), Err(ParamValueProblem::NewlineOrTab));
        assert_eq!(check_param_value("a     b"), Err(ParamValueProblem::TooManySpaces));
        assert_eq!(check_param_value(&"x".repeat(1025)), Err(ParamValueProblem::TooLong));
        assert_eq!(check_param_value("a    b"), Ok(()), "four spaces are allowed");
        assert_eq!(check_param_value("Ana María"), Ok(()));
    }

    #[test]
    fn bindings_round_trip_through_their_json_shape() {
        let raw = json!([
            {"param": "1", "kind": "contact_name"},
            {"param": "2", "kind": "valued_tag", "key": "Customer_ID"},
            {"param": "1", "component": "header", "kind": "text", "value": "Madrid"},
        ]);
        let list: Vec<Binding> = serde_json::from_value(raw).expect("parses");
        assert_eq!(list[1].source, Source::ValuedTag { key: ValuedTagKey::parse("customer_id").expect("key") });
        assert_eq!(list[2].component, Component::Header);
        let back = serde_json::to_value(&list).expect("serialises");
        assert_eq!(back[1], json!({"param": "2", "kind": "valued_tag", "key": "customer_id"}));
        assert!(back[0].get("component").is_none(), "body is the default and is left out");
        assert!(Binding::check_list(&list).is_ok());
    }

    #[test]
    fn malformed_bindings_are_refused_with_the_index() {
        let parse = |v| serde_json::from_value::<Vec<Binding>>(v);
        assert!(parse(json!([{"param": "1", "kind": "nickname"}])).is_err(), "unknown kind");
        assert!(parse(json!([{"param": "1", "kind": "valued_tag", "key": "9bad"}])).is_err(), "bad key");
        assert!(parse(json!([{"param": "1", "kind": "text"}])).is_err(), "text needs a value");

        let list: Vec<Binding> =
            parse(json!([{"param": "1", "kind": "contact_name"}, {"param": "1", "kind": "contact_name"}])).expect("ok");
        assert!(matches!(Binding::check_list(&list), Err(BindingError::Duplicate { index: 1, .. })));
        let list: Vec<Binding> = parse(json!([{"param": "{{1}}", "kind": "contact_name"}])).expect("ok");
        assert_eq!(Binding::check_list(&list).map_err(|e| e.field()), Err("bindings[0].param".to_owned()));
        let list: Vec<Binding> = parse(json!([{"param": "1", "kind": "text", "value": "a\tb"}])).expect("ok");
        let err = Binding::check_list(&list).expect_err("tab");
        assert_eq!((err.code(), err.field()), ("invalid_param_value", "bindings[0].value".to_owned()));
    }
}
