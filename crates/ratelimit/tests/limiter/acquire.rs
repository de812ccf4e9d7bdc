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

#[tokio::test]
async fn only_the_first_of_a_line_holds_what_it_takes_on_its_turn() {
    use std::sync::Arc;
    let redis = TestRedis::new().await;
    let limiter = redis.limiter();
    // Two slots, as a worker's send slots; a 5/s campaign with two seconds of its pace waiting.
    let slots = Arc::new(tokio::sync::Semaphore::new(2));
    let number = roomy_number("1");
    let slow = campaign(1, 5.0, 1);
    let waiting: Vec<_> = (0..10)
        .map(|_| {
            let (limiter, slots, number) = (limiter.clone(), slots.clone(), number.clone());
            tokio::spawn(async move {
                let (_, slot) = limiter
                    .acquire_on_turn(&number, &slow, Duration::from_secs(10), slots.acquire_owned())
                    .await
                    .unwrap();
                drop(slot.unwrap());
            })
        })
        .collect();
    // While they wait, another campaign's sends get a slot at once, one after another:
    // the slow line holds at most one of the two.
    let fast = roomy_campaign(2);
    for i in 0..20 {
        let start = Instant::now();
        let (_, slot) = limiter
            .acquire_on_turn(&number, &fast, Duration::from_secs(1), slots.clone().acquire_owned())
            .await
            .unwrap();
        let slot = slot.unwrap();
        assert!(start.elapsed() < 100 * MS, "send {i} waited {:?} for a slot", start.elapsed());
        tokio::time::sleep(50 * MS).await; // as long as a send to Meta
        drop(slot);
    }
    assert!(waiting.iter().any(|w| !w.is_finished()), "the slow campaign was still waiting");
    let start = Instant::now();
    for w in waiting {
        w.await.unwrap();
    }
    // The tenth token of a 5/s campaign (burst 1) comes 1.8 s after the first.
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    redis.cleanup().await;
}
