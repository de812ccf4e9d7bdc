//! `campaignsctl`: operator commands that talk to Postgres directly.
//!
//! ```text
//! campaignsctl migrate
//! campaignsctl org create --name "Acme"            # prints the org and its first (admin) API key
//! campaignsctl key create --org 1 --name ci [--admin]
//! campaignsctl key revoke --org 1 --id 3
//! campaignsctl user create --org 1 --email ops@acme.example --role admin   # prints a one-time password
//! campaignsctl campaign plan --id 7                # plan a launched campaign's ledger now
//! campaignsctl campaign pause --id 7 [--reason ..] # stop sending; `resume` restarts it
//! campaignsctl queues                              # depth, age, in-flight and dead letters per queue
//! campaignsctl dead-letters list [--queue send]    # counts per queue, or one queue's dead letters
//! campaignsctl dead-letters replay --queue send (--id ID | --all)
//! campaignsctl dead-letters delete --queue status --id 12
//! ```
//! Output is JSON on stdout, so scripts can read it with `jq`. Commands on
//! queues also use Redis (`REDIS_URL`) and the workers' `QUEUE_PREFIX`.

mod campaign_ops;
mod dead_letters;
mod queues;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use process::ConnectionArgs;
use serde_json::json;
use store::{
    OrgId, api_keys,
    campaigns::{self, PlanOutcome},
    operators, orgs,
};

#[derive(Debug, Parser)]
#[command(name = "campaignsctl", about = "Operator commands for the campaign engine", version)]
struct Cli {
    #[command(flatten)]
    connections: ConnectionArgs,
    /// The workers' `QUEUE_PREFIX`: prepended to every Redis queue name.
    #[arg(long, env = "QUEUE_PREFIX", default_value = "", global = true)]
    queue_prefix: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending database migrations.
    Migrate,
    /// Organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Console accounts (operators sign in with an email and a password).
    #[command(subcommand)]
    User(UserCommand),
    /// Campaigns.
    #[command(subcommand)]
    Campaign(CampaignCommand),
    /// Depth, oldest pending age, in-flight and dead letters of every queue.
    Queues,
    /// What the queues gave up on: list, replay, delete (docs/operations.md).
    #[command(subcommand)]
    DeadLetters(dead_letters::DeadLetterCommand),
}

#[derive(Debug, Subcommand)]
enum CampaignCommand {
    /// Plan the recipient ledger of an active campaign now, as its launch job
    /// does (a no-op when it is planned already).
    Plan {
        #[arg(long)]
        id: i64,
    },
    /// Stop sending an active campaign until `resume` (queued sends are not
    /// claimed while it is paused).
    Pause {
        #[arg(long)]
        id: i64,
        #[arg(long, default_value = "paused by an operator")]
        reason: String,
    },
    /// Resume a paused campaign (whoever paused it): sending goes on where it stopped.
    Resume {
        #[arg(long)]
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
enum OrgCommand {
    /// Create an organization and its first API key (with the `admin` scope).
    Create {
        #[arg(long)]
        name: String,
        /// Name of the first key.
        #[arg(long, default_value = "first key")]
        key_name: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Create another API key for an organization.
    Create {
        #[arg(long)]
        org: i64,
        #[arg(long)]
        name: String,
        /// Give the key the `admin` scope.
        #[arg(long)]
        admin: bool,
    },
    /// Revoke an API key at once.
    Revoke {
        #[arg(long)]
        org: i64,
        #[arg(long)]
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a console account with a random password, printed once.
    Create {
        #[arg(long)]
        org: i64,
        #[arg(long)]
        email: String,
        /// `admin` (also manages accounts and API keys) or `operator`.
        #[arg(long, default_value = "operator")]
        role: String,
    },
}

/// Names of organizations and keys: 1 to 200 characters after trimming.
fn checked_name<'a>(flag: &str, name: &'a str) -> anyhow::Result<&'a str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        bail!("{flag} must be 1 to 200 characters");
    }
    Ok(name)
}

async fn user_create(pg: &store::PgPool, org: i64, email: &str, role: &str) -> anyhow::Result<serde_json::Value> {
    let Some(role) = operators::Role::parse(role) else { bail!("--role must be admin or operator") };
    let email = operators::parse_email(email).map_err(|e| anyhow::anyhow!("--email must be {e}"))?;
    if orgs::get(pg, OrgId(org)).await?.is_none() {
        bail!("there is no organization {org}");
    }
    let password = operators::generate_password();
    let hash = {
        let password = password.clone();
        tokio::task::spawn_blocking(move || operators::hash_password(&password)).await?
    };
    match operators::create(pg, OrgId(org), &email, role, &hash).await {
        Ok(id) => Ok(json!({
            "user": {"id": id, "org": org, "email": email, "role": role.as_str()},
            "password": password,
            "sign_in": "/console/sign-in",
            "note": "the password is shown only now; pass it on securely",
        })),
        Err(operators::CreateError::EmailTaken) => bail!("an account with the email {email} already exists"),
        Err(operators::CreateError::Db(e)) => Err(e.into()),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let pg = cli.connections.pg_pool()?;
    cli.connections.check_postgres().await?;
    let out = match cli.command {
        Command::Migrate => {
            store::MIGRATOR.run(&pg).await.context("running migrations")?;
            json!({"migrated": true})
        }
        Command::Org(OrgCommand::Create { name, key_name }) => {
            let name = checked_name("--name", &name)?;
            let key_name = checked_name("--key-name", &key_name)?;
            let mut tx = pg.begin().await?;
            let org = orgs::create(&mut *tx, name).await?;
            let key = api_keys::create(&mut *tx, OrgId(org.id), key_name, &[api_keys::SCOPE_ADMIN.to_owned()]).await?;
            tx.commit().await?;
            json!({"organization": org, "api_key": key.key, "secret": key.secret})
        }
        Command::Key(KeyCommand::Create { org, name, admin }) => {
            let name = checked_name("--name", &name)?;
            if orgs::get(&pg, OrgId(org)).await?.is_none() {
                bail!("there is no organization {org}");
            }
            let scopes = if admin { vec![api_keys::SCOPE_ADMIN.to_owned()] } else { vec![] };
            let key = api_keys::create(&pg, OrgId(org), name, &scopes).await?;
            json!({"api_key": key.key, "secret": key.secret})
        }
        Command::User(UserCommand::Create { org, email, role }) => user_create(&pg, org, &email, &role).await?,
        Command::Campaign(CampaignCommand::Plan { id }) => {
            let started = std::time::Instant::now();
            let mut tx = pg.begin().await?;
            let outcome = campaigns::plan(&mut tx, id).await?;
            tx.commit().await?;
            let seconds = started.elapsed().as_secs_f64();
            match outcome {
                PlanOutcome::Planned(c) | PlanOutcome::AlreadyPlanned(c) => json!({
                    "campaign_id": id,
                    "already_planned": matches!(outcome, PlanOutcome::AlreadyPlanned(_)),
                    "planned": c.planned,
                    "excluded": c.excluded,
                    "seconds": (seconds * 1000.0).round() / 1000.0,
                }),
                PlanOutcome::NotActive => bail!("campaign {id} is not active (or does not exist)"),
                PlanOutcome::InProgress => bail!("campaign {id} is being planned by another process right now"),
            }
        }
        Command::Campaign(CampaignCommand::Pause { id, reason }) => campaign_ops::pause(&pg, id, &reason).await?,
        Command::Campaign(CampaignCommand::Resume { id }) => campaign_ops::resume(&pg, id).await?,
        Command::Queues => {
            let mut redis = cli.connections.redis().await.context("connecting to Redis")?;
            queues::run(&pg, &mut redis, &cli.queue_prefix).await?
        }
        Command::DeadLetters(command) => {
            let redis = cli.connections.redis().await.context("connecting to Redis")?;
            let dl = queue::DeadLetters::new(pg.clone(), redis, cli.queue_prefix.clone());
            dead_letters::run(&dl, command).await?
        }
        Command::Key(KeyCommand::Revoke { org, id }) => match api_keys::revoke(&pg, OrgId(org), id).await? {
            api_keys::Revoke::Revoked(key) => json!({"api_key": key}),
            api_keys::Revoke::NotFound => bail!("organization {org} has no API key {id}"),
            api_keys::Revoke::LastAdmin => bail!(
                "key {id} is organization {org}'s last active admin key; create another first \
                 (campaignsctl key create --org {org} --name ... --admin)"
            ),
        },
    };
    #[allow(clippy::print_stdout)] // the CLI's output is its purpose
    {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}
