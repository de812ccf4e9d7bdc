//! The real `campaigns-api` against managed-style Postgres and Redis that
//! take only TLS (`e2e::tls`): it migrates and is ready over verified TLS; a
//! plain `redis://` to the TLS port stops it with a message naming
//! `REDIS_URL`, and no message shows a password.
#![allow(clippy::unwrap_used)]

use e2e::tls::{
    Certs, PG_PASSWORD, REDIS_PASSWORD, REDIS_USER, TempDir, TlsPostgres, TlsRedis, free_port, refused_at_start,
    wait_until_ready,
};

#[tokio::test]
async fn the_api_migrates_and_is_ready_over_tls() {
    let certs = Certs::new();
    let (pg, redis) = (TlsPostgres::start(&certs), TlsRedis::start(&certs));
    let ca = certs.ca.to_string_lossy().into_owned();
    let logs = TempDir::new("tls-api-logs");
    let log = std::fs::File::create(logs.path().join("api.log")).unwrap();
    let api = |command: &mut tokio::process::Command| {
        command
            .env("DATABASE_URL", pg.url("verify-full"))
            .env("DATABASE_CA_FILE", &ca)
            .env("REDIS_URL", redis.url())
            .env("REDIS_CA_FILE", &ca)
            .env("APP_ENCRYPTION_KEY", store::crypto::Cipher::generate_key())
            .env("METRICS_ADDR", format!("127.0.0.1:{}", free_port()))
            .env("LOG_FORMAT", "json")
            .kill_on_drop(true);
    };
    let port = free_port();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_campaigns-api"));
    api(&mut command);
    let mut child = command
        .env("API_ADDR", format!("127.0.0.1:{port}"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    wait_until_ready(&mut child, &format!("http://127.0.0.1:{port}/readyz"), &logs.path().join("api.log")).await;
    child.kill().await.unwrap();
    let output = std::fs::read_to_string(logs.path().join("api.log")).unwrap();
    assert!(output.contains("API listening"), "{output}");

    // Plain redis:// to the TLS port: the API stops at once, naming REDIS_URL.
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_campaigns-api"));
    api(&mut command);
    command
        .env("API_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("REDIS_URL", format!("redis://{REDIS_USER}:{REDIS_PASSWORD}@127.0.0.1:{}", redis.port))
        .env_remove("REDIS_CA_FILE");
    let (stderr, stdout) = refused_at_start(&mut command).await;
    assert!(stderr.contains("REDIS_URL") && stderr.contains("rediss://"), "{stderr}");
    let everything = format!("{output}{stderr}{stdout}");
    for secret in [PG_PASSWORD, REDIS_PASSWORD] {
        assert!(!everything.contains(secret), "a password in the API's output: {everything}");
    }
}
