//! Managed, TLS-only Postgres and Redis (docs/operations.md, "Managed
//! Postgres and Redis over TLS"), against servers each test starts
//! (`e2e::tls`): a Postgres that takes only `hostssl`, a redis-server on a TLS
//! port only with an ACL user. The connections every process builds
//! (`process::ConnectionArgs`, `queue::connect_client`) verify the server and
//! say which setting is wrong when they cannot; the real `campaigns-worker`
//! reaches `/readyz` over both.
#![allow(clippy::unwrap_used)]

use std::{path::Path, time::Duration};

use e2e::{
    eventually,
    tls::{
        Certs, PG_PASSWORD, REDIS_PASSWORD, REDIS_USER, TempDir, TlsPostgres, TlsRedis, free_port, refused_at_start,
        wait_until_ready,
    },
};
use process::{ConnectionArgs, ConnectionError, Secret};
use queue::{
    JobError, QueueSettings, SendJob,
    apalis::prelude::{Data, TaskBuilder, TaskSink, WorkerBuilder},
    until_cancelled, worker_name,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const WRONG_PASSWORD: &str = "a-wrong-password-never-shown";

fn connections(
    database_url: &str,
    database_ca: Option<&Path>,
    redis_url: &str,
    redis_ca: Option<&Path>,
) -> ConnectionArgs {
    ConnectionArgs {
        database_url: Secret::new(database_url),
        database_ca_file: database_ca.map(Path::to_path_buf),
        database_max_connections: 2,
        redis_url: Secret::new(redis_url),
        redis_ca_file: redis_ca.map(Path::to_path_buf),
    }
}

fn postgres(url: &str, ca: Option<&Path>) -> ConnectionArgs {
    connections(url, ca, "redis://unused", None)
}

fn redis(url: &str, ca: Option<&Path>) -> ConnectionArgs {
    connections("postgres://unused@127.0.0.1/unused", None, url, ca)
}

/// The message, checked to show no password.
fn message(error: &ConnectionError) -> String {
    let text = error.to_string();
    for secret in [PG_PASSWORD, REDIS_PASSWORD, WRONG_PASSWORD] {
        assert!(!text.contains(secret), "a password in the message: {text}");
    }
    text
}

fn assert_names(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "the message should name {part:?}: {text}");
    }
}

async fn tls_in_use(pool: &sqlx::PgPool) -> bool {
    sqlx::query_scalar("select ssl from pg_stat_ssl where pid = pg_backend_pid()").fetch_one(pool).await.unwrap()
}

#[tokio::test]
async fn postgres_is_reached_over_verified_tls_only() {
    let certs = Certs::new();
    let pg = TlsPostgres::start(&certs);
    let ca = certs.ca.as_path();

    // (a) verify-full with the CA: the pool the processes use answers, over TLS.
    let full = postgres(&pg.url("verify-full"), Some(ca));
    full.check_postgres().await.unwrap_or_else(|e| panic!("{e}\n{}", pg.log()));
    let pool = full.pg_pool().unwrap();
    let answer: i32 = sqlx::query_scalar("select 41 + 1").fetch_one(&pool).await.unwrap();
    assert_eq!(answer, 42);
    assert!(tls_in_use(&pool).await);
    // `sslrootcert=` in the URL works as well as DATABASE_CA_FILE.
    let in_url = postgres(&format!("{}&sslrootcert={}", pg.url("verify-full"), ca.display()), None);
    assert!(tls_in_use(&in_url.pg_pool().unwrap()).await);
    // verify-ca, and require with a CA file (verify-ca, as in libpq), connect too.
    postgres(&pg.url("verify-ca"), Some(ca)).check_postgres().await.unwrap();
    postgres(&pg.url("require"), Some(ca)).check_postgres().await.unwrap();

    // (b) Without TLS the server refuses, and the message says what to set.
    let plain = postgres(&pg.url("disable"), None);
    let error = plain.check_postgres().await.unwrap_err();
    assert!(error.is_misconfiguration());
    assert_names(&message(&error), &["DATABASE_URL", "sslmode=disable", "accepts only TLS", "sslmode=verify-full"]);
    let refused = sqlx::query("select 1").execute(&plain.pg_pool().unwrap()).await.unwrap_err();
    assert_names(&message(&plain.postgres_error(&refused)), &["accepts only TLS"]);

    // The server's CA is private: without DATABASE_CA_FILE the certificate is not trusted.
    let error = postgres(&pg.url("verify-full"), None).check_postgres().await.unwrap_err();
    assert!(error.is_misconfiguration());
    assert_names(&message(&error), &["not signed by a publicly trusted CA", "DATABASE_CA_FILE"]);
    // A CA file that cannot be read, or a mode that would not use it, is refused before connecting.
    let missing = certs.dir().join("no-such-ca.pem");
    let error = postgres(&pg.url("verify-full"), Some(&missing)).pg_connect_options().unwrap_err();
    assert_names(&message(&error), &["DATABASE_CA_FILE", &missing.display().to_string(), "cannot be read"]);
    let error = postgres(&pg.url("prefer"), Some(ca)).pg_connect_options().unwrap_err();
    assert_names(&message(&error), &["DATABASE_CA_FILE", "sslmode=prefer", "sslmode=verify-full"]);

    // (c) A certificate for another host: verify-full refuses it, naming the host and the settings.
    pg.serve_the_wrong_host_certificate();
    let error = eventually(Duration::from_secs(10), "the other host's certificate served", || async {
        full.check_postgres().await.err()
    })
    .await;
    assert!(error.is_misconfiguration());
    assert_names(
        &message(&error),
        &[
            "not valid for the host \"127.0.0.1\" in DATABASE_URL",
            "sslmode=verify-full",
            &format!("DATABASE_CA_FILE {}", ca.display()),
            "wrong-host.example",
        ],
    );
    // The pool's connections fail the same way, explained alike.
    let fresh = full.pg_pool().unwrap();
    let failed = sqlx::query("select 1").execute(&fresh).await.unwrap_err();
    assert_names(&message(&full.postgres_error(&failed)), &["not valid for the host \"127.0.0.1\""]);
}

/// A consumer that hands each job to the test.
async fn hand_over(job: SendJob, seen: Data<mpsc::UnboundedSender<SendJob>>) -> Result<(), JobError> {
    let _ = seen.send(job);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_is_reached_over_tls_as_an_acl_user() {
    let certs = Certs::new();
    let server = TlsRedis::start(&certs);
    let ca = certs.ca.as_path();
    let good = redis(&server.url(), Some(ca));

    // (d) ConnectionArgs::redis: commands, as the ACL user.
    let mut conn = good.redis().await.unwrap_or_else(|e| panic!("{e:#}\n{}", server.log()));
    let user: String = redis::cmd("ACL").arg("WHOAMI").query_async(&mut conn).await.unwrap();
    assert_eq!(user, REDIS_USER);
    let () = redis::cmd("SET").arg("tls-test").arg("yes").query_async(&mut conn).await.unwrap();
    let value: String = redis::cmd("GET").arg("tls-test").query_async(&mut conn).await.unwrap();
    assert_eq!(value, "yes");
    good.check_redis().await.unwrap();

    // queue::connect_client, as the workers' queues use it: a job pushed is consumed.
    let queues = queue::connect_client(good.redis_client().unwrap()).await.unwrap();
    let settings = QueueSettings::hot("tls-test");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let worker = WorkerBuilder::new(worker_name(&settings.queue, "tls-test", 0, 0))
        .backend(settings.worker_storage::<SendJob>(queues.clone()))
        .data(tx)
        .build(hand_over)
        .run_until(until_cancelled(stop.clone()));
    let worker = tokio::spawn(async move {
        let _ = worker.await;
    });
    let job = SendJob::new(7, 42, 0);
    settings.storage::<SendJob>(queues.clone()).push_task(TaskBuilder::new(job).build()).await.unwrap();
    let consumed = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await.expect("the job consumed");
    assert_eq!(consumed, Some(job));
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), worker).await.expect("the worker stops").unwrap();

    // (e) Plain redis:// to the TLS port fails, naming REDIS_URL and rediss://.
    let plain_url = format!("redis://{REDIS_USER}:{REDIS_PASSWORD}@127.0.0.1:{}", server.port);
    let plain = redis(&plain_url, None);
    let error = plain.check_redis().await.unwrap_err();
    assert!(error.is_misconfiguration(), "{error}");
    assert_names(&message(&error), &["REDIS_URL", "rediss://", &format!("redis://{REDIS_USER}@127.0.0.1:")]);
    let error = plain.redis().await.unwrap_err();
    assert_names(&message(error.downcast_ref::<ConnectionError>().unwrap()), &["REDIS_URL", "rediss://"]);
    // A wrong password fails, naming the user and REDIS_URL, never the password.
    let wrong = redis(&format!("rediss://{REDIS_USER}:{WRONG_PASSWORD}@127.0.0.1:{}", server.port), Some(ca));
    let error = wrong.redis().await.unwrap_err();
    let error = error.downcast_ref::<ConnectionError>().unwrap();
    assert!(error.is_misconfiguration());
    assert_names(&message(error), &["REDIS_URL", "refused the user \"campaigns\" and the password"]);
    // Without REDIS_CA_FILE the private CA is not trusted; a CA file needs rediss://; an unreadable one is named.
    let error = redis(&server.url(), None).check_redis().await.unwrap_err();
    assert_names(&message(&error), &["not signed by a publicly trusted CA", "REDIS_CA_FILE"]);
    let error = redis(&plain_url, Some(ca)).redis_client().unwrap_err();
    assert_names(&message(&error), &["REDIS_CA_FILE is set", "use rediss://"]);
    let missing = certs.dir().join("no-such-ca.pem");
    let error = redis(&server.url(), Some(&missing)).redis_client().unwrap_err();
    assert_names(&message(&error), &["REDIS_CA_FILE", &missing.display().to_string(), "cannot be read"]);
}

#[tokio::test]
async fn the_worker_binary_is_ready_over_tls_and_stops_on_a_wrong_setting() {
    let certs = Certs::new();
    let (pg, redis) = (TlsPostgres::start(&certs), TlsRedis::start(&certs));
    let ca = certs.ca.to_string_lossy().into_owned();
    let pool = postgres(&pg.url("verify-full"), Some(&certs.ca)).pg_pool().unwrap();
    store::MIGRATOR.run(&pool).await.unwrap();
    let logs = TempDir::new("tls-worker-logs");
    let worker = |log: &str| {
        let log = std::fs::File::create(logs.path().join(log)).unwrap();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_campaigns-worker"));
        command
            .env("DATABASE_URL", pg.url("verify-full"))
            .env("DATABASE_CA_FILE", &ca)
            .env("REDIS_URL", redis.url())
            .env("REDIS_CA_FILE", &ca)
            .env("WORKER_QUEUES", "send,status,scheduler")
            .env("APP_ENCRYPTION_KEY", store::crypto::Cipher::generate_key())
            .env("LOG_FORMAT", "json")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true);
        command
    };
    let port = free_port();
    let mut ready_worker = worker("ready.log");
    let mut child = ready_worker.env("WORKER_ADDR", format!("127.0.0.1:{port}")).spawn().unwrap();
    wait_until_ready(&mut child, &format!("http://127.0.0.1:{port}/readyz"), &logs.path().join("ready.log")).await;
    let registered: i64 = sqlx::query_scalar("select count(*) from worker_processes").fetch_one(&pool).await.unwrap();
    assert_eq!(registered, 1, "the worker registered itself over TLS");
    child.kill().await.unwrap();

    // A Postgres CA the worker cannot trust: it stops at once and says which setting.
    let mut untrusted = worker("untrusted.log");
    untrusted.env("WORKER_ADDR", format!("127.0.0.1:{}", free_port())).env_remove("DATABASE_CA_FILE");
    let (stderr, stdout) = refused_at_start(&mut untrusted).await;
    assert_names(&stderr, &["DATABASE_URL", "sslmode=verify-full", "DATABASE_CA_FILE"]);
    let logs_text: String = ["ready.log"]
        .iter()
        .map(|f| std::fs::read_to_string(logs.path().join(f)).unwrap_or_default())
        .chain([stderr, stdout])
        .collect();
    for secret in [PG_PASSWORD, REDIS_PASSWORD] {
        assert!(!logs_text.contains(secret), "a password in the worker's output: {logs_text}");
    }
}
