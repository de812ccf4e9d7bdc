//! The OpenAPI document the suite is driven by: its operations, the string
//! fields each declares, the status codes each documents, and validation of
//! answers against the documented schemas.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// One operation of the document.
#[derive(Debug, Clone)]
pub struct Op {
    pub method: reqwest::Method,
    /// As the document spells it, e.g. `/v1/contacts/{id}`.
    pub path: String,
    pub spec: Value,
}

impl Op {
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Needs an API key.
    pub fn secured(&self) -> bool {
        self.spec["security"].as_array().is_some_and(|s| !s.is_empty())
    }

    /// Needs an API key with the `admin` scope.
    pub fn admin(&self) -> bool {
        self.spec["security"].as_array().into_iter().flatten().any(|req| {
            req.as_object()
                .into_iter()
                .flatten()
                .any(|(_, scopes)| scopes.as_array().is_some_and(|s| s.iter().any(|x| x == "admin")))
        })
    }

    pub fn params(&self, location: &str) -> Vec<(String, Value)> {
        self.spec["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == location)
            .map(|p| (p["name"].as_str().unwrap_or_default().to_owned(), p["schema"].clone()))
            .collect()
    }

    /// The JSON request body's schema, if the operation takes one.
    pub fn json_body(&self) -> Option<&Value> {
        self.spec.pointer("/requestBody/content/application~1json/schema")
    }

    pub fn documents(&self, status: u16) -> bool {
        self.spec["responses"].get(status.to_string()).is_some()
    }
}

/// The document, with its components to resolve `$ref`s.
#[derive(Debug, Clone)]
pub struct Doc {
    pub raw: Value,
}

impl Doc {
    pub fn new(raw: Value) -> Self {
        Self { raw }
    }

    pub fn ops(&self) -> Vec<Op> {
        let mut ops = Vec::new();
        for (path, item) in self.raw["paths"].as_object().into_iter().flatten() {
            for (method, spec) in item.as_object().into_iter().flatten() {
                let Ok(method) = method.to_ascii_uppercase().parse::<reqwest::Method>() else { continue };
                ops.push(Op { method, path: path.clone(), spec: spec.clone() });
            }
        }
        ops
    }

    /// Follows `$ref`s to a schema with content.
    pub fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        let mut schema = schema;
        for _ in 0..16 {
            match schema.get("$ref").and_then(Value::as_str) {
                Some(r) => schema = self.raw.pointer(r.trim_start_matches('#')).unwrap_or(&Value::Null),
                None => break,
            }
        }
        schema
    }

    /// Every string a body of `schema` can hold, as a path of object keys
    /// and array indexes (`["contacts", 0, "name"]`); a map's values are
    /// reached through the key `"k"`.
    pub fn string_slots(&self, schema: &Value) -> Vec<Vec<Step>> {
        let mut out = Vec::new();
        self.walk(schema, &mut Vec::new(), &mut out, 0);
        out.sort();
        out.dedup();
        out
    }

    fn walk(&self, schema: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>, depth: usize) {
        if depth > 12 {
            return;
        }
        let schema = self.resolve(schema);
        for key in ["oneOf", "anyOf", "allOf"] {
            for variant in schema[key].as_array().into_iter().flatten() {
                self.walk(variant, at, out, depth + 1);
            }
        }
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if types.contains(&"string") {
            out.push(at.clone());
        }
        if types.contains(&"array") {
            at.push(Step::Index(0));
            self.walk(&schema["items"], at, out, depth + 1);
            at.pop();
        }
        if types.contains(&"object") || schema.get("properties").is_some() {
            for (name, prop) in schema["properties"].as_object().into_iter().flatten() {
                at.push(Step::Key(name.clone()));
                self.walk(prop, at, out, depth + 1);
                at.pop();
            }
            if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
                at.push(Step::Key("k".to_owned()));
                self.walk(values, at, out, depth + 1);
                at.pop();
            }
        }
    }

    /// A self-contained JSON Schema for the answer `status` of `op`
    /// (`components/schemas` copied in as `$defs`); `None` when the
    /// document gives no JSON schema for it.
    pub fn answer_schema(&self, op: &Op, status: u16) -> Option<Value> {
        let schema = op.spec.pointer(&format!("/responses/{status}/content/application~1json/schema"))?;
        let mut defs = self.raw.pointer("/components/schemas").cloned().unwrap_or_else(|| json!({}));
        rewrite_refs(&mut defs);
        let mut schema = schema.clone();
        rewrite_refs(&mut schema);
        let mut root = Map::new();
        root.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
        root.insert("$defs".into(), defs);
        root.insert("allOf".into(), json!([schema]));
        Some(Value::Object(root))
    }

    /// The schema violations of `body` as the answer `status` of `op`.
    pub fn violations(&self, op: &Op, status: u16, body: &Value) -> Vec<String> {
        let Some(schema) = self.answer_schema(op, status) else { return Vec::new() };
        match jsonschema::validator_for(&schema) {
            Ok(validator) => validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).collect(),
            Err(e) => vec![format!("the documented schema does not compile: {e}")],
        }
    }
}

fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref")
                && let Some(name) = r.strip_prefix("#/components/schemas/")
            {
                *r = format!("#/$defs/{name}");
            }
            for v in map.values_mut() {
                rewrite_refs(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

/// One step into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// `body` with the string at `slot` replaced by `value` (the path is created
/// where `body` lacks it).
pub fn with_slot(body: &Value, slot: &[Step], value: Value) -> Value {
    fn set(at: &mut Value, slot: &[Step], value: Value) {
        let Some((first, rest)) = slot.split_first() else {
            *at = value;
            return;
        };
        match first {
            Step::Key(k) => {
                if !at.is_object() {
                    *at = json!({});
                }
                let child = at.as_object_mut().map(|m| m.entry(k.clone()).or_insert(Value::Null));
                if let Some(child) = child {
                    set(child, rest, value);
                }
            }
            Step::Index(i) => {
                if !at.is_array() {
                    *at = json!([]);
                }
                if let Some(items) = at.as_array_mut() {
                    while items.len() <= *i {
                        items.push(Value::Null);
                    }
                    set(&mut items[*i], rest, value);
                }
            }
        }
    }
    let mut body = body.clone();
    set(&mut body, slot, value);
    body
}

/// How a slot reads in a message: `contacts[0].name`.
pub fn slot_name(slot: &[Step]) -> String {
    let mut out = String::new();
    for step in slot {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Statuses seen per operation, reported when a test fails.
pub type Seen = BTreeMap<String, Vec<u16>>;
