//! Meta template texts: which placeholders a campaign has to bind.

/// The distinct placeholder names of a template text, in order of first use:
/// `{{1}}` gives `"1"`, `{{first_name}}` gives `"first_name"`.
///
/// Positional templates therefore give `["1", "2", ...]` and named ones their
/// names. Only letters, digits and `_` make a name (Meta allows nothing else),
/// so stray braces such as `{{{1}}}` or `{{ not a param }}` do not invent
/// placeholders a campaign could never fill.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim();
        if is_name(name) {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
            rest = &after[end + 2..];
        } else {
            // Retry one byte further: `{{{1}}}` holds `{{1}}`. `{` is ASCII, so
            // this stays on a char boundary.
            rest = &rest[start + 1..];
        }
    }
    names
}

fn is_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn positional_placeholders_are_distinct_and_in_order_of_first_use() {
        assert_eq!(placeholders("Hi {{1}}, your order {{2}} is ready ({{1}})"), ["1", "2"]);
        assert_eq!(placeholders("{{2}} before {{1}}"), ["2", "1"]);
    }

    #[test]
    fn named_placeholders_keep_their_names() {
        assert_eq!(placeholders("Hi {{first_name}}, use {{ discount_code }}"), ["first_name", "discount_code"]);
    }

    #[test]
    fn texts_without_placeholders_give_none() {
        assert!(placeholders("").is_empty());
        assert!(placeholders("Watch our new collection").is_empty());
        assert!(placeholders("unclosed {{1").is_empty());
        assert!(placeholders("empty {{}} and {{ }}").is_empty());
        assert!(placeholders("{{ two words }}").is_empty());
    }

    #[test]
    fn stray_braces_do_not_hide_or_invent_placeholders() {
        assert_eq!(placeholders("{{{1}}}"), ["1"]);
        assert_eq!(placeholders("{{a-b}} {{2}}"), ["2"]);
        assert_eq!(placeholders("¡Hola {{1}}! ¿{{2}}?"), ["1", "2"]);
    }
}
