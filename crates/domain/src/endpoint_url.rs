//! The URL of a bot flow's endpoint: where replies are forwarded.

use crate::DomainError;

/// The longest endpoint URL accepted, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// An absolute `http` or `https` URL with a host and no credentials in it
/// (credentials belong in the flow's signing secret, which is encrypted;
/// a URL is stored and shown in clear).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl(url::Url);

impl EndpointUrl {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let invalid = |why| DomainError::InvalidUrl { why };
        let input = input.trim();
        if input.is_empty() {
            return Err(invalid("it is empty"));
        }
        if input.len() > MAX_URL_LEN {
            return Err(invalid("it is longer than 2048 characters"));
        }
        // The URL parser would silently drop tabs and line breaks inside it:
        // what is stored must be what was given.
        if input.chars().any(char::is_control) {
            return Err(invalid("it contains control characters"));
        }
        let url = url::Url::parse(input)
            .map_err(|_| invalid("it is not an absolute URL like https://bot.example.com/hook"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("it must start with http:// or https://"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("it has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("it must not contain a user name or password"));
        }
        if url.as_str().len() > MAX_URL_LEN {
            return Err(invalid("it is longer than 2048 characters once normalised"));
        }
        Ok(Self(url))
    }

    /// The normalised URL (lowercase scheme and host, `/` path when empty).
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::EndpointUrl;

    #[test]
    fn http_and_https_urls_with_a_host_are_accepted_and_normalised() {
        let url = EndpointUrl::parse(" HTTPS://Bot.Example.com/hooks/wa?flow=1 ").expect("valid");
        assert_eq!(url.as_str(), "https://bot.example.com/hooks/wa?flow=1");
        assert_eq!(EndpointUrl::parse("http://10.0.0.5:8080").expect("valid").as_str(), "http://10.0.0.5:8080/");
    }

    #[test]
    fn other_urls_are_refused_with_a_reason() {
        for input in [
            "",
            "bot.example.com/hook",
            "/relative",
            "ftp://bot.example.com",
            "mailto:bot@example.com",
            "https://user:pass@bot.example.com/hook",
            "https://user@bot.example.com/hook",
            "https://",
            "https://bot.example.com/ho\nok",
            "https://bot.exa\tmple.com/",
        ] {
            let err = EndpointUrl::parse(input).expect_err(input);
            assert_eq!(err.code(), "invalid_url", "{input}");
        }
        let long = format!("https://bot.example.com/{}", "a".repeat(2048));
        assert!(EndpointUrl::parse(&long).is_err());
    }
}
