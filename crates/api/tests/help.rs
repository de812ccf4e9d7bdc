//! `campaigns-api --help` documents the configuration without printing secrets.

#[test]
fn help_lists_settings_but_never_secret_values() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_campaigns-api"))
        .arg("--help")
        .env("DATABASE_URL", "postgres://app:hunter2-db@db:5432/app")
        .env("REDIS_URL", "redis://:hunter2-redis@redis:6379")
        .env("APP_ENCRYPTION_KEY", "hunter2-key-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for setting in ["DATABASE_URL", "REDIS_URL", "APP_ENCRYPTION_KEY", "API_ADDR", "CONTACTS_IMPORT_CONCURRENCY"] {
        assert!(help.contains(setting), "--help should document {setting}");
    }
    assert!(!help.contains("hunter2"), "--help printed a secret:\n{help}");
}
