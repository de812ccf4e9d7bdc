//! The real `campaigns-worker` binary: it registers itself, answers its
//! health endpoints, and stops cleanly on SIGTERM.

use std::{net::TcpListener, process::Stdio, time::Duration};

use e2e::{eventually, redis_url};
use sqlx::{PgPool, Row};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

fn database_url(pg: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let db = pg.connect_options().get_database().expect("test database").to_owned();
    format!("{}/{db}", base.rsplit_once('/').expect("a database URL").0)
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn worker_registers_serves_health_and_stops_on_sigterm(pg: PgPool) {
    let port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_campaigns-worker"))
        .env("DATABASE_URL", database_url(&pg))
        .env("REDIS_URL", redis_url())
        .env("WORKER_ADDR", format!("127.0.0.1:{port}"))
        .env("WORKER_QUEUES", "send,status")
        .env("APP_ENCRYPTION_KEY", store::crypto::Cipher::generate_key())
        .env("QUEUE_PREFIX", format!("test{}.", uuid::Uuid::new_v4().simple()))
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start worker");
    let http = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{port}/readyz");
    eventually(Duration::from_secs(20), "worker readiness", || async {
        let r = http.get(&ready).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;

    let row = eventually(Duration::from_secs(20), "worker registration", || async {
        sqlx::query("select name, queues, stopped_at is null as running from worker_processes")
            .fetch_optional(&pg)
            .await
            .unwrap()
    })
    .await;
    let name: String = row.get("name");
    assert_eq!(row.get::<Vec<String>, _>("queues"), vec!["send", "status"]);
    assert!(row.get::<bool, _>("running"));

    let metrics = http.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"route="/readyz""#), "the worker counts its own HTTP requests: {metrics}");
    let metrics_url = format!("http://127.0.0.1:{port}/metrics");
    eventually(Duration::from_secs(20), "the queue gauges exported", || async {
        let text = http.get(&metrics_url).send().await.ok()?.text().await.ok()?;
        (text.contains(r#"queue_pending_jobs{queue="send"}"#) && text.contains(r#"queue_dead_jobs{queue="status"}"#))
            .then_some(())
    })
    .await;

    let pid = child.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await.expect("exits").unwrap();
    assert!(status.success(), "SIGTERM is a clean stop, got {status}");
    let stopped: bool = sqlx::query_scalar("select stopped_at is not null from worker_processes where name = $1")
        .bind(&name)
        .fetch_one(&pg)
        .await
        .unwrap();
    assert!(stopped, "a clean stop is recorded");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_send_queue_refuses_to_start_without_the_encryption_key(pg: PgPool) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_campaigns-worker"))
        .env("DATABASE_URL", database_url(&pg))
        .env("REDIS_URL", redis_url())
        .env("WORKER_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("WORKER_QUEUES", "send")
        .env_remove("APP_ENCRYPTION_KEY")
        .env("LOG_FORMAT", "json")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), out).await.expect("exits at once").unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("APP_ENCRYPTION_KEY"), "the error names what is missing: {stderr}");
}
