//! A WhatsApp Cloud API simulator for tests, demos and benchmarks: the
//! engine sends here instead of to Meta and sees Meta's behaviour — its
//! error codes and shapes, throughput, pair and portfolio messaging limits,
//! and signed, batched, retried status webhooks — on loopback and
//! reproducibly.
//!
//! - [`config`]: numbers, templates, limits, webhook behaviour (TOML/JSON or code).
//! - [`Simulator`]: starts the server and inspects what it accepted and delivered.
//! - `/_sim/...` exposes the same inspection, and fault switches, over HTTP.
//!
//! # The messaging limit
//!
//! As at Meta, a *business portfolio* (the owner of WABAs, which own the
//! numbers) may send templates to a limited number of distinct users in a
//! moving 24 hours, shared by all its numbers ([`portfolio`]):
//!
//! - Tiers: `TIER_250`, `TIER_1K` (legacy, 1,000), `TIER_2K`, `TIER_10K`,
//!   `TIER_100K`, `TIER_UNLIMITED`. The portfolio starts at its first
//!   number's `messaging_limit_tier` (default `TIER_10K`); every number of it
//!   reports the current one as `whatsapp_business_manager_messaging_limit`.
//! - A WABA's portfolio is `wabas[].business_id`, or `"9"` + the WABA id.
//!   `GET /{version}/{waba_id}?fields=owner_business_info` reads it back as
//!   `{"id", "owner_business_info": {"id", "name"}}`.
//! - `limits.messaging_window_ms` (default 86,400,000) compresses the day;
//!   `limits.messaging_limit_enabled = false` turns the limit off.
//! - A user sent a template within the window is always allowed again. A
//!   new user past the limit is refused with HTTP 400 and Graph code 130430,
//!   `"(#130430) Messaging limit reached"`, details `"The business portfolio
//!   reached its messaging limit: <limit> unique users in a moving 24 hours
//!   (<TIER>)"`. Meta documents no code for this; 130430 is the simulator's
//!   own stand-in. A refused send is not recorded and gets no webhook.
//!
//! Over HTTP (and on [`Simulator`]):
//!
//! - `GET /_sim/portfolios` and `GET /_sim/portfolios/{business_id}`:
//!   `{"business_id", "tier", "limit" (null: unlimited), "window_ms", "used"
//!   (users counted now), "refused" (since start or reset)}`
//!   ([`Simulator::portfolios`], [`Simulator::portfolio`]).
//! - `POST /_sim/portfolios/{business_id}/messaging_limit` with
//!   `{"tier": "TIER_100K"}`: answers `{"business_id", "tier", "limit"}` (404
//!   for an unknown portfolio, 400 for an unknown tier) and, with a webhook
//!   URL, sends each of the portfolio's WABAs Meta's
//!   `business_capability_update` (`max_daily_conversations_per_business`,
//!   −1 for unlimited), signed with the app secret of the WABA's first number
//!   ([`Simulator::set_messaging_limit`]).
//! - `POST /_sim/reset` forgets the counts and refusals; tiers stay.

mod catalog;
pub mod config;
pub mod error;
mod faults;
mod limits;
mod media;
pub mod portfolio;
mod request;
mod routes;
mod server;
mod state;
mod template;
mod webhook;

pub use config::Config;
pub use error::MetaError;
pub use portfolio::{PortfolioView, TierChangeError};
pub use request::{ButtonParam, TextParam};
pub use server::Simulator;
pub use state::{AcceptedMessage, Delivery};
