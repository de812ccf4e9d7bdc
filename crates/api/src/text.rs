//! What every text input must be before anything reads it: characters
//! Postgres can store and a person can see. Checked once, at the edge (the
//! JSON, query and path extractors and the CSV import), so no handler can
//! forget: a NUL (Postgres cannot store it in `text`), another control
//! character (invisible, and a way to forge log lines) or a bidirectional
//! override (text that reads differently from what it is: "Trojan source")
//! anywhere in a request is a 422 naming the field.
//!
//! Tab, line feed and carriage return are allowed here, since free text
//! (an inbox note) may hold them; names, keys, secrets and URLs refuse them
//! in their own checks.

use serde_json::Value;

use crate::error::ApiError;

/// The first character of `value` that no text input may contain, and why.
pub fn forbidden_char(value: &str) -> Option<(char, &'static str)> {
    value.chars().find_map(|c| {
        let why = match c {
            '\0' => "a NUL character",
            '\t' | '\n' | '\r' => return None,
            c if c.is_control() => "a control character",
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => "a bidirectional override",
            '\u{FFFE}' | '\u{FFFF}' => "a non-character",
            _ => return None,
        };
        Some((c, why))
    })
}

/// 422 `invalid_text` for `field` when `value` holds a forbidden character.
pub fn check(value: &str, field: &str) -> Result<(), ApiError> {
    match forbidden_char(value) {
        None => Ok(()),
        Some((c, why)) => Err(ApiError::invalid(
            "invalid_text",
            format!("{field} contains {why} (U+{:04X}), which is not accepted in text", u32::from(c)),
            Some(field.to_owned()),
        )),
    }
}

/// Also refuses tab, line feed and carriage return: for one-line values
/// (names, keys, identifiers, secrets, URLs).
pub fn check_line(value: &str, field: &str) -> Result<(), ApiError> {
    check(value, field)?;
    match value.chars().find(|c| matches!(c, '\t' | '\n' | '\r')) {
        None => Ok(()),
        Some(c) => Err(ApiError::invalid(
            "invalid_text",
            format!("{field} contains a line break or tab (U+{:04X}); it must be one line", u32::from(c)),
            Some(field.to_owned()),
        )),
    }
}

/// Checks every string (and object key) of a JSON document; the error names
/// the first offending field by its path, e.g. `contacts[3].name`.
pub fn check_json(value: &Value) -> Result<(), ApiError> {
    fn walk(value: &Value, path: &mut String) -> Result<(), ApiError> {
        match value {
            Value::String(s) => check(s, if path.is_empty() { "body" } else { path }),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk(item, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            Value::Object(map) => {
                for (key, item) in map {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    // A key is shown as far as it is printable.
                    if forbidden_char(key).is_some() {
                        let shown: String = key.chars().filter(|c| forbidden_char(&c.to_string()).is_none()).collect();
                        path.push_str(&shown);
                        return check(key, path);
                    }
                    path.push_str(key);
                    walk(item, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
        }
    }
    walk(value, &mut String::new())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn field(e: ApiError) -> String {
        match e {
            ApiError::Invalid { field, code: "invalid_text", .. } => field.unwrap_or_default(),
            other => panic!("expected invalid_text, got {other:?}"),
        }
    }

    #[test]
    fn nul_controls_and_bidi_overrides_are_refused_and_ordinary_text_passes() {
        for ok in ["", "Ana María", "İstanbul 🚀", "שלום", "line\nbreak\tand tab", "\u{200F}rlm mark"] {
            assert!(check(ok, "f").is_ok(), "{ok:?}");
        }
        for bad in ["a\0b", "\u{1}", "\u{1b}[31m", "\u{7f}", "\u{85}", "abc\u{202E}fed", "\u{2066}x", "\u{FFFF}"] {
            assert_eq!(field(check(bad, "name").unwrap_err()), "name", "{bad:?}");
        }
        assert!(check_line("a\nb", "name").is_err());
        assert!(check_line("a b", "name").is_ok());
    }

    #[test]
    fn json_errors_name_the_path_of_the_first_bad_string() {
        let doc = json!({"contacts": [{"phone": "+34612345678"}, {"phone": "+34", "name": "x\u{0000}"}]});
        assert_eq!(field(check_json(&doc).unwrap_err()), "contacts[1].name");
        assert_eq!(field(check_json(&json!({"valued_tags": {"k\u{0}ey": "v"}})).unwrap_err()), "valued_tags.key");
        assert_eq!(field(check_json(&json!(["ok", "\u{202E}"])).unwrap_err()), "[1]");
        assert_eq!(field(check_json(&json!("\u{0}")).unwrap_err()), "body");
        assert!(check_json(&json!({"a": [1, true, null, {"b": "fine"}]})).is_ok());
    }
}
