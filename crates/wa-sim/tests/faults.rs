//! Fault injection: latency, 5xx and "accepted, then the answer hangs".

mod common;

use std::time::{Duration, Instant};

use common::{PNID, TOKEN, config, request, start};
use wa_sim::config::FaultsConfig;
use whatsapp::{ClientConfig, CloudClient, OutcomeUnknown, SendError};

#[tokio::test]
async fn a_5xx_fault_is_a_transient_graph_error_and_records_nothing() {
    let (sim, client) = start(config()).await;
    sim.set_faults(FaultsConfig { server_error_rate: 1.0, ..FaultsConfig::default() });
    let err = client.send_template(PNID, TOKEN, &request("+34600000000", "hello", &["a", "b"])).await;
    let (code, status) = common::code_of(&err.expect_err("fails"));
    assert_eq!((code, status), (2, 500));
    assert_eq!(sim.accepted_count(), 0);

    sim.set_faults(FaultsConfig::default());
    client.send_template(PNID, TOKEN, &request("+34600000000", "hello", &["a", "b"])).await.expect("healthy again");
}

#[tokio::test]
async fn accept_then_hang_records_the_message_but_the_client_times_out() {
    let (sim, _) = start(config()).await;
    sim.set_faults(FaultsConfig { accept_then_hang_rate: 1.0, hang_ms: 5_000, ..FaultsConfig::default() });
    let client = CloudClient::new(ClientConfig {
        base_url: sim.base_url(),
        request_timeout: Duration::from_millis(300),
        ..ClientConfig::default()
    })
    .expect("client");
    let err = client.send_template(PNID, TOKEN, &request("+34600000000", "hello", &["a", "b"])).await;
    assert!(matches!(err, Err(SendError::OutcomeUnknown { .. })), "{err:?}");
    assert_eq!(sim.accepted_count(), 1, "the message went out although the client never heard");
}

#[tokio::test]
async fn latency_is_added_and_faults_are_switchable_over_http() {
    let (sim, client) = start(config()).await;
    let http = reqwest::Client::new();
    let url = format!("{}/_sim/faults", sim.base_url());
    let set: FaultsConfig = http
        .put(&url)
        .json(&serde_json::json!({"latency_ms": 200}))
        .send()
        .await
        .expect("ok")
        .json()
        .await
        .expect("json");
    assert_eq!(set.latency_ms, 200);
    let started = Instant::now();
    client.send_template(PNID, TOKEN, &request("+34600000000", "hello", &["a", "b"])).await.expect("accepted");
    assert!(started.elapsed() >= Duration::from_millis(200));
    let now: FaultsConfig = http.get(&url).send().await.expect("ok").json().await.expect("json");
    assert_eq!(now, sim.faults());
}

#[tokio::test]
async fn a_dropped_connection_gives_the_client_no_answer() {
    let (sim, client) = start(config()).await;
    sim.set_faults(FaultsConfig { drop_connection_rate: 1.0, ..FaultsConfig::default() });
    let err = client.send_template(PNID, TOKEN, &request("+34600000000", "hello", &["a", "b"])).await;
    assert!(matches!(err, Err(SendError::OutcomeUnknown { cause: OutcomeUnknown::Transport(_) })), "{err:?}");
    assert_eq!(sim.accepted_count(), 0);
}
