//! The HTTP client for the Cloud API.
//!
//! The one thing a bulk sender must know after a failed send is whether the
//! message may have gone out: the API has no idempotency key, so retrying an
//! ambiguous failure can message someone twice. [`SendError`] makes that
//! split explicit.
//!
//! Access tokens are passed per call and never stored, so they cannot leak
//! through `Debug` or error messages (Graph puts them in a header, and
//! reqwest errors only carry the URL).

use std::{borrow::Cow, fmt::Write as _, time::Duration};

use reqwest::{Response, StatusCode, multipart, redirect};
use serde::de::DeserializeOwned;

use crate::{
    error::{Classified, GraphError, GraphErrorBody},
    management::{MediaUpload, PhoneNumberInfo, PhoneNumberPage, TemplatePage, WabaOwner},
    send::{SendResponse, SendTemplateRequest},
};

/// Connection settings for [`CloudClient`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Without a trailing slash; a simulator URL in tests.
    pub base_url: String,
    /// Pinned rather than left to Meta's "newest available" default, so
    /// payload shapes do not change under us.
    pub api_version: String,
    pub connect_timeout: Duration,
    /// The whole request, including reading the response body.
    pub request_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            base_url: "https://graph.facebook.com".to_owned(),
            api_version: "v23.0".to_owned(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CloudClient {
    http: reqwest::Client,
    base_url: String,
    api_version: String,
}

/// Why a send failed, split by whether the message may have gone out.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Meta definitely did not send the message; retrying cannot duplicate it.
    #[error("message not sent")]
    NotSent {
        #[source]
        cause: NotSent,
    },
    /// The request may have reached Meta and been sent. Do not blindly retry:
    /// wait for a status webhook (matched by `biz_opaque_callback_data`).
    #[error("message outcome unknown")]
    OutcomeUnknown {
        #[source]
        cause: OutcomeUnknown,
    },
}

impl SendError {
    /// The Graph error and its classification, when Meta answered with one.
    pub fn graph_error(&self) -> Option<(&GraphError, &Classified)> {
        match self {
            Self::NotSent { cause: NotSent::Graph { error, classified, .. } } => Some((&**error, classified)),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NotSent {
    /// DNS failure, connection refused, connect timeout or TLS failure:
    /// nothing was written.
    #[error("could not reach the Cloud API")]
    Connect(#[source] reqwest::Error),
    /// The request could not be built (e.g. an invalid URL); nothing was sent.
    #[error("could not build the request")]
    InvalidRequest(#[source] reqwest::Error),
    /// Meta answered with a Graph error object.
    #[error("Graph error {} (HTTP {status}): {}", .error.code, .error.message)]
    Graph { status: u16, error: Box<GraphError>, classified: Classified },
    /// A 4xx answer without a Graph error body (a proxy page): the request
    /// was refused before Meta handled it.
    #[error("HTTP {status} without a Graph error body")]
    Http { status: u16, body: String },
}

#[derive(Debug, thiserror::Error)]
pub enum OutcomeUnknown {
    /// A timeout or connection failure after the request may have been written.
    #[error("request failed after it may have been sent")]
    Transport(#[source] reqwest::Error),
    /// Meta accepted the message (HTTP 2xx) but the body could not be read,
    /// so we do not know its wamid.
    #[error("HTTP {status} accepted, but the response body was unreadable")]
    UnreadableSuccess {
        status: u16,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A 5xx without a Graph error body (a 502 or 504 from Meta's edge or a
    /// proxy): the edge may have passed the request on and Meta sent it
    /// before the answer was lost.
    #[error("HTTP {status} without a Graph error body: the request may have been sent")]
    ServerError { status: u16 },
}

/// Errors of the read-only and upload endpoints, where a retry is harmless.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("could not complete the request")]
    Transport(#[source] reqwest::Error),
    #[error("Graph error {} (HTTP {status}): {}", .error.code, .error.message)]
    Graph { status: u16, error: GraphError },
    #[error("HTTP {status} without a Graph error body")]
    Http { status: u16, body: String },
    #[error("unreadable response body (HTTP {status})")]
    Decode {
        status: u16,
        #[source]
        source: serde_json::Error,
    },
}

/// What [`CloudClient::phone_number`] and [`CloudClient::waba_phone_numbers`]
/// read: who the number is, and how fast and how widely it may send.
const PHONE_NUMBER_FIELDS: &str =
    "id,display_phone_number,verified_name,quality_rating,throughput,whatsapp_business_manager_messaging_limit";

/// Meta's default page size for edges.
const PHONE_NUMBER_PAGE_SIZE: u32 = 25;

/// A WABA holds a handful of numbers, so 50 pages of 25 is never reached by
/// a real listing; the cap only stops a server whose cursor never ends.
pub const MAX_PHONE_NUMBER_PAGES: usize = 50;

/// Answers longer than this are cut in errors: they are proxy pages, not data.
const MAX_ERROR_BODY: usize = 2048;

fn truncate(mut body: String) -> String {
    if body.len() > MAX_ERROR_BODY {
        let cut = (0..=MAX_ERROR_BODY).rev().find(|&i| body.is_char_boundary(i)).unwrap_or(0);
        body.truncate(cut);
    }
    body
}

impl CloudClient {
    pub fn new(config: ClientConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // A redirect on POST would be replayed as GET; surface it instead.
            .redirect(redirect::Policy::none())
            .build()?;
        Ok(Self { http, base_url: config.base_url.trim_end_matches('/').to_owned(), api_version: config.api_version })
    }

    fn node_url(&self, node: &str) -> String {
        format!("{}/{}/{}", self.base_url, self.api_version, segment(node))
    }

    fn url(&self, node: &str, edge: &str) -> String {
        format!("{}/{edge}", self.node_url(node))
    }

    /// `POST /{version}/{phone_number_id}/messages`.
    pub async fn send_template(
        &self,
        phone_number_id: &str,
        access_token: &str,
        request: &SendTemplateRequest,
    ) -> Result<SendResponse, SendError> {
        let response = self
            .http
            .post(self.url(phone_number_id, "messages"))
            .bearer_auth(access_token)
            .json(request)
            .send()
            .await
            .map_err(classify_transport)?;
        let status = response.status();
        if status.is_success() {
            let unknown = |source: Box<dyn std::error::Error + Send + Sync>| SendError::OutcomeUnknown {
                cause: OutcomeUnknown::UnreadableSuccess { status: status.as_u16(), source },
            };
            let bytes = response.bytes().await.map_err(|e| unknown(e.into()))?;
            return serde_json::from_slice(&bytes).map_err(|e| unknown(e.into()));
        }
        // A Graph error body is Meta's own answer: not sent. Without one, a 4xx
        // was refused on the way in, but a 5xx may come from an edge that had
        // passed the request on: that outcome is unknown.
        let body = response.text().await.unwrap_or_default();
        match parse_graph_error(&body) {
            Some(error) => Err(SendError::NotSent {
                cause: NotSent::Graph { status: status.as_u16(), classified: error.classify(), error: Box::new(error) },
            }),
            None if status.is_server_error() => {
                Err(SendError::OutcomeUnknown { cause: OutcomeUnknown::ServerError { status: status.as_u16() } })
            }
            None => Err(SendError::NotSent { cause: NotSent::Http { status: status.as_u16(), body: truncate(body) } }),
        }
    }

    /// One page of `GET /{version}/{waba_id}/message_templates`; pass the
    /// previous page's [`TemplatePage::next_cursor`] as `after`.
    pub async fn list_templates(
        &self,
        waba_id: &str,
        access_token: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<TemplatePage, ApiError> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(after) = after {
            query.push(("after", after.to_owned()));
        }
        let response = self
            .http
            .get(self.url(waba_id, "message_templates"))
            .bearer_auth(access_token)
            .query(&query)
            .send()
            .await
            .map_err(ApiError::Transport)?;
        read_json(response).await
    }

    /// `GET /{version}/{phone_number_id}?fields=...`: the number as the token
    /// sees it. A token that cannot read the number gets Graph code 100
    /// (subcode 33), the same answer as for an id that does not exist.
    pub async fn phone_number(&self, phone_number_id: &str, access_token: &str) -> Result<PhoneNumberInfo, ApiError> {
        let response = self
            .http
            .get(self.node_url(phone_number_id))
            .bearer_auth(access_token)
            .query(&[("fields", PHONE_NUMBER_FIELDS)])
            .send()
            .await
            .map_err(ApiError::Transport)?;
        read_json(response).await
    }

    /// `GET /{version}/{waba_id}?fields=owner_business_info`: the business
    /// portfolio that owns the WABA (its messaging limit is the portfolio's).
    pub async fn waba_owner(&self, waba_id: &str, access_token: &str) -> Result<WabaOwner, ApiError> {
        let response = self
            .http
            .get(self.node_url(waba_id))
            .bearer_auth(access_token)
            .query(&[("fields", "id,owner_business_info")])
            .send()
            .await
            .map_err(ApiError::Transport)?;
        read_json(response).await
    }

    /// One page of `GET /{version}/{waba_id}/phone_numbers`; pass the
    /// previous page's [`PhoneNumberPage::next_cursor`] as `after`.
    pub async fn list_phone_numbers(
        &self,
        waba_id: &str,
        access_token: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<PhoneNumberPage, ApiError> {
        let mut query = vec![("fields", PHONE_NUMBER_FIELDS.to_owned()), ("limit", limit.to_string())];
        if let Some(after) = after {
            query.push(("after", after.to_owned()));
        }
        let response = self
            .http
            .get(self.url(waba_id, "phone_numbers"))
            .bearer_auth(access_token)
            .query(&query)
            .send()
            .await
            .map_err(ApiError::Transport)?;
        read_json(response).await
    }

    /// Every number of a WABA, reading page after page. Stops after
    /// [`MAX_PHONE_NUMBER_PAGES`] pages and returns what it read, so a
    /// listing that never ends can only leave numbers out, never loop.
    pub async fn waba_phone_numbers(
        &self,
        waba_id: &str,
        access_token: &str,
    ) -> Result<Vec<PhoneNumberInfo>, ApiError> {
        let mut numbers = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PHONE_NUMBER_PAGES {
            let page = self.list_phone_numbers(waba_id, access_token, after.as_deref(), PHONE_NUMBER_PAGE_SIZE).await?;
            after = page.next_cursor().map(str::to_owned);
            numbers.extend(page.data);
            if after.is_none() {
                break;
            }
        }
        Ok(numbers)
    }

    /// `POST /{version}/{phone_number_id}/media` (multipart). The returned id
    /// can be used in template headers for 30 days.
    pub async fn upload_media(
        &self,
        phone_number_id: &str,
        access_token: &str,
        bytes: Vec<u8>,
        mime_type: &str,
        filename: &str,
    ) -> Result<MediaUpload, ApiError> {
        let file = multipart::Part::bytes(bytes)
            .file_name(filename.to_owned())
            .mime_str(mime_type)
            .map_err(ApiError::Transport)?;
        let form = multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime_type.to_owned())
            .part("file", file);
        let response = self
            .http
            .post(self.url(phone_number_id, "media"))
            .bearer_auth(access_token)
            .multipart(form)
            .send()
            .await
            .map_err(ApiError::Transport)?;
        read_json(response).await
    }
}

/// Only failures before anything was written are safe to call "not sent".
/// reqwest marks connect-phase failures (including the connect timeout) with
/// `is_connect`, and request-building failures with `is_builder`; every
/// other error (timeout, reset, body error) may come after the request left.
fn classify_transport(error: reqwest::Error) -> SendError {
    if error.is_connect() {
        SendError::NotSent { cause: NotSent::Connect(error) }
    } else if error.is_builder() {
        SendError::NotSent { cause: NotSent::InvalidRequest(error) }
    } else {
        SendError::OutcomeUnknown { cause: OutcomeUnknown::Transport(error) }
    }
}

/// Ids come from users (an organization registering its number), so each
/// goes out as exactly one path segment: `123/messages` or `123?fields=`
/// must not reach another node, edge or query. An id of `.` or `..` is still
/// resolved by URL rules, so callers should also check the answer's `id`.
fn segment(id: &str) -> Cow<'_, str> {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    if id.bytes().all(unreserved) {
        return Cow::Borrowed(id);
    }
    let mut encoded = String::with_capacity(id.len() * 3);
    for b in id.bytes() {
        if unreserved(b) {
            encoded.push(char::from(b));
        } else {
            let _ = write!(encoded, "%{b:02X}");
        }
    }
    Cow::Owned(encoded)
}

fn parse_graph_error(body: &str) -> Option<GraphError> {
    serde_json::from_str::<GraphErrorBody>(body).ok().map(|b| b.error)
}

async fn read_json<T: DeserializeOwned>(response: Response) -> Result<T, ApiError> {
    let status: StatusCode = response.status();
    let body = response.text().await.map_err(ApiError::Transport)?;
    if !status.is_success() {
        return Err(match parse_graph_error(&body) {
            Some(error) => ApiError::Graph { status: status.as_u16(), error },
            None => ApiError::Http { status: status.as_u16(), body: truncate(body) },
        });
    }
    serde_json::from_str(&body).map_err(|source| ApiError::Decode { status: status.as_u16(), source })
}

#[cfg(test)]
mod tests;
