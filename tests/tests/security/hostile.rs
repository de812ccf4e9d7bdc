//! Hostile input on every text field the document declares: JSON bodies,
//! query strings and path segments, plus CSV cells and headers, deeply
//! nested and oversized bodies. Every one is a 4xx, never a 5xx (and,
//! through [`World::check`], documented).

use sqlx::PgPool;

use crate::{
    doc::{slot_name, with_slot},
    world::{Body, Call, Key, World, short},
};

/// Hostile strings as raw JSON literals (a lone surrogate has no other form).
fn hostile_literals() -> Vec<(&'static str, String)> {
    vec![
        ("a NUL", r#""a\u0000b""#.to_owned()),
        ("a control character", r#""a\u0001b""#.to_owned()),
        ("an escape sequence", r#""\u001b[31mred""#.to_owned()),
        ("a lone surrogate", r#""\ud800""#.to_owned()),
        ("a right-to-left override", r#""abc\u202edcba""#.to_owned()),
        ("100 KB", format!("\"{}\"", "x".repeat(100_000))),
    ]
}

/// The same, as text for CSV cells, query strings and path segments (a URL
/// is at most 64 KB, so the long one is 60 KB there).
fn hostile_texts(long: usize) -> Vec<(&'static str, String)> {
    vec![
        ("a NUL", "a\0b".to_owned()),
        ("a control character", "a\u{1}b".to_owned()),
        ("an escape sequence", "\u{1b}[31mred".to_owned()),
        ("a right-to-left override", "abc\u{202e}dcba".to_owned()),
        ("a long text", "x".repeat(long)),
    ]
}

/// The longest text put in a URL.
const URL_TEXT: usize = 60_000;

fn is_refusal(status: u16) -> bool {
    (400..500).contains(&status)
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn hostile_text_in_every_json_field_is_refused(pg: PgPool) {
    let w = World::build(pg).await;
    let mut fields = 0;
    for op in w.doc.ops() {
        let (Some(schema), Body::Json(base)) = (op.json_body().cloned(), w.call(&op).body) else { continue };
        let call = w.call(&op);
        for slot in w.doc.string_slots(&schema) {
            fields += 1;
            let marked = serde_json::to_string(&with_slot(&base, &slot, "__HOSTILE__".into())).unwrap();
            for (what, literal) in hostile_literals() {
                let raw = marked.replace("\"__HOSTILE__\"", &literal);
                let hostile = Call {
                    body: Body::Raw { content_type: "application/json", bytes: raw.into_bytes() },
                    ..call.clone()
                };
                let (status, body) = w.send(&op, Key::Bearer(&w.app.key), &hostile).await;
                assert!(
                    is_refusal(status),
                    "{} with {what} in {}: {status} {}",
                    op.key(),
                    slot_name(&slot),
                    short(&body.to_string())
                );
            }
        }
    }
    assert!(fields >= 40, "only {fields} text fields in the document's request bodies");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn hostile_text_in_every_query_and_path_parameter_is_refused(pg: PgPool) {
    let w = World::build(pg).await;
    let mut params = 0;
    for op in w.doc.ops() {
        let call = w.call(&op);
        let text_params = |location| {
            op.params(location).into_iter().filter(|(_, s)| {
                let s = w.doc.resolve(s);
                s["type"] == "string"
                    || s["type"].as_array().is_some_and(|t| t.contains(&"string".into()))
                    || s["items"]["type"] == "string"
            })
        };
        for (name, _) in text_params("query").collect::<Vec<_>>() {
            params += 1;
            for (what, text) in hostile_texts(URL_TEXT) {
                let mut query: Vec<(String, String)> = url::form_urlencoded::parse(call.query.as_bytes())
                    .into_owned()
                    .filter(|(k, _)| *k != name)
                    .collect();
                query.push((name.clone(), text));
                let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish();
                let (status, body) = w.send(&op, Key::Bearer(&w.app.key), &Call { query, ..call.clone() }).await;
                assert!(
                    is_refusal(status),
                    "{} with {what} in query {name}: {status} {}",
                    op.key(),
                    short(&body.to_string())
                );
            }
        }
        for (name, _) in text_params("path").collect::<Vec<_>>() {
            params += 1;
            let at = op.path.split('/').position(|s| s == format!("{{{name}}}")).expect("the parameter is in the path");
            for (what, text) in hostile_texts(URL_TEXT) {
                let mut segments: Vec<String> = call.path.split('/').map(str::to_owned).collect();
                segments[at] =
                    url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>().replace('+', "%20");
                let path = segments.join("/");
                let (status, body) = w.send(&op, Key::Bearer(&w.app.key), &Call { path, ..call.clone() }).await;
                assert!(
                    is_refusal(status),
                    "{} with {what} in path {name}: {status} {}",
                    op.key(),
                    short(&body.to_string())
                );
            }
        }
    }
    assert!(params >= 15, "only {params} text parameters in the document");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn deeply_nested_malformed_and_oversized_bodies_are_refused(pg: PgPool) {
    let w = World::build(pg).await;
    let deep = format!("{}1{}", r#"{"a":["#.repeat(5_000), "]}".repeat(5_000));
    for op in w.doc.ops() {
        if op.json_body().is_none() {
            continue;
        }
        let call = w.call(&op);
        let limit = match op.path.as_str() {
            "/v1/contacts/bulk" => 16 << 20,
            "/webhooks/whatsapp" => 8 << 20,
            _ => 1 << 20,
        };
        let oversized = format!(r#"{{"padding": "{}"}}"#, "x".repeat(limit));
        for (what, raw, expected) in [
            ("deeply nested", deep.clone(), Some(400)),
            ("malformed", r#"{"name": "#.to_owned(), Some(400)),
            ("oversized", oversized, Some(413)),
            ("not an object", "[1, 2, 3]".to_owned(), None),
        ] {
            let hostile =
                Call { body: Body::Raw { content_type: "application/json", bytes: raw.into_bytes() }, ..call.clone() };
            let (status, body) = w.send(&op, Key::Bearer(&w.app.key), &hostile).await;
            match expected {
                Some(expected) if op.path != "/webhooks/whatsapp" || what == "oversized" => {
                    assert_eq!(status, expected, "{} with a {what} body: {body}", op.key())
                }
                _ => assert!(is_refusal(status), "{} with a {what} body: {status} {body}", op.key()),
            }
        }
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn hostile_csv_cells_headers_and_quotes_are_refused_and_nothing_is_imported(pg: PgPool) {
    let w = World::build(pg).await;
    let op = w.doc.ops().into_iter().find(|o| o.path == "/v1/contacts/import").expect("the import operation");
    let contacts_before: i64 = sqlx::query_scalar("select count(*) from contacts").fetch_one(&w.app.pg).await.unwrap();
    let csv =
        |text: String| Call { body: Body::Raw { content_type: "text/csv", bytes: text.into_bytes() }, ..w.call(&op) };
    let columns = ["phone", "name", "wa_id", "tags", "vt:order_id"];
    let good = ["+34612000009", "Ivo", "34612000009", "vip", "A-9"];
    for (i, column) in columns.iter().enumerate() {
        for (what, text) in hostile_texts(100_000) {
            let mut row: Vec<String> = good.iter().map(|c| (*c).to_owned()).collect();
            row[i] = format!("\"{}\"", text.replace('"', "\"\""));
            let (status, body) =
                w.send(&op, Key::Bearer(&w.app.key), &csv(format!("{}\n{}\n", columns.join(","), row.join(",")))).await;
            assert_eq!(status, 422, "{what} in {column}: {body}");
            assert_eq!(body["error"]["details"][0]["row"], 2, "the row is named: {body}");
        }
    }
    // 100,000 valued-tag columns: refused at once, not after a quadratic check.
    let header: Vec<String> =
        std::iter::once("phone".to_owned()).chain((0..100_000).map(|i| format!("vt:k{i}"))).collect();
    let started = std::time::Instant::now();
    let (status, body) = w.send(&op, Key::Bearer(&w.app.key), &csv(format!("{}\n", header.join(",")))).await;
    assert_eq!((status, e2e::code(&body)), (422, "too_many_columns"), "{body}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
    // A file that ends inside a quoted field.
    let (status, body) =
        w.send(&op, Key::Bearer(&w.app.key), &csv("phone,name\n+34612000010,\"Unclosed name\n".to_owned())).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"][0]["code"], "malformed_csv_row", "{body}");
    let contacts_after: i64 = sqlx::query_scalar("select count(*) from contacts").fetch_one(&w.app.pg).await.unwrap();
    assert_eq!(contacts_after, contacts_before, "nothing imported");
}
