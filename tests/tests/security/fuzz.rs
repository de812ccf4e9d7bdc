//! A fuzzer driven by the document: for every operation, requests whose
//! bodies, query strings and path parameters are generated from the
//! declared schemas (and mutations of a valid request), with a fixed seed so
//! a failure reproduces. No answer may be a 5xx; every answer must be
//! documented and match its schema ([`World::check`]).

use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use serde_json::{Map, Value, json};
use sqlx::PgPool;

use crate::{
    doc::{Doc, with_slot},
    world::{Body, Key, World},
};

/// Requests per operation.
const CASES: usize = 24;

const STRINGS: &[&str] = &[
    "",
    " ",
    "vip",
    "+34612000001",
    "0034612000001",
    "order_id",
    "A-1",
    "2026-12-31T10:00:00Z",
    "not a date",
    "https://bot.example.com/hook",
    "http://127.0.0.1:9/",
    "'; drop table contacts; --",
    "<script>alert(1)</script>",
    "%00",
    "../../etc/passwd",
    "ñandú 🚀 שלום",
    "{{1}}",
    "text",
    "contact_name",
    "valued_tag",
    "admin",
    "all",
    "any",
    "real",
    "test",
    "at_least_once",
    "APPROVED",
    "1",
    "-1",
    "99999999999999999999",
];

fn string(rng: &mut StdRng) -> Value {
    if rng.gen_bool(0.15) {
        let len = *[0usize, 1, 64, 65, 200, 201, 1025, 5000].choose(rng).unwrap_or(&1);
        return Value::String((0..len).map(|_| rng.gen_range('a'..='z')).collect());
    }
    Value::String((*STRINGS.choose(rng).unwrap_or(&"")).to_owned())
}

fn number(rng: &mut StdRng, integer: bool) -> Value {
    let pool: &[f64] = &[0.0, 1.0, -1.0, 2.0, 20.0, 1000.0, 1e6, 3_600_001.0, 2147483648.0, 9.2e18];
    let n = *pool.choose(rng).unwrap_or(&0.0);
    if integer {
        json!(if rng.gen_bool(0.1) { i64::MIN } else { n as i64 })
    } else if rng.gen_bool(0.2) {
        json!(rng.gen_range(-10.0..10.0))
    } else {
        json!(n)
    }
}

/// A value of any JSON type, to confuse a typed field.
fn anything(rng: &mut StdRng) -> Value {
    match rng.gen_range(0..6) {
        0 => Value::Null,
        1 => json!(rng.gen_bool(0.5)),
        2 => {
            let integer = rng.gen_bool(0.5);
            number(rng, integer)
        }
        3 => string(rng),
        4 => json!([string(rng)]),
        _ => json!({"x": string(rng)}),
    }
}

/// A value of `schema`, mostly well-typed, sometimes not.
fn generate(doc: &Doc, schema: &Value, rng: &mut StdRng, depth: usize) -> Value {
    let schema = doc.resolve(schema);
    if depth > 6 || rng.gen_bool(0.08) {
        return anything(rng);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(variants) = schema[key].as_array().filter(|v| !v.is_empty()) {
            let pick = &variants[rng.gen_range(0..variants.len())];
            return generate(doc, pick, rng, depth + 1);
        }
    }
    if let Some(options) = schema["enum"].as_array().filter(|e| !e.is_empty())
        && rng.gen_bool(0.8)
    {
        return options[rng.gen_range(0..options.len())].clone();
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ if schema.get("properties").is_some() => vec!["object"],
        _ => vec!["string", "integer", "object"],
    };
    match *types.choose(rng).unwrap_or(&"null") {
        "string" => string(rng),
        "integer" => number(rng, true),
        "number" => number(rng, false),
        "boolean" => json!(rng.gen_bool(0.5)),
        "array" => {
            Value::Array((0..rng.gen_range(0..4)).map(|_| generate(doc, &schema["items"], rng, depth + 1)).collect())
        }
        "object" => {
            let mut map = Map::new();
            for (name, prop) in schema["properties"].as_object().into_iter().flatten() {
                if rng.gen_bool(0.75) {
                    map.insert(name.clone(), generate(doc, prop, rng, depth + 1));
                }
            }
            if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
                for _ in 0..rng.gen_range(0..3) {
                    let key = string(rng).as_str().unwrap_or("k").to_owned();
                    map.insert(key, generate(doc, values, rng, depth + 1));
                }
            }
            if rng.gen_bool(0.1) {
                map.insert("unexpected".into(), anything(rng));
            }
            Value::Object(map)
        }
        _ => Value::Null,
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn requests_generated_from_the_document_never_get_a_server_error(pg: PgPool) {
    let w = World::build(pg).await;
    let mut rng = StdRng::seed_from_u64(20_261_206);
    let mut sent = 0;
    for op in w.doc.ops() {
        let base = w.call(&op);
        for case in 0..CASES {
            let mut call = base.clone();
            // Query: the valid one, or generated values for the declared parameters.
            if rng.gen_bool(0.6) {
                let mut pairs: Vec<(String, String)> = Vec::new();
                for (name, schema) in op.params("query") {
                    if rng.gen_bool(0.7) {
                        pairs.push((name, scalar_text(&generate(&w.doc, &schema, &mut rng, 1))));
                    }
                }
                call.query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
            }
            // Path: sometimes a generated value in place of a real one.
            if rng.gen_bool(0.25) {
                let template: Vec<&str> = op.path.split('/').collect();
                let mut segments: Vec<String> = call.path.split('/').map(str::to_owned).collect();
                for (i, part) in template.iter().enumerate() {
                    if part.starts_with('{') && rng.gen_bool(0.5) {
                        let value = scalar_text(&anything(&mut rng));
                        segments[i] = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
                    }
                }
                call.path = segments.join("/");
            }
            // Body: generated from the schema, or the valid one with one field changed.
            if let Some(schema) = op.json_body() {
                let generated = generate(&w.doc, schema, &mut rng, 0);
                call.body = match &base.body {
                    Body::Json(valid) if case % 2 == 0 => {
                        let slots = w.doc.string_slots(schema);
                        match slots.choose(&mut rng) {
                            Some(slot) => Body::Json(with_slot(valid, slot, anything(&mut rng))),
                            None => Body::Json(generated),
                        }
                    }
                    _ => Body::Json(generated),
                };
            }
            w.send(&op, Key::Bearer(&w.app.key), &call).await;
            sent += 1;
        }
    }
    assert!(sent >= 1_000, "only {sent} requests");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_answers_about_a_bare_draft_match_the_document(pg: PgPool) {
    // A campaign with nothing set: every optional field of its answers is absent or null.
    let w = World::build(pg).await;
    let (_, bare) = w.app.post("/v1/campaigns", json!({"name": "Bare"})).await;
    let id = bare["id"].as_i64().unwrap();
    let mut checked = 0;
    for op in w.doc.ops() {
        if op.method != reqwest::Method::GET || !op.path.starts_with("/v1/campaigns/{id}") {
            continue;
        }
        let call = crate::world::Call {
            path: op.path.replace("{id}", &id.to_string()),
            query: String::new(),
            body: Body::None,
        };
        let (status, body) = w.send(&op, Key::Bearer(&w.app.key), &call).await;
        assert!(status < 500, "{}: {body}", op.key());
        checked += 1;
    }
    assert!(checked >= 5, "{checked}");
}
