//! The limiter: one script call per decision, sleeping in between.

use std::{
    fmt,
    sync::{Arc, LazyLock},
    time::Duration,
};

use rand::Rng;
use redis::{Script, aio::ConnectionManager};
use tokio::time::Instant;

use crate::{
    line::Lines,
    rate::{CampaignLimit, NumberLimit},
};

/// Loaded once per process; `invoke_async` sends EVALSHA and falls back to
/// EVAL (which caches it again) after a Redis restart or SCRIPT FLUSH.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("acquire.lua")));
static PAUSE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("pause.lua")));

/// Sleeps are stretched by up to this share so processes waiting on the same
/// key do not all wake in the same microsecond.
const MAX_JITTER: f64 = 0.1;

/// The longest pause [`Limiter::pause_number`] sets.
pub const MAX_PAUSE: Duration = Duration::from_secs(3_600);

/// The global send limiter. Clones share one connection and one set of
/// in-process waiting lines, so a worker should create one and clone it.
#[derive(Clone)]
pub struct Limiter {
    conn: ConnectionManager,
    prefix: Arc<str>,
    lines: Arc<Lines>,
}

/// The limiter's answer to one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A token was taken from the number and from the campaign.
    Allowed,
    /// Nothing was taken; try again after the wait.
    Wait(Wait),
}

/// How long until an attempt could succeed, and which limit says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// The longest of the three waits (number, campaign, pause), as of
    /// Redis's clock when the script ran.
    pub delay: Duration,
    /// Whose wait was the longest: what to put in a log line or a metric label.
    pub cause: WaitCause,
}

/// Which limit held an attempt back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitCause {
    /// The Cloud number's throughput tier.
    Number,
    /// The campaign's pace.
    Campaign,
    /// A pause after Meta answered 130429 ([`Limiter::pause_number`]).
    Paused,
}

/// What can go wrong while limiting.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// Redis is unreachable or failed: the caller cannot know whether it may
    /// send, so it must not.
    #[error("the rate limiter could not reach Redis")]
    Redis(#[from] redis::RedisError),
    /// The send could not be allowed within `max_wait`; re-queue the job
    /// (after `last.delay` if known) rather than hold a worker slot.
    #[error("the rate limiter would make this send wait longer than allowed (waited {waited:?}, then {last:?})")]
    WaitTooLong {
        /// Time already spent in [`Limiter::acquire`].
        waited: Duration,
        /// The limiter's last answer; `None` when the turn in this process's
        /// line for the pair did not come in time.
        last: Option<Wait>,
    },
    /// The script answered something it never answers: a different script
    /// under the same SHA, or a bug.
    #[error("the rate limiter script answered an unknown cause {0}")]
    UnexpectedReply(i64),
}

impl Limiter {
    /// A limiter whose keys all start with `{prefix}:rl:`. Tests use a
    /// random prefix each; on Redis Cluster give it a hash tag (`{campaigns}`)
    /// so the keys one script call touches share a slot.
    pub fn new(conn: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self { conn, prefix: prefix.into().into(), lines: Arc::default() }
    }

    /// The key prefix given to [`Limiter::new`].
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// One attempt: takes a token from the number and the campaign, both or
    /// neither, and never sleeps. Prefer [`Limiter::acquire`] to send.
    pub async fn try_acquire(&self, number: &NumberLimit, campaign: &CampaignLimit) -> Result<Decision, LimitError> {
        let mut conn = self.conn.clone();
        let (allowed, wait_us, cause): (i64, i64, i64) = ACQUIRE
            .key(self.number_key(&number.phone_number_id))
            .key(self.campaign_key(campaign.campaign_id))
            .key(self.pause_key(&number.phone_number_id))
            .arg(number.rate.interval_us())
            .arg(number.rate.capacity_us())
            .arg(campaign.rate.interval_us())
            .arg(campaign.rate.capacity_us())
            .invoke_async(&mut conn)
            .await?;
        if allowed == 1 {
            return Ok(Decision::Allowed);
        }
        let cause = match cause {
            1 => WaitCause::Number,
            2 => WaitCause::Campaign,
            3 => WaitCause::Paused,
            other => return Err(LimitError::UnexpectedReply(other)),
        };
        Ok(Decision::Wait(Wait { delay: Duration::from_micros(wait_us.unsigned_abs()), cause }))
    }

    /// Waits until a send is allowed, sleeping (never polling) the delay
    /// Redis returns plus 0–10 % jitter, and returns the time spent waiting
    /// (for the "limiter wait" metric).
    ///
    /// Gives up with [`LimitError::WaitTooLong`] as soon as the next delay
    /// would end after `max_wait`, without sleeping first: a paused number or
    /// a slow campaign should send the job back to the queue, not park a
    /// worker slot. Tasks of one process waiting on the same pair queue up
    /// behind each other (see the `line` module), so Redis sees one or two
    /// calls per token per process however many tasks wait.
    pub async fn acquire(
        &self,
        number: &NumberLimit,
        campaign: &CampaignLimit,
        max_wait: Duration,
    ) -> Result<Duration, LimitError> {
        let (waited, ()) = self.acquire_on_turn(number, campaign, max_wait, std::future::ready(())).await?;
        Ok(waited)
    }

    /// [`Limiter::acquire`] that awaits `on_turn` once this task is the
    /// first of its process's line for the pair, before its first attempt,
    /// and returns its output with the time waited. `on_turn` counts against
    /// `max_wait`; it is dropped when the wait gives up.
    ///
    /// For what only the task about to take a token should hold: a send
    /// worker takes one of its process's send slots here, so the tasks
    /// further back in a slow campaign's line wait without one, and a
    /// campaign with seconds of its pace queued holds one slot per process
    /// instead of one per waiting send.
    pub async fn acquire_on_turn<T>(
        &self,
        number: &NumberLimit,
        campaign: &CampaignLimit,
        max_wait: Duration,
        on_turn: impl Future<Output = T>,
    ) -> Result<(Duration, T), LimitError> {
        let start = Instant::now();
        let deadline = deadline_after(start, max_wait);
        let place = self.lines.join(self.line_key(number, campaign));
        let too_long = || LimitError::WaitTooLong { waited: start.elapsed(), last: None };
        let Ok(_turn) = tokio::time::timeout_at(deadline, place.turn()).await else {
            return Err(too_long());
        };
        let Ok(held) = tokio::time::timeout_at(deadline, on_turn).await else {
            return Err(too_long());
        };
        let waited = self.take(number, campaign, start, deadline).await?;
        Ok((waited, held))
    }

    /// [`Limiter::acquire`] without a place in the line: for a send that
    /// already had its turn and must take its token again (it went stale
    /// before the request left), which should not wait behind every send
    /// queued after it.
    pub async fn acquire_again(
        &self,
        number: &NumberLimit,
        campaign: &CampaignLimit,
        max_wait: Duration,
    ) -> Result<Duration, LimitError> {
        let start = Instant::now();
        self.take(number, campaign, start, deadline_after(start, max_wait)).await
    }

    /// Attempts and sleeps until a token is taken or the next delay would end after `deadline`.
    async fn take(
        &self,
        number: &NumberLimit,
        campaign: &CampaignLimit,
        start: Instant,
        deadline: Instant,
    ) -> Result<Duration, LimitError> {
        loop {
            let wait = match self.try_acquire(number, campaign).await? {
                Decision::Allowed => return Ok(start.elapsed()),
                Decision::Wait(wait) => wait,
            };
            let now = Instant::now();
            let left = deadline.saturating_duration_since(now);
            if wait.delay > left {
                tracing::debug!(
                    phone_number_id = %number.phone_number_id, campaign.id = campaign.campaign_id,
                    cause = ?wait.cause, delay = ?wait.delay, "rate limiter: giving up"
                );
                return Err(LimitError::WaitTooLong { waited: now - start, last: Some(wait) });
            }
            let jitter = wait.delay.mul_f64(rand::thread_rng().gen_range(0.0..=MAX_JITTER));
            tokio::time::sleep((wait.delay + jitter).min(left)).await;
        }
    }

    /// The brake for Meta's 130429 ("rate limit hit"): no process sends from
    /// this number for `for_` (rounded up to whole milliseconds, at least 1,
    /// at most [`MAX_PAUSE`]: anything longer is a bug in the caller, not a
    /// brake). An existing longer pause is kept, never shortened, so many
    /// in-flight sends answered 130429 at once need no coordination. Returns
    /// how long the number now stays paused.
    pub async fn pause_number(&self, phone_number_id: &str, for_: Duration) -> Result<Duration, LimitError> {
        let ms = for_.min(MAX_PAUSE).as_micros().div_ceil(1_000).max(1);
        let ms = u64::try_from(ms).unwrap_or(u64::MAX);
        let mut conn = self.conn.clone();
        let left_us: i64 = PAUSE.key(self.pause_key(phone_number_id)).arg(ms).invoke_async(&mut conn).await?;
        let left = Duration::from_micros(left_us.unsigned_abs());
        tracing::debug!(phone_number_id, paused_for = ?left, "rate limiter: number paused");
        Ok(left)
    }

    fn number_key(&self, phone_number_id: &str) -> String {
        format!("{}:rl:number:{phone_number_id}", self.prefix)
    }

    fn campaign_key(&self, campaign_id: i64) -> String {
        format!("{}:rl:campaign:{campaign_id}", self.prefix)
    }

    fn pause_key(&self, phone_number_id: &str) -> String {
        format!("{}:rl:pause:{phone_number_id}", self.prefix)
    }

    fn line_key(&self, number: &NumberLimit, campaign: &CampaignLimit) -> String {
        format!("{}\n{}", number.phone_number_id, campaign.campaign_id)
    }
}

/// `start + max_wait`, where a day is forever (`Instant + Duration::MAX` would panic).
fn deadline_after(start: Instant, max_wait: Duration) -> Instant {
    start + max_wait.min(Duration::from_secs(86_400))
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}
