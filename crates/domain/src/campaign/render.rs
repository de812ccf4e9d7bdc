//! Turning a recipient's frozen values into the template's parameters, at
//! send time. Planning froze what the bindings read from the contact (its
//! name and valued tags); the bindings cannot change once the campaign is
//! active, so this gives exactly the parameters the forecast promised.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Binding, Component, Exclusion, Source, check_param_value};

/// What planning froze for one recipient (`recipients.params`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct FrozenValues {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub valued_tags: BTreeMap<String, String>,
}

/// One placeholder's value, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub component: Component,
    /// `1` or `first_name`: the position or the name, per the template's format.
    pub param: String,
    pub text: String,
}

/// The parameters of one message: header first, then the body, each in
/// placeholder order (numeric for positional templates, binding order for
/// named ones). A value Meta would refuse is an [`Exclusion`], never sent
/// empty; planning already excluded those contacts, so this only
/// happens if the rules changed in between.
pub fn render(bindings: &[Binding], values: &FrozenValues) -> Result<Vec<Param>, Exclusion> {
    let mut params = Vec::with_capacity(bindings.len());
    for b in bindings {
        let text = match &b.source {
            Source::Text { value } => value.clone(),
            Source::ContactName => {
                let name = values.name.as_deref().filter(|n| !n.trim().is_empty()).ok_or(Exclusion::MissingName)?;
                check_param_value(name).map_err(|_| Exclusion::InvalidName)?;
                name.to_owned()
            }
            Source::ValuedTag { key } => {
                let key = key.as_str();
                let value =
                    values.valued_tags.get(key).ok_or_else(|| Exclusion::MissingValuedTag { key: key.to_owned() })?;
                check_param_value(value).map_err(|_| Exclusion::InvalidParamValue { key: key.to_owned() })?;
                value.clone()
            }
        };
        params.push(Param { component: b.component, param: b.param.clone(), text });
    }
    params.sort_by(|a, b| {
        let position = |p: &Param| p.param.parse::<u32>().unwrap_or(u32::MAX);
        (a.component != Component::Header, position(a)).cmp(&(b.component != Component::Header, position(b)))
    });
    Ok(params)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bindings(v: serde_json::Value) -> Vec<Binding> {
        serde_json::from_value(v).expect("bindings")
    }

    fn values(v: serde_json::Value) -> FrozenValues {
        serde_json::from_value(v).expect("values")
    }

    #[test]
    fn every_binding_kind_renders_in_placeholder_order_header_first() {
        let b = bindings(json!([
            {"param": "10", "kind": "text", "value": "ten"},
            {"param": "2", "kind": "valued_tag", "key": "order_id"},
            {"param": "1", "kind": "contact_name"},
            {"param": "1", "component": "header", "kind": "text", "value": "Madrid"},
        ]));
        let v = values(json!({"name": "Ana", "valued_tags": {"order_id": "A-1", "other": "x"}}));
        let texts: Vec<(Component, String, String)> =
            render(&b, &v).expect("renders").into_iter().map(|p| (p.component, p.param, p.text)).collect();
        assert_eq!(
            texts,
            [
                (Component::Header, "1".into(), "Madrid".into()),
                (Component::Body, "1".into(), "Ana".into()),
                (Component::Body, "2".into(), "A-1".into()),
                (Component::Body, "10".into(), "ten".into()),
            ]
        );
        let named = bindings(
            json!([{"param": "last", "kind": "text", "value": "b"}, {"param": "first", "kind": "contact_name"}]),
        );
        let names: Vec<String> = render(&named, &v).expect("renders").into_iter().map(|p| p.param).collect();
        assert_eq!(names, ["last", "first"], "named placeholders keep the bindings' order");
    }

    #[test]
    fn a_value_meta_would_refuse_is_an_exclusion_never_an_empty_parameter() {
        let b =
            bindings(json!([{"param": "1", "kind": "contact_name"}, {"param": "2", "kind": "valued_tag", "key": "k"}]));
        let cases = [
            (json!({"valued_tags": {"k": "v"}}), Exclusion::MissingName),
            (json!({"name": "  ", "valued_tags": {"k": "v"}}), Exclusion::MissingName),
            (json!({"name": "a     b", "valued_tags": {"k": "v"}}), Exclusion::InvalidName),
            (json!({"name": "Ana"}), Exclusion::MissingValuedTag { key: "k".into() }),
            (
                json!({"name": "Ana", "valued_tags": {"k": "two\nlines"}}),
                Exclusion::InvalidParamValue { key: "k".into() },
            ),
        ];
        for (v, expected) in cases {
            assert_eq!(render(&b, &values(v.clone())), Err(expected), "{v}");
        }
    }
}
