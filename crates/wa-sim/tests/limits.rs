//! Throughput (130429) and pair (131056) limits.

mod common;

use std::time::{Duration, Instant};

use common::{PNID, TOKEN, code_of, config, request, start};

#[tokio::test]
async fn sending_faster_than_the_configured_rate_gets_130429() {
    let mut cfg = config();
    cfg.numbers[0].throughput_per_second = 5.0;
    let (sim, client) = start(cfg).await;
    let mut codes = Vec::new();
    for i in 0..10 {
        let to = format!("+3460000{i:04}");
        if let Err(e) = client.send_template(PNID, TOKEN, &request(&to, "hello", &["a", "b"])).await {
            codes.push(code_of(&e));
        }
    }
    assert!(!codes.is_empty(), "a burst of 10 at 5/s must be limited");
    assert!(codes.iter().all(|c| *c == (130429, 400)), "{codes:?}");
    assert_eq!(sim.accepted_count() + codes.len(), 10);
}

#[tokio::test]
async fn the_limiter_holds_its_rate_under_concurrent_hammering() {
    let rate = 50.0;
    let mut cfg = config();
    cfg.numbers[0].throughput_per_second = rate;
    cfg.limits.pair_enabled = false;
    let burst = (rate * cfg.limits.throughput_burst_fraction).max(1.0);
    let (sim, client) = start(cfg).await;
    let started = Instant::now();
    let run = Duration::from_secs(2);
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut i = 0;
                while started.elapsed() < run {
                    let to = format!("+3461{w}{i:06}");
                    let _ = client.send_template(PNID, TOKEN, &request(&to, "hello", &["a", "b"])).await;
                    i += 1;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let accepted = sim.accepted_count() as f64;
    assert!(accepted <= rate * elapsed + burst + 1.0, "accepted {accepted} in {elapsed:.2}s");
    assert!(accepted >= rate * run.as_secs_f64() * 0.8, "accepted only {accepted} in {elapsed:.2}s");
}

#[tokio::test]
async fn the_pair_limit_allows_its_burst_then_refuses_that_recipient_only() {
    let mut cfg = config();
    cfg.limits.pair_burst = 3;
    cfg.limits.pair_interval_ms = 60_000;
    let (_sim, client) = start(cfg).await;
    for _ in 0..3 {
        client.send_template(PNID, TOKEN, &request("+34600000000", "hello", &["a", "b"])).await.expect("in burst");
    }
    let err = client.send_template(PNID, TOKEN, &request("+34600000000", "hello", &["a", "b"])).await;
    let err = err.expect_err("over the pair limit");
    assert_eq!(code_of(&err), (131056, 400));
    assert_eq!(
        err.graph_error().map(|(e, _)| e.message.as_str()),
        Some("(#131056) (Business, Consumer) pair rate limit hit")
    );
    client.send_template(PNID, TOKEN, &request("+34600000001", "hello", &["a", "b"])).await.expect("other recipient");
}

#[tokio::test]
async fn the_pair_limit_can_be_disabled() {
    let mut cfg = config();
    cfg.limits.pair_burst = 1;
    cfg.limits.pair_enabled = false;
    let (sim, client) = start(cfg).await;
    for _ in 0..5 {
        client.send_template(PNID, TOKEN, &request("+34600000000", "hello", &["a", "b"])).await.expect("accepted");
    }
    assert_eq!(sim.messages_to("34600000000").len(), 5);
}
