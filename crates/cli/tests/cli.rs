//! The real `campaignsctl` binary against a per-test database and the real
//! Redis: the operator commands print JSON and refuse what they must.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use serde_json::Value;
use sqlx::PgPool;

fn database_url(pg: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let db = pg.connect_options().get_database().expect("test database").to_owned();
    format!("{}/{db}", base.rsplit_once('/').expect("a database URL").0)
}

/// Runs `campaignsctl args…`: its JSON on success, its stderr on failure.
fn ctl(pg: &PgPool, prefix: &str, args: &[&str]) -> Result<Value, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_campaignsctl"))
        .args(args)
        .env("DATABASE_URL", database_url(pg))
        .env("REDIS_URL", std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:56379".into()))
        .env("QUEUE_PREFIX", prefix)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn dead_letters_queues_and_campaign_pause_resume_from_the_command_line(pg: PgPool) {
    let prefix = format!("test{}.", uuid::Uuid::new_v4().simple());
    let org: i64 = sqlx::query_scalar("insert into organizations (name) values ('Acme') returning id")
        .fetch_one(&pg)
        .await
        .unwrap();
    let campaign: i64 = sqlx::query_scalar(
        "insert into campaigns (org_id, kind, name, lifecycle) values ($1, 'real', 'Spring', 'active') returning id",
    )
    .bind(org)
    .fetch_one(&pg)
    .await
    .unwrap();
    // A failed webhook about a number no organization has: only the CLI sees it.
    let event = store::webhook_events::insert(&pg, Some("999"), &[], br#"{"object":"whatsapp_business_account"}"#)
        .await
        .unwrap();
    sqlx::query("update webhook_events set failed_at = now(), last_error = 'boom', attempts = 5 where id = $1")
        .bind(event)
        .execute(&pg)
        .await
        .unwrap();

    let counts = ctl(&pg, &prefix, &["dead-letters", "list"]).unwrap();
    let status = counts["queues"].as_array().unwrap().iter().find(|q| q["queue"] == "status").unwrap().clone();
    assert_eq!(status["dead"], 1, "{counts}");
    let page = ctl(&pg, &prefix, &["dead-letters", "list", "--queue", "status"]).unwrap();
    assert_eq!(page["data"][0]["id"], event.to_string(), "{page}");
    assert_eq!(page["data"][0]["last_error"], "boom");
    let scoped = ctl(&pg, &prefix, &["dead-letters", "list", "--queue", "status", "--org", &org.to_string()]).unwrap();
    assert_eq!(scoped["data"], serde_json::json!([]), "not the organization's");

    let err = ctl(&pg, &prefix, &["dead-letters", "delete", "--queue", "reply", "--id", "wamid.x"]).unwrap_err();
    assert!(err.contains("replay it, or leave it"), "{err}");
    let err = ctl(&pg, &prefix, &["dead-letters", "replay", "--queue", "nope", "--all"]).unwrap_err();
    assert!(err.contains("there is no queue \"nope\""), "{err}");
    let replayed = ctl(&pg, &prefix, &["dead-letters", "replay", "--queue", "status", "--all"]).unwrap();
    assert_eq!(replayed["replayed"], 1);
    let err =
        ctl(&pg, &prefix, &["dead-letters", "replay", "--queue", "status", "--id", &event.to_string()]).unwrap_err();
    assert!(err.contains("no dead letter"), "{err}");

    let queues = ctl(&pg, &prefix, &["queues"]).unwrap();
    let names: Vec<&str> = queues["queues"].as_array().unwrap().iter().map(|q| q["queue"].as_str().unwrap()).collect();
    assert_eq!(names, ["launch", "send", "reply", "report", "status"]);
    assert_eq!(queues["queues"][1]["redis_queue"], format!("{prefix}campaigns.send"));
    assert_eq!(queues["queues"][4]["pending"], 1, "the replayed webhook waits for a consumer");

    let id = campaign.to_string();
    let paused = ctl(&pg, &prefix, &["campaign", "pause", "--id", &id, "--reason", "bot down"]).unwrap();
    assert_eq!(paused["paused"], true);
    let (code, reason): (Option<String>, Option<String>) =
        sqlx::query_as("select pause_code, pause_reason from campaigns where id = $1")
            .bind(campaign)
            .fetch_one(&pg)
            .await
            .unwrap();
    assert_eq!((code.as_deref(), reason.as_deref()), (Some("operator"), Some("bot down")));
    assert!(ctl(&pg, &prefix, &["campaign", "pause", "--id", &id]).is_err(), "paused already");
    ctl(&pg, &prefix, &["campaign", "resume", "--id", &id]).unwrap();
    let paused: bool = sqlx::query_scalar("select paused_at is not null from campaigns where id = $1")
        .bind(campaign)
        .fetch_one(&pg)
        .await
        .unwrap();
    assert!(!paused);
    assert!(ctl(&pg, &prefix, &["campaign", "resume", "--id", &id]).unwrap_err().contains("not paused"));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn user_create_prints_a_one_time_password_that_signs_in_and_refuses_what_it_must(pg: PgPool) {
    let org: i64 = sqlx::query_scalar("insert into organizations (name) values ('Acme') returning id")
        .fetch_one(&pg)
        .await
        .unwrap();
    let org_arg = org.to_string();
    let out =
        ctl(&pg, "", &["user", "create", "--org", &org_arg, "--email", "Ops@Acme.example", "--role", "admin"]).unwrap();
    assert_eq!(out["user"]["email"], "ops@acme.example", "stored in lower case");
    assert_eq!(out["user"]["role"], "admin");
    let password = out["password"].as_str().unwrap();
    assert!(password.len() >= 16, "{password}");
    // Only an Argon2id hash is stored, and the password matches it.
    let hash: String = sqlx::query_scalar("select password_hash from operators where email = 'ops@acme.example'")
        .fetch_one(&pg)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains(password), "{hash}");
    assert!(store::operators::verify_password(password, &hash));
    for (args, expected) in [
        (vec!["--org", &org_arg, "--email", "ops@acme.example", "--role", "admin"], "already exists"),
        (vec!["--org", &org_arg, "--email", "ana@acme.example", "--role", "owner"], "--role must be"),
        (vec!["--org", &org_arg, "--email", "not-an-email", "--role", "operator"], "--email must be"),
        (vec!["--org", "999999", "--email", "ana@acme.example", "--role", "operator"], "no organization"),
    ] {
        let mut full = vec!["user", "create"];
        full.extend(args);
        let err = ctl(&pg, "", &full).unwrap_err();
        assert!(err.contains(expected), "{full:?}: {err}");
    }
}
