use std::time::{Duration, Instant};

use super::*;

#[tokio::test]
async fn the_burst_goes_at_once_then_sends_are_spaced_by_the_interval() {
    let redis = TestRedis::new().await;
    let limiter = redis.limiter();
    let (number, campaign) = (roomy_number("1"), campaign(1, 10.0, 3));
    let interval = Duration::from_millis(100);

    let start = Instant::now();
    assert_allowed(&limiter, &number, &campaign, 3).await;
    let wait = wait_for(&limiter, &number, &campaign).await;
    assert_eq!(wait.cause, WaitCause::Campaign);
    assert!(wait.delay <= interval, "{wait:?}");
    assert!(wait.delay + start.elapsed() + MS >= interval, "{wait:?} after {:?}", start.elapsed());

    // The campaign's key lives until its bucket would be full again.
    let pttl = redis.pttl("rl:campaign:1").await;
    assert!((200..=300).contains(&pttl), "pttl {pttl} ms");

    // The k-th send after the burst goes k intervals after the burst, never
    // earlier; late wake-ups (jitter) are bounded by 10 % plus overhead.
    for k in 1..=5u32 {
        limiter.acquire(&number, &campaign, Duration::from_secs(1)).await.unwrap();
        let elapsed = start.elapsed();
        assert!(elapsed + 2 * MS >= interval * k, "send {k} after {elapsed:?}");
        assert!(elapsed <= interval * k + interval / 10 * k + 100 * MS, "send {k} after {elapsed:?}");
    }
    redis.cleanup().await;
}

#[tokio::test]
async fn acquire_reports_the_time_it_waited() {
    let redis = TestRedis::new().await;
    let limiter = redis.limiter();
    let (number, campaign) = (roomy_number("1"), campaign(1, 5.0, 1));

    let waited = limiter.acquire(&number, &campaign, Duration::from_secs(1)).await.unwrap();
    assert!(waited < 100 * MS, "the first send waits for nothing ({waited:?})");
    let start = Instant::now();
    let waited = limiter.acquire(&number, &campaign, Duration::from_secs(1)).await.unwrap();
    assert!(waited >= 190 * MS && waited <= start.elapsed(), "{waited:?}");
    redis.cleanup().await;
}
