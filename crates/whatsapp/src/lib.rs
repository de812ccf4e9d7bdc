//! WhatsApp Business Cloud API: everything the campaign engine needs to talk
//! to Meta, and nothing about campaigns.
//!
//! - [`send`]: the template-message request and the send response.
//! - [`management`]: media, template-listing and phone-number responses.
//! - [`error`]: Meta's error shapes and [`classify`], which turns an error
//!   code into what a bulk sender should do (retry, back off, give up, record
//!   an opt-out, or halt the campaign).
//! - [`webhook`]: webhook bodies, parsed tolerantly because Meta adds fields
//!   and values without notice.
//! - [`signature`]: `X-Hub-Signature-256` and the subscription handshake.
//! - [`client`]: [`CloudClient`], whose [`SendError`] separates "definitely
//!   not sent" from "may have been sent".

pub mod client;
pub mod error;
pub mod management;
pub mod send;
pub mod signature;
pub mod webhook;

pub use client::{ApiError, ClientConfig, CloudClient, NotSent, OutcomeUnknown, SendError};
pub use error::{
    Classified, ErrorClass, GraphError, GraphErrorBody, WebhookError, classify, describe, worth_retrying_later,
};
pub use send::{SendResponse, SendTemplateRequest};
pub use signature::{SIGNATURE_HEADER, SignatureError, sign, verify, verify_subscription};
pub use webhook::WebhookPayload;
