use std::time::{Duration, Instant};

use super::*;

#[tokio::test]
async fn a_pause_holds_the_number_for_every_campaign_until_it_ends() {
    let redis = TestRedis::new().await;
    let (limiter, elsewhere) = (redis.limiter(), redis.another_process().await);
    let (number, campaign) = (number("1", 1.0, 2), roomy_campaign(1));

    let start = Instant::now();
    let paused = limiter.pause_number("1", Duration::from_millis(300)).await.unwrap();
    assert_eq!(paused, Duration::from_millis(300));
    let wait = wait_for(&elsewhere, &number, &roomy_campaign(2)).await;
    assert_eq!(wait.cause, WaitCause::Paused);
    assert!(wait.delay <= 300 * MS && wait.delay + start.elapsed() + MS >= 300 * MS, "{wait:?}");
    // Other numbers send on.
    assert_allowed(&elsewhere, &roomy_number("2"), &campaign, 1).await;

    let waited = elsewhere.acquire(&number, &campaign, Duration::from_secs(2)).await.unwrap();
    assert!(start.elapsed() + 2 * MS >= 300 * MS, "sent {:?} after pausing", start.elapsed());
    assert!(waited <= 400 * MS, "{waited:?}");
    assert_eq!(redis.pttl("rl:pause:1").await, -2, "the pause key expired");
    // Refused attempts during the pause took nothing: the second token of the burst is there.
    assert_allowed(&limiter, &number, &campaign, 1).await;
    redis.cleanup().await;
}

#[tokio::test]
async fn a_pause_is_extended_but_never_shortened() {
    let redis = TestRedis::new().await;
    let limiter = redis.limiter();
    let (number, campaign) = (roomy_number("1"), roomy_campaign(1));

    limiter.pause_number("1", Duration::from_millis(400)).await.unwrap();
    let left = limiter.pause_number("1", Duration::from_millis(100)).await.unwrap();
    assert!(left > 300 * MS && left <= 400 * MS, "a shorter pause kept the longer one ({left:?})");
    let wait = wait_for(&limiter, &number, &campaign).await;
    assert!(wait.delay > 300 * MS, "{wait:?}");

    let left = limiter.pause_number("1", Duration::from_secs(5)).await.unwrap();
    assert_eq!(left, Duration::from_secs(5));
    let wait = wait_for(&limiter, &number, &campaign).await;
    assert!(wait.delay > 4_900 * MS && wait.cause == WaitCause::Paused, "{wait:?}");
    let pttl = redis.pttl("rl:pause:1").await;
    assert!((4_900..=5_000).contains(&pttl), "pttl {pttl} ms");
    redis.cleanup().await;
}

#[tokio::test]
async fn a_pause_is_at_most_an_hour() {
    let redis = TestRedis::new().await;
    let left = redis.limiter().pause_number("1", Duration::from_secs(86_400)).await.unwrap();
    assert_eq!(left, ratelimit::MAX_PAUSE);
    redis.cleanup().await;
}
