//! The console's languages, English and Spanish. Every text a page shows
//! comes from the Fluent catalogues in `crates/api/locales/<lang>/*.ftl`,
//! compiled into the binary; the language is the account's choice
//! (Settings), else the first of the browser's `Accept-Language` the
//! console speaks, else English.
//!
//! The language of the request being served is [`lang`] (set by [`scope`]
//! around every console request, and by [`Signed`](super::session::Signed)
//! once the account is known), so any code that makes a page's text can
//! ask for it without passing it along.
//!
//! Messages that come from the API's own checks (a refused field, a
//! conflict) keep their English text; pages show their stable code next to
//! them.

use std::{borrow::Cow, cell::Cell, collections::HashMap, fmt::Display, sync::LazyLock};

use axum::{
    extract::Request,
    http::{HeaderMap, header::ACCEPT_LANGUAGE},
    middleware::Next,
    response::Response,
};
use fluent_templates::{LanguageIdentifier, Loader, fluent_bundle::FluentValue};

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // No Unicode isolation marks around arguments: pages are HTML, where
        // the markup already separates them, and tests read the text.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

static IDS: LazyLock<[LanguageIdentifier; 2]> =
    LazyLock::new(|| [Lang::En, Lang::Es].map(|l| l.code().parse().expect("a valid language tag")));

/// An argument as Fluent gets it: a plain count or amount (`3`, `67.5`) as a
/// number, so plurals select on it; anything else (`007`, `+34612…`, `1e3`,
/// a name) as the text it is.
fn argument(value: &str) -> FluentValue<'_> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(whole) && digits(fraction) && (whole == "0" || !whole.starts_with('0')) {
        FluentValue::try_number(value)
    } else {
        FluentValue::from(value)
    }
}

tokio::task_local! {
    static CURRENT: Cell<Lang>;
}

/// Serves a console request in the browser's language (until the signed-in
/// account's choice replaces it, see [`set`]).
pub async fn scope(request: Request, next: Next) -> Response {
    let lang = Lang::of(None, request.headers());
    CURRENT.scope(Cell::new(lang), next.run(request)).await
}

/// The language of the request being served (English outside one).
pub fn lang() -> Lang {
    CURRENT.try_with(Cell::get).unwrap_or_default()
}

/// Serves the rest of the request in `lang`.
pub fn set(lang: Lang) {
    let _ = CURRENT.try_with(|c| c.set(lang));
}

/// The text of `key` in the language of the request being served.
pub fn t(key: &str) -> String {
    lang().t(key)
}

/// A language the console speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Es,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Self::En, Self::Es];

    /// The BCP 47 tag (`operators.locale`, `<html lang>`).
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Es => "es",
        }
    }

    /// The language's own name, as a language menu shows it.
    pub fn autonym(self) -> &'static str {
        match self {
            Self::En => "English",
            Self::Es => "Español",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.code() == code)
    }

    /// The first language of an `Accept-Language` header (in the order the
    /// browser lists them) that the console speaks; English otherwise.
    pub fn from_accept_language(header: Option<&str>) -> Self {
        header
            .map(fluent_langneg::accepted_languages::parse)
            .unwrap_or_default()
            .iter()
            .find_map(|id| Self::parse(id.language.as_str()))
            .unwrap_or_default()
    }

    /// The language of a request: the account's choice, else the browser's.
    pub fn of(account: Option<&str>, headers: &HeaderMap) -> Self {
        account
            .and_then(Self::parse)
            .unwrap_or_else(|| Self::from_accept_language(headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())))
    }

    fn id(self) -> &'static LanguageIdentifier {
        &IDS[self as usize]
    }

    /// The text of `key`.
    pub fn t(self, key: &str) -> String {
        self.lookup(key, None)
    }

    /// The text of `key` with one argument (a number selects plurals).
    pub fn t1(self, key: &str, name: &'static str, value: impl Display) -> String {
        self.args(key, &[(name, value.to_string())])
    }

    /// The text of `key` with two arguments.
    pub fn t2(self, key: &str, a: &'static str, va: impl Display, b: &'static str, vb: impl Display) -> String {
        self.args(key, &[(a, va.to_string()), (b, vb.to_string())])
    }

    /// The text of `key` with its arguments (numbers select plurals).
    pub fn args(self, key: &str, args: &[(&'static str, String)]) -> String {
        let map: HashMap<Cow<'static, str>, FluentValue<'_>> =
            args.iter().map(|(name, value)| (Cow::Borrowed(*name), argument(value))).collect();
        self.lookup(key, Some(&map))
    }

    fn lookup(self, key: &str, args: Option<&HashMap<Cow<'static, str>, FluentValue<'_>>>) -> String {
        LOCALES.try_lookup_complete(self.id(), key, args).unwrap_or_else(|| {
            // The catalogue tests keep this from happening; the key is better than nothing.
            tracing::warn!(key, lang = self.code(), "console text missing from the catalogue");
            key.to_owned()
        })
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeSet, path::Path};

    use super::*;

    fn files(dir: &Path, ext: &str, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, ext, out);
            } else if path.extension().is_some_and(|e| e == ext) {
                out.push(path);
            }
        }
    }

    /// The message ids of a language's catalogue files.
    fn catalogue(lang: Lang) -> BTreeSet<String> {
        let mut paths = Vec::new();
        files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("locales").join(lang.code()), "ftl", &mut paths);
        let mut keys = BTreeSet::new();
        for path in paths {
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                if let Some((key, _)) = line.split_once(" =")
                    && key.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                    && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                {
                    assert!(keys.insert(key.to_owned()), "{key} is defined twice in {}", lang.code());
                }
            }
        }
        keys
    }

    /// The keys the console's templates and code ask for: every `.t("…")`,
    /// `::t("…")`, `.t1("…"`, `.t2("…"` and `.args("…"`.
    fn used() -> BTreeSet<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut paths = Vec::new();
        files(&root.join("templates/console"), "html", &mut paths);
        files(&root.join("src/console"), "rs", &mut paths);
        let mut keys = BTreeSet::new();
        for path in paths {
            let text = std::fs::read_to_string(&path).unwrap();
            for call in [".t(\"", "::t(\"", ".t1(\"", ".t2(\"", ".args(\""] {
                for (at, _) in text.match_indices(call) {
                    let rest = &text[at + call.len()..];
                    let key = &rest[..rest.find('"').unwrap()];
                    if key != "…" && key != "no-such-key" {
                        keys.insert(key.to_owned());
                    }
                }
            }
        }
        keys
    }

    #[test]
    fn both_catalogues_have_every_text_the_console_uses() {
        let (en, es) = (catalogue(Lang::En), catalogue(Lang::Es));
        let missing_es: Vec<_> = en.difference(&es).collect();
        let missing_en: Vec<_> = es.difference(&en).collect();
        assert!(missing_es.is_empty() && missing_en.is_empty(), "not in es: {missing_es:?}; not in en: {missing_en:?}");
        let undefined: Vec<_> = used().into_iter().filter(|k| !en.contains(k)).collect();
        assert!(undefined.is_empty(), "used but in no catalogue: {undefined:?}");
    }

    #[test]
    fn the_browser_language_is_the_first_one_the_console_speaks() {
        assert_eq!(Lang::from_accept_language(Some("es-ES,es;q=0.9,en;q=0.8")), Lang::Es);
        assert_eq!(Lang::from_accept_language(Some("fr-FR, es-MX;q=0.7")), Lang::Es);
        assert_eq!(Lang::from_accept_language(Some("de, fr")), Lang::En);
        assert_eq!(Lang::from_accept_language(Some("")), Lang::En);
        assert_eq!(Lang::from_accept_language(None), Lang::En);
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_LANGUAGE, "es".parse().unwrap());
        assert_eq!(Lang::of(None, &headers), Lang::Es);
        assert_eq!(Lang::of(Some("en"), &headers), Lang::En, "the account's choice wins");
    }

    #[test]
    fn texts_come_from_the_catalogue_of_the_language_with_their_arguments() {
        assert_eq!(Lang::En.t("nav-campaigns"), "Campaigns");
        assert_eq!(Lang::Es.t("nav-campaigns"), "Campañas");
        assert_eq!(Lang::En.t1("contacts-count", "count", 1), "1 contact");
        assert_eq!(Lang::En.t1("contacts-count", "count", 3), "3 contacts");
        assert_eq!(Lang::Es.t1("contacts-count", "count", 1), "1 contacto");
        assert_eq!(Lang::Es.t1("contacts-count", "count", 3), "3 contactos");
        assert_eq!(Lang::Es.t("no-such-key"), "no-such-key");
        // Only plain numbers are numbers: names and phones stay as they are.
        for text in ["007", "+34612345678", "1e3", "inf", "-1", "2.", ".5"] {
            assert!(matches!(argument(text), FluentValue::String(_)), "{text}");
        }
        for number in ["0", "3", "67.5", "100000"] {
            assert!(matches!(argument(number), FluentValue::Number(_)), "{number}");
        }
    }
}
