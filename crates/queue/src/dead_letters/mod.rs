//! Every queue's dead letters behind one interface, for the API
//! (`/v1/dead-letters`) and `campaignsctl dead-letters` (docs/operations.md).
//!
//! They live in three places:
//! - the apalis queues `launch`, `send` and `report`: the Redis set
//!   `{q}:dead` ([`crate::dead`]);
//! - the `status` queue: `webhook_events` rows with `failed_at` set;
//! - the `reply` queue: `inbound_messages` rows with `dead_at` set (the
//!   record; the reply job's own dead task in Redis mirrors it and is
//!   dropped when the message is replayed).
//!
//! **Tenancy.** Redis queues are shared by the whole deployment, but every
//! job names a campaign or a report, and every dead webhook or reply a
//! number or an organization. [`Scope::Org`] sees only its own organization's
//! dead letters (the API: another organization's are "not found");
//! [`Scope::Deployment`] sees all of them, including jobs no organization
//! owns any more (the CLI, run by whoever runs the deployment).

mod replies;
mod status;
mod tasks;

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use store::{OrgId, PgPool};

use crate::{Job, LaunchJob, ReplyJob, ReportJob, SendJob};

/// A queue whose dead letters can be listed, replayed and deleted, by the
/// name operators use (`launch`, `send`, `reply`, `report`, `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadQueue {
    Launch,
    Send,
    Reply,
    Report,
    Status,
}

impl DeadQueue {
    pub const ALL: [Self; 5] = [Self::Launch, Self::Send, Self::Reply, Self::Report, Self::Status];

    pub fn name(self) -> &'static str {
        match self {
            Self::Launch => "launch",
            Self::Send => "send",
            Self::Reply => "reply",
            Self::Report => "report",
            Self::Status => "status",
        }
    }

    /// The apalis queue (before `QUEUE_PREFIX`) behind this one; `None` for
    /// the status queue, which is a Postgres table.
    pub fn redis_queue(self) -> Option<&'static str> {
        match self {
            Self::Launch => Some(LaunchJob::QUEUE),
            Self::Send => Some(SendJob::QUEUE),
            Self::Reply => Some(ReplyJob::QUEUE),
            Self::Report => Some(ReportJob::QUEUE),
            Self::Status => None,
        }
    }
}

impl fmt::Display for DeadQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A queue name that is none of [`DeadQueue::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("there is no queue {0:?}; the queues are launch, send, reply, report and status")]
pub struct UnknownQueue(pub String);

impl FromStr for DeadQueue {
    type Err = UnknownQueue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|q| q.name() == s).ok_or_else(|| UnknownQueue(s.to_owned()))
    }
}

/// Whose dead letters an operation sees and touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One organization's: jobs whose campaign or report it owns, webhooks
    /// about its numbers, replies it received.
    Org(OrgId),
    /// The whole deployment's.
    Deployment,
}

impl Scope {
    fn org(self) -> Option<OrgId> {
        match self {
            Self::Org(org) => Some(org),
            Self::Deployment => None,
        }
    }
}

/// One dead letter, whatever queue it is from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeadLetter {
    /// The task id (apalis queues), event id (status) or message wamid (reply).
    pub id: String,
    /// The job, the webhook batch or the message, as JSON.
    pub payload: serde_json::Value,
    pub last_error: Option<String>,
    /// Attempts made before it was given up on.
    pub attempts: i64,
    /// When it was given up on.
    pub failed_at: Option<DateTime<Utc>>,
}

/// A page of dead letters; `next_cursor` is `None` after the last one.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DeadLetterPage {
    pub items: Vec<DeadLetter>,
    pub next_cursor: Option<String>,
}

/// What [`DeadLetters::replay`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    Replayed,
    NotFound,
    /// It is dead, but running it again would be wrong (a send whose message
    /// may have gone out); the message says why.
    Refused {
        code: &'static str,
        message: String,
    },
}

/// What [`DeadLetters::delete`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Deleted,
    NotFound,
    /// A reply is conversation data: it is kept (replay it, or leave it).
    Kept,
}

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("the cursor {0:?} is not one this list returned")]
    InvalidCursor(String),
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    /// The replayed send's fresh job could not be pushed: its recipient is
    /// queued, and the lost-work sweep pushes it within a minute.
    #[error("pushing the replayed send's job: {0}")]
    Push(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub type Result<T, E = DeadLetterError> = std::result::Result<T, E>;

/// One queue's depth (see [`DeadLetters::depths`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Depth {
    pub queue: DeadQueue,
    /// Waiting to run: in the active list, or scheduled and due.
    pub waiting: u64,
    /// How long the oldest of those has waited.
    pub oldest_waiting: Option<std::time::Duration>,
    /// Fetched by a worker and not finished.
    pub in_flight: u64,
}

/// The dead-letter operations of one deployment: its Postgres, its Redis
/// and its `QUEUE_PREFIX`.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    pg: PgPool,
    redis: ConnectionManager,
    prefix: String,
}

impl DeadLetters {
    pub fn new(pg: PgPool, redis: ConnectionManager, queue_prefix: impl Into<String>) -> Self {
        Self { pg, redis, prefix: queue_prefix.into() }
    }

    /// The deployment's `QUEUE_PREFIX`.
    pub fn queue_prefix(&self) -> &str {
        &self.prefix
    }

    /// The Redis queue name of `queue` in this deployment.
    pub fn redis_queue(&self, queue: DeadQueue) -> Option<String> {
        queue.redis_queue().map(|q| format!("{}{q}", self.prefix))
    }

    /// Each queue's depth now, for the whole deployment (queues are shared
    /// by every organization): what waits, for how long, what is being run.
    pub async fn depths(&self) -> Result<Vec<Depth>> {
        let mut out = Vec::with_capacity(DeadQueue::ALL.len());
        for queue in DeadQueue::ALL {
            match self.redis_queue(queue) {
                Some(name) => {
                    let g = crate::queue_gauges(&mut self.redis.clone(), &name).await?;
                    out.push(Depth {
                        queue,
                        waiting: g.active + g.scheduled_due,
                        oldest_waiting: g.oldest_pending_age,
                        in_flight: g.inflight,
                    });
                }
                None => {
                    let s = store::webhook_events::queue_state(&self.pg).await?;
                    out.push(Depth {
                        queue,
                        waiting: s.pending.max(0) as u64,
                        oldest_waiting: (s.pending > 0)
                            .then(|| std::time::Duration::from_secs_f64(s.oldest_pending_secs.max(0.0))),
                        in_flight: s.in_flight.max(0) as u64,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Dead letters per queue.
    pub async fn counts(&self, scope: Scope) -> Result<Vec<(DeadQueue, u64)>> {
        let mut out = Vec::with_capacity(DeadQueue::ALL.len());
        for queue in DeadQueue::ALL {
            out.push((queue, self.count(queue, scope).await?));
        }
        Ok(out)
    }

    /// How many dead letters `queue` holds. For an organization on a Redis
    /// queue this reads every dead task's payload (to see whose it is).
    pub async fn count(&self, queue: DeadQueue, scope: Scope) -> Result<u64> {
        match queue {
            DeadQueue::Status => Ok(store::webhook_events::count_failed(&self.pg, scope.org()).await?.max(0) as u64),
            DeadQueue::Reply => Ok(store::inbound::count_dead(&self.pg, scope.org()).await?.max(0) as u64),
            _ => tasks::count(self, &self.task_queue(queue), scope).await,
        }
    }

    /// Up to `limit` dead letters after `cursor` (the `next_cursor` of the
    /// previous page), in id order.
    pub async fn list(
        &self,
        queue: DeadQueue,
        scope: Scope,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<DeadLetterPage> {
        match queue {
            DeadQueue::Status => status::list(self, scope, cursor, limit).await,
            DeadQueue::Reply => replies::list(self, scope, cursor, limit).await,
            _ => tasks::list(self, &self.task_queue(queue), scope, cursor, limit).await,
        }
    }

    /// Runs one dead letter again: a dead send puts its recipient back in
    /// the queue (its retry budget starts again) with a fresh job, unless the
    /// message may have gone out; another apalis task goes back to its active
    /// list with its attempts reset, a webhook batch back to the status
    /// queue, a reply back to delivery with a new reply job.
    pub async fn replay(&self, queue: DeadQueue, scope: Scope, id: &str) -> Result<Replayed> {
        let found = |n: u64| if n == 1 { Replayed::Replayed } else { Replayed::NotFound };
        match queue {
            DeadQueue::Status => status::replay(self, scope, Some(id)).await.map(found),
            DeadQueue::Reply => replies::replay(self, scope, Some(id)).await.map(found),
            _ => tasks::replay(self, &self.task_queue(queue), scope, id).await,
        }
    }

    /// Records whose a dead task is, as its handler gives up on it, so its
    /// organization lists it in time proportional to the page.
    pub async fn index(&self, queue: DeadQueue, id: &str, payload: &serde_json::Value) -> Result<()> {
        match self.redis_queue(queue) {
            Some(q) => tasks::index(self, &q, id, payload).await,
            None => Ok(()),
        }
    }

    /// Forgets the dead letters given up on before `before`, in every queue
    /// but replies (a reply is the contact's message: kept); returns how many.
    pub async fn trim(&self, before: DateTime<Utc>) -> Result<u64> {
        let mut n = 0;
        for queue in [DeadQueue::Launch, DeadQueue::Send, DeadQueue::Report] {
            n += tasks::trim(self, &self.task_queue(queue), before.timestamp()).await?;
        }
        n += store::webhook_events::delete_failed_before(&self.pg, before).await?;
        Ok(n)
    }

    /// Replays every dead letter of `queue` (in this scope); returns how many.
    pub async fn replay_all(&self, queue: DeadQueue, scope: Scope) -> Result<u64> {
        match queue {
            DeadQueue::Status => status::replay(self, scope, None).await,
            DeadQueue::Reply => replies::replay(self, scope, None).await,
            _ => tasks::replay_all(self, &self.task_queue(queue), scope).await,
        }
    }

    /// Forgets one dead letter for good. Replies are [`Deleted::Kept`]:
    /// the message is data (the contact's conversation), not a job.
    pub async fn delete(&self, queue: DeadQueue, scope: Scope, id: &str) -> Result<Deleted> {
        let found = match queue {
            DeadQueue::Status => status::delete(self, scope, id).await?,
            DeadQueue::Reply => return Ok(Deleted::Kept),
            _ => tasks::delete(self, &self.task_queue(queue), scope, id).await?,
        };
        Ok(if found { Deleted::Deleted } else { Deleted::NotFound })
    }

    fn task_queue(&self, queue: DeadQueue) -> String {
        self.redis_queue(queue).unwrap_or_default()
    }

    fn conn(&self) -> ConnectionManager {
        self.redis.clone()
    }
}

/// A page's cursor: the last id returned, when anything follows it.
fn next_cursor(last: Option<&str>, more: bool) -> Option<String> {
    if more { last.map(str::to_owned) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_round_trip_and_unknown_ones_are_refused() {
        for q in DeadQueue::ALL {
            assert_eq!(q.name().parse::<DeadQueue>(), Ok(q));
        }
        assert_eq!("campaigns.send".parse::<DeadQueue>(), Err(UnknownQueue("campaigns.send".into())));
        assert_eq!(DeadQueue::Status.redis_queue(), None);
        assert_eq!(DeadQueue::Send.redis_queue(), Some("campaigns.send"));
    }
}
