use std::time::{Duration, Instant};

use super::*;

#[tokio::test]
async fn a_campaign_at_5_per_second_on_a_number_at_80_sends_5_per_second() {
    let redis = TestRedis::new().await;
    let limiter = redis.limiter();
    let number = NumberLimit::new("1", Rate::number_tier(80.0).unwrap());
    let campaign = campaign(1, 5.0, 1);

    let start = Instant::now();
    for _ in 0..5 {
        limiter.acquire(&number, &campaign, Duration::from_secs(1)).await.unwrap();
    }
    let elapsed = start.elapsed();
    // 5 sends at 5/s: the first at once, then one every 200 ms.
    assert!(elapsed + 2 * MS >= 800 * MS && elapsed <= 1_000 * MS, "{elapsed:?}");
    assert_held_by(&limiter, &number, &campaign, WaitCause::Campaign).await;
    redis.cleanup().await;
}

#[tokio::test]
async fn an_attempt_the_campaign_refuses_takes_nothing_from_the_number() {
    let redis = TestRedis::new().await;
    let limiter = redis.limiter();
    // Slow refills (one per second) so the test's own pace cannot refill a token.
    let number = number("1", 1.0, 5);
    let (slow, other) = (campaign(1, 1.0, 1), roomy_campaign(2));

    assert_allowed(&limiter, &number, &slow, 1).await;
    for _ in 0..10 {
        assert_held_by(&limiter, &number, &slow, WaitCause::Campaign).await;
    }
    // The number still has the 4 tokens the refused attempts did not take.
    assert_allowed(&limiter, &number, &other, 4).await;
    assert_held_by(&limiter, &number, &other, WaitCause::Number).await;
    redis.cleanup().await;
}

#[tokio::test]
async fn an_attempt_the_number_refuses_takes_nothing_from_the_campaign() {
    let redis = TestRedis::new().await;
    let limiter = redis.limiter();
    let (busy, other) = (number("1", 1.0, 1), roomy_number("2"));
    let campaign = campaign(1, 1.0, 3);

    assert_allowed(&limiter, &busy, &roomy_campaign(2), 1).await;
    for _ in 0..10 {
        assert_held_by(&limiter, &busy, &campaign, WaitCause::Number).await;
    }
    assert_allowed(&limiter, &other, &campaign, 3).await;
    assert_held_by(&limiter, &other, &campaign, WaitCause::Campaign).await;
    redis.cleanup().await;
}

#[tokio::test]
async fn campaigns_on_one_number_share_its_tier() {
    let redis = TestRedis::new().await;
    let limiter = redis.limiter();
    let number = number("1", 1.0, 4);
    let (first, second) = (roomy_campaign(1), roomy_campaign(2));

    assert_allowed(&limiter, &number, &first, 2).await;
    assert_allowed(&limiter, &number, &second, 2).await;
    assert_held_by(&limiter, &number, &first, WaitCause::Number).await;
    assert_held_by(&limiter, &number, &second, WaitCause::Number).await;
    // Another number is not affected.
    assert_allowed(&limiter, &roomy_number("2"), &first, 1).await;
    redis.cleanup().await;
}
