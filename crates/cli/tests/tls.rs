//! The real `campaignsctl` against managed-style Postgres and Redis that take
//! only TLS (`e2e::tls`): over verified TLS it migrates, creates an
//! organization and reads the queues; a wrong setting fails with a message
//! that names it and shows no password.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use e2e::tls::{Certs, PG_PASSWORD, REDIS_PASSWORD, REDIS_USER, TlsPostgres, TlsRedis};
use serde_json::Value;

/// `campaignsctl args…` with these settings: its JSON, or its stderr.
fn ctl(env: &[(&str, String)], args: &[&str]) -> Result<Value, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_campaignsctl")).args(args).envs(env.iter().cloned()).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    for secret in [PG_PASSWORD, REDIS_PASSWORD, "wrong-redis-password-never-shown"] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret), "a password in the output: {stdout}{stderr}");
    }
    if out.status.success() { Ok(serde_json::from_str(&stdout).unwrap()) } else { Err(stderr.into_owned()) }
}

#[test]
fn campaignsctl_works_over_tls_and_names_a_wrong_setting() {
    let certs = Certs::new();
    let (pg, redis) = (TlsPostgres::start(&certs), TlsRedis::start(&certs));
    let ca = certs.ca.to_string_lossy().into_owned();
    let env = vec![
        ("DATABASE_URL", pg.url("verify-full")),
        ("DATABASE_CA_FILE", ca.clone()),
        ("REDIS_URL", redis.url()),
        ("REDIS_CA_FILE", ca.clone()),
        ("QUEUE_PREFIX", "tls.".to_owned()),
    ];
    assert_eq!(ctl(&env, &["migrate"]).unwrap()["migrated"], true);
    let org = ctl(&env, &["org", "create", "--name", "Acme"]).unwrap();
    assert_eq!(org["organization"]["name"], "Acme");
    let queues = ctl(&env, &["queues"]).unwrap();
    assert!(queues.to_string().contains("campaigns.send"), "the queues over TLS Redis: {queues}");

    // A wrong Redis password: the queues command fails, naming REDIS_URL and its user.
    let mut wrong = env.clone();
    wrong[2].1 = format!("rediss://{REDIS_USER}:wrong-redis-password-never-shown@127.0.0.1:{}", redis.port);
    let error = ctl(&wrong, &["queues"]).unwrap_err();
    assert!(error.contains("REDIS_URL") && error.contains("refused the user \"campaigns\""), "{error}");
    // A CA file that cannot be read: nothing runs, and the message names it.
    let mut unreadable = env.clone();
    unreadable[1].1 = format!("{}/no-such-ca.pem", certs.dir().display());
    let error = ctl(&unreadable, &["org", "create", "--name", "Other"]).unwrap_err();
    assert!(error.contains("DATABASE_CA_FILE") && error.contains("no-such-ca.pem"), "{error}");
    // Without TLS the server refuses: the message says TLS is needed.
    let mut plain = env.clone();
    plain[0].1 = pg.url("disable");
    plain.remove(1);
    let error = ctl(&plain, &["org", "create", "--name", "Other"]).unwrap_err();
    assert!(error.contains("DATABASE_URL") && error.contains("accepts only TLS"), "{error}");
}
