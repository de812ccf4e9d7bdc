//! The global send limiter: every process sending WhatsApp templates asks
//! Redis before each send, so Meta's per-number throughput and each
//! campaign's pace hold across all workers (an in-process limiter such as
//! tower's would multiply the rate by the number of processes).
//!
//! - GCRA, one script call per decision: the script reads Redis's clock
//!   (`TIME`), so processes never disagree about time, and takes a token
//!   from the Cloud number's key and the campaign's key atomically, both or
//!   neither. A refused attempt returns how long to wait, so callers sleep
//!   instead of polling.
//! - [`Limiter::pause_number`] is the brake for Meta's 130429: the number is
//!   paused for every process until it expires.
//! - [`Limiter::acquire`] waits with jitter and gives up after a budget, so
//!   a slow or paused sender sends the job back to the queue.
//!
//! Keys (all with the prefix given to [`Limiter::new`], each one number,
//! expiring on its own once idle):
//!
//! | key | value |
//! |---|---|
//! | `{prefix}:rl:number:{phone_number_id}` | the number's theoretical arrival time, µs of Redis time |
//! | `{prefix}:rl:campaign:{campaign_id}` | the campaign's theoretical arrival time |
//! | `{prefix}:rl:pause:{phone_number_id}` | when the number's pause ends |
//!
//! Needs Redis 5 or later (scripts that call `TIME` and then write are
//! replicated by effects). `docs/rate-limiting.md` explains the algorithm
//! and the burst choices.

mod limiter;
mod line;
mod rate;

pub use limiter::{Decision, LimitError, Limiter, MAX_PAUSE, Wait, WaitCause};
pub use rate::{CampaignLimit, InvalidRate, MAX_BURST, MAX_PER_SECOND, MIN_PER_SECOND, NumberLimit, Rate};
