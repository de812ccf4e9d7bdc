#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns
//! The security suite: the trust boundary between organizations, driven by
//! the OpenAPI document (`/openapi.json`), so a route added without coverage
//! fails it ([`world::World::call`]).
//!
//! - `auth`: every secured operation refuses a missing, malformed, unknown or
//!   revoked key (401), and a key without the `admin` scope where it is needed (403).
//! - `tenancy`: another organization's key on the first one's real ids, for
//!   every operation with an id: 404, none of its data in the body, nothing
//!   changed in Postgres.
//! - `hostile`: NUL, control characters, lone surrogates, bidirectional
//!   overrides and 100 KB strings in every text field the document declares
//!   (JSON, query, path, CSV cells), deeply nested and oversized bodies: 4xx.
//! - `fuzz`: requests generated from the document's schemas: never a 5xx.
//! - `webhooks`: forged, missing, sha1-only and stale signatures are refused;
//!   a validly signed webhook from another organization's number about this
//!   one's wamids, callback data and templates changes nothing; a replayed
//!   batch is applied once.
//! - `egress`: the reply worker refuses every private address class, as a
//!   literal, through DNS and through a redirect, and never stores a target's body.
//! - `contacts`: a deleted contact is never messaged, and re-importing it
//!   cannot put one person in two active campaigns.
//! - `console`: every console route (`api::console::ROUTES`) but the public
//!   ones needs a session; another organization's operator reaches nothing;
//!   forms need the session's CSRF token; hostile queries are 4xx pages.
//! - `secrets` (its own test binary, `tests/tests/secrets/`): a full scenario's logs and answers never show a token, app
//!   secret, bot secret, API key or the encryption key.
//!
//! Every answer the suite gets must be documented for its operation and
//! match the documented schema ([`world::World::check`]).

mod auth;
mod console;
mod contacts;
mod doc;
mod egress;
mod fuzz;
mod hostile;
mod tenancy;
mod webhooks;
mod world;
