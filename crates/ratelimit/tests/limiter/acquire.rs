use std::time::{Duration, Instant};

use ratelimit::LimitError;

use super::*;

#[tokio::test]
async fn acquire_gives_up_at_once_when_the_next_delay_is_beyond_its_budget() {
    let redis = TestRedis::new().await;
    let limiter = redis.limiter();
    let (number, campaign) = (roomy_number("1"), campaign(1, 5.0, 1));
    limiter.acquire(&number, &campaign, Duration::ZERO).await.unwrap();

    let start = Instant::now();
    let err = limiter.acquire(&number, &campaign, Duration::from_millis(100)).await.unwrap_err();
    assert!(start.elapsed() < 50 * MS, "it did not sleep first ({:?})", start.elapsed());
    let LimitError::WaitTooLong { last: Some(wait), .. } = err else { panic!("{err:?}") };
    assert_eq!(wait.cause, WaitCause::Campaign);
    assert!(wait.delay > 100 * MS && wait.delay <= 200 * MS, "{wait:?}");

    limiter.pause_number("1", Duration::from_secs(5)).await.unwrap();
    let err = limiter.acquire(&number, &campaign, Duration::from_millis(300)).await.unwrap_err();
    let LimitError::WaitTooLong { last: Some(wait), .. } = err else { panic!("{err:?}") };
    assert_eq!(wait.cause, WaitCause::Paused);
    assert!(wait.delay > 4 * Duration::from_secs(1), "{wait:?}");
    redis.cleanup().await;
}

#[tokio::test]
async fn acquire_gives_up_after_max_wait_when_its_turn_does_not_come() {
    let redis = TestRedis::new().await;
    let limiter = redis.limiter();
    let (number, campaign) = (roomy_number("1"), campaign(1, 5.0, 1));
    limiter.acquire(&number, &campaign, Duration::ZERO).await.unwrap();

    // `join!` polls in order: the first joins the line first and sleeps about
    // 200 ms holding it; the second's 50 ms budget runs out in line.
    let start = Instant::now();
    let (first, second) = tokio::join!(
        limiter.acquire(&number, &campaign, Duration::from_secs(1)),
        limiter.acquire(&number, &campaign, Duration::from_millis(50)),
    );
    let waited = first.unwrap();
    assert!(waited >= 150 * MS, "{waited:?}");
    let Err(LimitError::WaitTooLong { waited, last: None }) = second else { panic!("{second:?}") };
    assert!(waited >= 50 * MS && waited < 150 * MS, "{waited:?}");
    assert!(start.elapsed() < 400 * MS);
    redis.cleanup().await;
}

#[tokio::test]
async fn acquire_takes_any_budget() {
    let redis = TestRedis::new().await;
    let (number, campaign) = (roomy_number("1"), roomy_campaign(1));
    redis.limiter().acquire(&number, &campaign, Duration::MAX).await.unwrap();
    redis.cleanup().await;
}
