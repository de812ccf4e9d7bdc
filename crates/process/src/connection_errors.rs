//! Why a connection to Postgres or Redis failed, in words that name the
//! setting to change (`DATABASE_URL`, `DATABASE_CA_FILE`, `REDIS_URL`,
//! `REDIS_CA_FILE`) and never show a password.

use std::{error::Error as StdError, fmt, io, path::Path};

/// A connection that does not work: either a setting is wrong (the TLS
/// mode, a CA file, a certificate that does not match the host, a user or
/// password), and retrying cannot help, or the server cannot be reached right
/// now. The message names the settings involved; passwords are redacted.
#[derive(Debug)]
pub struct ConnectionError {
    message: String,
    unreachable: bool,
}

impl ConnectionError {
    pub(crate) fn misconfigured(message: String) -> Self {
        Self { message, unreachable: false }
    }

    /// A setting is wrong: the process should stop and say so, not retry.
    /// (The alternative is a server that cannot be reached right now.)
    pub fn is_misconfiguration(&self) -> bool {
        !self.unreachable
    }
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for ConnectionError {}

/// Removes the secrets a URL holds (its password, percent-encoded or not,
/// and `password=`/`pass=` query values) from a text.
#[derive(Clone, Default)]
pub(crate) struct Redactor(Vec<String>);

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Redactor([redacted])")
    }
}

impl Redactor {
    pub(crate) fn of_url(url: &str) -> Self {
        let mut secrets = Vec::new();
        if let Ok(parsed) = url::Url::parse(url) {
            if let Some(password) = parsed.password() {
                secrets.push(password.to_owned());
                if let Ok(decoded) = percent_decode(password) {
                    secrets.push(decoded);
                }
            }
            for (key, value) in parsed.query_pairs() {
                if matches!(&*key, "password" | "pass") {
                    secrets.push(value.into_owned());
                }
            }
        }
        // Longest first, so a password containing another one is removed whole.
        secrets.retain(|s| !s.is_empty());
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self(secrets)
    }

    pub(crate) fn apply(&self, text: &str) -> String {
        self.0.iter().fold(text.to_owned(), |text, secret| text.replace(secret.as_str(), "[redacted]"))
    }
}

fn percent_decode(s: &str) -> Result<String, std::str::Utf8Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&out).map(str::to_owned)
}

/// An error in a chain as its concrete type, looking through the wrappers
/// whose `source` skips what they wrap: an `io::Error`'s inner error (rustls
/// reports through those) and redis's `Arc<dyn Error>`.
fn find<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    type Shared = std::sync::Arc<dyn StdError + Send + Sync>;
    let mut current = Some(err);
    while let Some(mut e) = current {
        if let Some(shared) = e.downcast_ref::<Shared>() {
            e = &**shared;
        }
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(found) = e.downcast_ref::<io::Error>().and_then(io::Error::get_ref).and_then(|i| i.downcast_ref()) {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// The rustls error somewhere in an error's chain.
pub(crate) fn rustls_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    find::<rustls::Error>(err)
}

/// The kind of `io::Error` somewhere in an error's chain.
pub(crate) fn io_kind(err: &(dyn StdError + 'static)) -> Option<io::ErrorKind> {
    find::<io::Error>(err).map(io::Error::kind)
}

/// What is wrong with a server's certificate, if that is what failed.
pub(crate) enum CertProblem {
    /// It does not name the host connected to.
    WrongHost,
    /// No trusted CA signed it.
    UntrustedIssuer,
    /// Expired or not valid yet.
    OutOfDate,
    /// Any other TLS failure.
    Other,
}

pub(crate) fn cert_problem(err: &rustls::Error) -> CertProblem {
    use rustls::CertificateError as C;
    match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::NotValidForName | C::NotValidForNameContext { .. } => CertProblem::WrongHost,
            C::UnknownIssuer | C::BadSignature => CertProblem::UntrustedIssuer,
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. } => {
                CertProblem::OutOfDate
            }
            _ => CertProblem::Other,
        },
        _ => CertProblem::Other,
    }
}

/// The PEM certificates of a CA file, checked now so a wrong path or a file
/// that is not a certificate is reported at start, naming its setting.
pub(crate) fn read_ca_file(setting: &str, path: &Path) -> Result<Vec<u8>, ConnectionError> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let pem = std::fs::read(path).map_err(|e| {
        ConnectionError::misconfigured(format!("{setting} {}: the CA file cannot be read: {e}", path.display()))
    })?;
    let mut certificates = 0;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        cert.map_err(|e| {
            ConnectionError::misconfigured(format!(
                "{setting} {}: not a valid PEM certificate file: {e}",
                path.display()
            ))
        })?;
        certificates += 1;
    }
    if certificates == 0 {
        return Err(ConnectionError::misconfigured(format!(
            "{setting} {}: the file holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(pem)
}

/// Where a connection's CA comes from, for messages.
#[derive(Debug, Clone)]
pub(crate) enum CaSource {
    NotSet,
    File(String),
    /// `sslrootcert=` in `DATABASE_URL`.
    InUrl(String),
}

/// Explains a failed Postgres connection.
#[derive(Debug)]
pub(crate) struct PostgresContext {
    /// `postgres://user@host:port/db`: the URL without its password.
    pub described: String,
    pub host: String,
    pub user: String,
    pub ssl_mode: &'static str,
    pub ca: CaSource,
    pub redactor: Redactor,
}

impl PostgresContext {
    fn prefix(&self) -> String {
        let ca = match &self.ca {
            CaSource::NotSet => "DATABASE_CA_FILE not set".to_owned(),
            CaSource::File(path) => format!("DATABASE_CA_FILE {path}"),
            CaSource::InUrl(path) => format!("sslrootcert {path} in DATABASE_URL"),
        };
        format!("Postgres at {} (DATABASE_URL, sslmode={}; {ca})", self.described, self.ssl_mode)
    }

    fn ca_hint(&self) -> String {
        match &self.ca {
            CaSource::NotSet => "the server's TLS certificate is not signed by a publicly trusted CA: set \
                                 DATABASE_CA_FILE to the PEM file of the CA that issued it (the provider's CA bundle)"
                .to_owned(),
            CaSource::File(path) | CaSource::InUrl(path) => format!(
                "the server's TLS certificate is not signed by the CA in {path}: set DATABASE_CA_FILE to the PEM \
                 file of the CA that issued it"
            ),
        }
    }

    pub(crate) fn explain(&self, err: &sqlx::Error) -> ConnectionError {
        let mut unreachable = false;
        let problem = if let Some(tls) = rustls_error(err) {
            match cert_problem(tls) {
                CertProblem::WrongHost => format!(
                    "the server's TLS certificate is not valid for the host \"{}\" in DATABASE_URL: with \
                     sslmode={} the host must be one the certificate names (connect by that name, or check that \
                     DATABASE_URL points at the right server)",
                    self.host, self.ssl_mode
                ),
                CertProblem::UntrustedIssuer => self.ca_hint(),
                CertProblem::OutOfDate => "the server's TLS certificate has expired or is not valid yet".to_owned(),
                CertProblem::Other => {
                    "the TLS handshake failed: check sslmode in DATABASE_URL and DATABASE_CA_FILE".to_owned()
                }
            }
        } else {
            match err {
                sqlx::Error::Tls(_) if err.to_string().contains("does not support TLS") => {
                    format!("the server does not accept TLS, but sslmode={} in DATABASE_URL requires it", self.ssl_mode)
                }
                sqlx::Error::Tls(_) => {
                    "the TLS connection failed: check sslmode in DATABASE_URL and DATABASE_CA_FILE".to_owned()
                }
                sqlx::Error::Configuration(_) => {
                    "a setting is invalid: check DATABASE_URL and DATABASE_CA_FILE".to_owned()
                }
                sqlx::Error::Database(db) => match db.code().as_deref() {
                    Some("28000") if db.message().contains("no encryption") => format!(
                        "the server accepts only TLS connections, and sslmode={} in DATABASE_URL did not use TLS: \
                         set sslmode=verify-full in DATABASE_URL (and DATABASE_CA_FILE for a private CA)",
                        self.ssl_mode
                    ),
                    Some("28P01") => {
                        format!("the server refused the user \"{}\" and the password in DATABASE_URL", self.user)
                    }
                    Some(code) if code.starts_with("28") => {
                        format!("the server refused the login of the user \"{}\" (DATABASE_URL)", self.user)
                    }
                    Some("3D000") => "the database in DATABASE_URL does not exist".to_owned(),
                    _ => {
                        unreachable = true;
                        "the server refused the connection".to_owned()
                    }
                },
                _ => {
                    unreachable = true;
                    match io_kind(err) {
                        Some(io::ErrorKind::ConnectionRefused) => "nothing listens there (connection refused)",
                        _ => "the server cannot be reached",
                    }
                    .to_owned()
                }
            }
        };
        let message = self.redactor.apply(&format!("{}: {problem}. The error: {err}", self.prefix()));
        ConnectionError { message, unreachable }
    }
}

/// Explains a failed Redis connection.
#[derive(Debug)]
pub(crate) struct RedisContext {
    /// `rediss://user@host:port/db`: the URL without its password.
    pub described: String,
    pub tls: bool,
    pub host: String,
    pub user: Option<String>,
    pub ca: CaSource,
    pub redactor: Redactor,
}

impl RedisContext {
    /// Describes a Redis URL without its password.
    pub(crate) fn new(url: &str, ca: CaSource) -> Self {
        let redactor = Redactor::of_url(url);
        match url::Url::parse(url) {
            Ok(parsed) => {
                let host = parsed.host_str().unwrap_or("").to_owned();
                let user = (!parsed.username().is_empty()).then(|| parsed.username().to_owned());
                let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
                let path = if parsed.path() == "/" { "" } else { parsed.path() };
                let at = user.as_deref().map(|u| format!("{u}@")).unwrap_or_default();
                Self {
                    described: format!("{}://{at}{host}{port}{path}", parsed.scheme()),
                    tls: matches!(parsed.scheme(), "rediss" | "valkeys"),
                    host,
                    user,
                    ca,
                    redactor,
                }
            }
            Err(_) => Self {
                described: "(REDIS_URL is not a URL)".to_owned(),
                tls: false,
                host: String::new(),
                user: None,
                ca,
                redactor,
            },
        }
    }

    fn prefix(&self) -> String {
        let ca = match &self.ca {
            CaSource::NotSet => "REDIS_CA_FILE not set".to_owned(),
            CaSource::File(path) | CaSource::InUrl(path) => format!("REDIS_CA_FILE {path}"),
        };
        format!("Redis at {} (REDIS_URL; {ca})", self.described)
    }

    pub(crate) fn misconfigured(&self, problem: &str) -> ConnectionError {
        ConnectionError::misconfigured(self.redactor.apply(&format!("{}: {problem}", self.prefix())))
    }

    pub(crate) fn explain(&self, err: &redis::RedisError) -> ConnectionError {
        use redis::ErrorKind;
        let mut unreachable = false;
        let code = err.code().unwrap_or("");
        let problem = if let Some(tls) = rustls_error(err) {
            match cert_problem(tls) {
                CertProblem::WrongHost => format!(
                    "the server's TLS certificate is not valid for the host \"{}\" in REDIS_URL (connect by a name \
                     the certificate lists, or check that REDIS_URL points at the right server)",
                    self.host
                ),
                CertProblem::UntrustedIssuer => match &self.ca {
                    CaSource::NotSet => "the server's TLS certificate is not signed by a publicly trusted CA: set \
                                         REDIS_CA_FILE to the PEM file of the CA that issued it"
                        .to_owned(),
                    CaSource::File(path) | CaSource::InUrl(path) => format!(
                        "the server's TLS certificate is not signed by the CA in REDIS_CA_FILE {path}: set it to \
                         the PEM file of the CA that issued it"
                    ),
                },
                CertProblem::OutOfDate => "the server's TLS certificate has expired or is not valid yet".to_owned(),
                CertProblem::Other => "the TLS handshake failed: does the port take TLS? (REDIS_URL is rediss://, \
                                       which needs a TLS port)"
                    .to_owned(),
            }
        } else if err.kind() == ErrorKind::AuthenticationFailed || code == "WRONGPASS" {
            match &self.user {
                Some(user) => format!("the server refused the user \"{user}\" and the password in REDIS_URL"),
                None => "the server refused the password in REDIS_URL".to_owned(),
            }
        } else if code == "NOAUTH" || code == "NOPERM" {
            "the server needs a user and password: put them in REDIS_URL (rediss://user:password@host:port)".to_owned()
        } else if err.kind() == ErrorKind::InvalidClientConfig {
            "REDIS_URL is not a valid Redis URL".to_owned()
        } else if err.is_connection_refusal() {
            unreachable = true;
            "nothing listens there (connection refused)".to_owned()
        } else if !self.tls && (err.is_connection_dropped() || err.kind() == ErrorKind::Parse) {
            // A TLS-only port drops a client that speaks plain RESP.
            "the server closed the connection without answering: if it takes only TLS, REDIS_URL must start with \
             rediss://"
                .to_owned()
        } else if !self.tls && err.is_timeout() {
            unreachable = true;
            "no answer in time (if the port takes only TLS, REDIS_URL must start with rediss://)".to_owned()
        } else {
            unreachable = true;
            "the server cannot be reached".to_owned()
        };
        let message = self.redactor.apply(&format!("{}: {problem}. The error: {err}", self.prefix()));
        ConnectionError { message, unreachable }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_removes_the_password_in_every_spelling() {
        let r = Redactor::of_url("rediss://app:p%40ss-word@host:6380/0");
        assert_eq!(r.apply("auth p%40ss-word / p@ss-word failed"), "auth [redacted] / [redacted] failed");
        let r = Redactor::of_url("postgres://app@db/app?password=hunter2&sslmode=require");
        assert_eq!(r.apply("password hunter2"), "password [redacted]");
        assert_eq!(Redactor::of_url("redis://host:6379").apply("nothing"), "nothing");
    }

    #[test]
    fn a_redis_url_is_described_without_its_password() {
        let c = RedisContext::new("rediss://app:hunter2@cache.example:6380/2", CaSource::NotSet);
        assert_eq!(c.described, "rediss://app@cache.example:6380/2");
        assert!(c.tls);
        let c = RedisContext::new("redis://:hunter2@127.0.0.1", CaSource::NotSet);
        assert_eq!(c.described, "redis://127.0.0.1");
        assert!(c.misconfigured("x").to_string().starts_with("Redis at redis://127.0.0.1 (REDIS_URL; "));
    }
}
