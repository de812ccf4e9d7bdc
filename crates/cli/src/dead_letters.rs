//! `campaignsctl dead-letters`: the deployment's dead letters, through the
//! same library as `/v1/dead-letters` (`queue::DeadLetters`), but across
//! every organization unless `--org` narrows it, and including jobs no
//! organization owns any more (a deleted campaign's).

use anyhow::bail;
use clap::Subcommand;
use queue::{
    DeadLetters, DeadQueue, Scope,
    dead_letters::{DeadLetterError, Deleted, Replayed},
};
use serde_json::{Value, json};
use store::OrgId;

#[derive(Debug, Subcommand)]
pub enum DeadLetterCommand {
    /// Without --queue: how many dead letters each queue holds. With it: a
    /// page of them (payload, last error, attempts, time).
    List {
        /// launch, send, reply, report or status.
        #[arg(long)]
        queue: Option<DeadQueue>,
        /// Only this organization's.
        #[arg(long)]
        org: Option<i64>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// The `next_cursor` of the previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Put dead letters back in their queue, attempts reset: one (--id) or
    /// all of them (--all).
    Replay {
        /// launch, send, reply, report or status.
        #[arg(long)]
        queue: DeadQueue,
        /// The dead letter's id: a task id, an event id (status) or a wamid (reply).
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Every dead letter of the queue.
        #[arg(long)]
        all: bool,
        /// With --all: only this organization's.
        #[arg(long)]
        org: Option<i64>,
    },
    /// Forget one dead letter for good (replies are kept: replay or leave them).
    Delete {
        /// launch, send, report or status.
        #[arg(long)]
        queue: DeadQueue,
        /// The dead letter's id: a task id or an event id (status).
        #[arg(long)]
        id: String,
    },
}

fn scope(org: Option<i64>) -> Scope {
    org.map_or(Scope::Deployment, |o| Scope::Org(OrgId(o)))
}

pub async fn run(dl: &DeadLetters, command: DeadLetterCommand) -> anyhow::Result<Value> {
    Ok(match command {
        DeadLetterCommand::List { queue: None, org, .. } => {
            let counts = dl.counts(scope(org)).await?;
            json!({"queues": counts.into_iter().map(|(q, dead)| json!({"queue": q.name(), "dead": dead})).collect::<Vec<_>>()})
        }
        DeadLetterCommand::List { queue: Some(queue), org, limit, cursor } => {
            if !(1..=10_000).contains(&limit) {
                bail!("--limit must be between 1 and 10000");
            }
            let page = match dl.list(queue, scope(org), cursor.as_deref(), limit).await {
                Err(DeadLetterError::InvalidCursor(c)) => bail!("--cursor {c:?} is not one this list printed"),
                page => page?,
            };
            json!({"queue": queue.name(), "data": page.items, "next_cursor": page.next_cursor})
        }
        DeadLetterCommand::Replay { queue, id: Some(id), .. } => {
            match dl.replay(queue, Scope::Deployment, &id).await? {
                Replayed::Replayed => json!({"queue": queue.name(), "replayed": 1}),
                Replayed::NotFound => bail!("the {queue} queue has no dead letter {id:?}"),
                Replayed::Refused { code, message } => bail!("{message} ({code})"),
            }
        }
        DeadLetterCommand::Replay { queue, id: None, org, .. } => {
            json!({"queue": queue.name(), "replayed": dl.replay_all(queue, scope(org)).await?})
        }
        DeadLetterCommand::Delete { queue, id } => match dl.delete(queue, Scope::Deployment, &id).await? {
            Deleted::Deleted => json!({"queue": queue.name(), "deleted": id}),
            Deleted::NotFound => bail!("the {queue} queue has no dead letter {id:?}"),
            Deleted::Kept => bail!("a dead reply is the contact's message and is kept: replay it, or leave it"),
        },
    })
}
