//! Webhook authenticity: the `X-Hub-Signature-256` header on POSTs and the
//! `hub.*` verification handshake on GET.
//!
//! Meta signs the exact bytes it sends (ASCII-escaped JSON), so verification
//! must run over the raw request body, never over re-serialized JSON.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The name of the header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

const PREFIX: &str = "sha256=";

/// Why a webhook signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header is missing")]
    Missing,
    #[error("signature header does not start with \"sha256=\"")]
    MissingPrefix,
    #[error("signature is not valid hex")]
    InvalidHex,
    #[error("signature has the wrong length")]
    WrongLength,
    #[error("signature does not match the body")]
    Mismatch,
}

fn mac(app_secret: &[u8], body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(app_secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac
}

/// The `X-Hub-Signature-256` header value for `body`: `sha256=<lowercase hex>`.
pub fn sign(app_secret: &[u8], body: &[u8]) -> String {
    format!("{PREFIX}{}", hex::encode(mac(app_secret, body).finalize().into_bytes()))
}

/// Checks the header against the raw body in constant time.
///
/// `header` is `None` when the request had no signature header.
pub fn verify(app_secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex_digest = header.strip_prefix(PREFIX).ok_or(SignatureError::MissingPrefix)?;
    // Checked before decoding so a truncated value is reported as such.
    if hex_digest.len() != 64 {
        return Err(SignatureError::WrongLength);
    }
    let expected = hex::decode(hex_digest).map_err(|_| SignatureError::InvalidHex)?;
    mac(app_secret, body).verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

/// The GET handshake: returns the challenge to echo back (as a plain-text
/// 200 body) when `hub.mode` is `subscribe` and `hub.verify_token` matches,
/// or `None`, which callers should answer with 403.
pub fn verify_subscription<'a>(
    mode: Option<&str>,
    verify_token: Option<&str>,
    challenge: Option<&'a str>,
    expected_token: &str,
) -> Option<&'a str> {
    // The verify token is a shared secret: compare without early exit.
    let token_matches = verify_token.is_some_and(|t| bool::from(t.as_bytes().ct_eq(expected_token.as_bytes())));
    (mode == Some("subscribe") && token_matches).then_some(challenge?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-app-secret";
    const BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[]}"#;
    /// `printf '%s' BODY | openssl dgst -sha256 -hmac test-app-secret`
    const HEADER: &str = "sha256=c84a394cc475525991e78ff16e430b02e47f953877d2af0ade26956ce6f384dc";

    #[test]
    fn sign_matches_an_openssl_vector() {
        assert_eq!(sign(SECRET, BODY), HEADER);
    }

    #[test]
    fn verify_accepts_the_vector_and_uppercase_hex() {
        assert_eq!(verify(SECRET, BODY, Some(HEADER)), Ok(()));
        let upper = format!("sha256={}", HEADER[7..].to_uppercase());
        assert_eq!(verify(SECRET, BODY, Some(&upper)), Ok(()));
    }

    #[test]
    fn verify_rejects_tampering_and_the_wrong_secret() {
        let tampered = br#"{"object":"whatsapp_business_account","entry":[1]}"#;
        assert_eq!(verify(SECRET, tampered, Some(HEADER)), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"other-secret", BODY, Some(HEADER)), Err(SignatureError::Mismatch));
    }

    #[test]
    fn verify_rejects_malformed_headers() {
        let digest = &HEADER[7..];
        assert_eq!(verify(SECRET, BODY, None), Err(SignatureError::Missing));
        assert_eq!(verify(SECRET, BODY, Some(digest)), Err(SignatureError::MissingPrefix));
        assert_eq!(verify(SECRET, BODY, Some(&format!("sha1={digest}"))), Err(SignatureError::MissingPrefix));
        let bad_hex = format!("sha256=zz{}", &digest[2..]);
        assert_eq!(verify(SECRET, BODY, Some(&bad_hex)), Err(SignatureError::InvalidHex));
        assert_eq!(verify(SECRET, BODY, Some(&HEADER[..HEADER.len() - 2])), Err(SignatureError::WrongLength));
        assert_eq!(verify(SECRET, BODY, Some("sha256=")), Err(SignatureError::WrongLength));
    }

    #[test]
    fn subscription_handshake_echoes_the_challenge_only_when_everything_matches() {
        let ok = verify_subscription(Some("subscribe"), Some("tok"), Some("1158201444"), "tok");
        assert_eq!(ok, Some("1158201444"));
        assert_eq!(verify_subscription(Some("subscribe"), Some("nope"), Some("1"), "tok"), None);
        assert_eq!(verify_subscription(Some("unsubscribe"), Some("tok"), Some("1"), "tok"), None);
        assert_eq!(verify_subscription(None, Some("tok"), Some("1"), "tok"), None);
        assert_eq!(verify_subscription(Some("subscribe"), None, Some("1"), "tok"), None);
        assert_eq!(verify_subscription(Some("subscribe"), Some("tok"), None, "tok"), None);
        assert_eq!(verify_subscription(Some("subscribe"), Some("to"), Some("1"), "tok"), None);
    }
}
