use std::time::{Duration, Instant};

use super::*;

const PROCESSES: usize = 8;
const TASKS_PER_PROCESS: usize = 3;
const RUN: Duration = Duration::from_secs(2);

/// Eight "processes" (a connection and a limiter each), three tasks each,
/// all sending one campaign at 50/s for 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_processes_keep_one_campaign_at_its_pace() {
    let redis = TestRedis::new().await;
    let number = NumberLimit::new("1", Rate::number_tier(80.0).unwrap());
    let campaign = campaign(1, 50.0, 5);

    let start = Instant::now();
    let end = start + RUN;
    let mut tasks = Vec::new();
    for _ in 0..PROCESSES {
        let limiter = redis.another_process().await;
        for _ in 0..TASKS_PER_PROCESS {
            let (limiter, number) = (limiter.clone(), number.clone());
            tasks.push(tokio::spawn(async move {
                let mut sent = Vec::new();
                loop {
                    let left = end.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return sent;
                    }
                    if limiter.acquire(&number, &campaign, left).await.is_ok() {
                        sent.push(Instant::now());
                    }
                }
            }));
        }
    }
    let mut sent = Vec::new();
    for task in tasks {
        sent.extend(task.await.unwrap());
    }
    sent.retain(|&at| at < end);
    sent.sort();

    // The burst is credit a quiet campaign starts with; the pace is the rest.
    let burst = campaign.rate.burst() as usize;
    let pace = (sent.len() - burst) as f64 / RUN.as_secs_f64();
    let busiest_second = sent
        .iter()
        .enumerate()
        .map(|(i, &from)| sent[i..].iter().take_while(|&&at| at <= from + Duration::from_secs(1)).count())
        .max()
        .unwrap();
    println!("{} sends in {RUN:?}: {pace:.2}/s after the burst; busiest second {busiest_second}", sent.len());
    assert!((pace - 50.0).abs() <= 2.5, "{pace:.2}/s");
    assert!(busiest_second <= 50 + burst, "{busiest_second} sends in one second");
    redis.cleanup().await;
}
