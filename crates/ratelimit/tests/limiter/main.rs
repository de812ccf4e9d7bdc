#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

//! The limiter against a real Redis (`REDIS_URL`, default the one
//! `scripts/services` runs). Each test has its own key prefix and deletes its
//! keys at the end; keys a failed test leaves behind expire on their own.

mod acquire;
mod atomic;
mod concurrency;
mod gcra;
mod pause;

use std::time::Duration;

use rand::Rng;
use ratelimit::{CampaignLimit, Decision, Limiter, NumberLimit, Rate, Wait, WaitCause};
use redis::{AsyncCommands, aio::ConnectionManager};

/// A prefix of its own and the connections made for it.
struct TestRedis {
    prefix: String,
    client: redis::Client,
    conn: ConnectionManager,
}

impl TestRedis {
    async fn new() -> Self {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:56379".into());
        let client = redis::Client::open(url).expect("a valid REDIS_URL");
        let conn = ConnectionManager::new(client.clone()).await.expect("Redis is running");
        let prefix = format!("test-rl-{:016x}", rand::thread_rng().r#gen::<u64>());
        Self { prefix, client, conn }
    }

    /// A limiter on the shared connection.
    fn limiter(&self) -> Limiter {
        Limiter::new(self.conn.clone(), self.prefix.clone())
    }

    /// A limiter on a connection of its own, as another process would have.
    async fn another_process(&self) -> Limiter {
        let conn = ConnectionManager::new(self.client.clone()).await.expect("Redis is running");
        Limiter::new(conn, self.prefix.clone())
    }

    /// Milliseconds until `key` expires (-2 when it does not exist).
    async fn pttl(&self, key: &str) -> i64 {
        self.conn.clone().pttl(format!("{}:{key}", self.prefix)).await.unwrap()
    }

    async fn cleanup(self) {
        let mut conn = self.conn.clone();
        let keys: Vec<String> = conn.keys(format!("{}:*", self.prefix)).await.unwrap();
        if !keys.is_empty() {
            let _: () = conn.del(keys).await.unwrap();
        }
    }
}

fn number(id: &str, per_second: f64, burst: u32) -> NumberLimit {
    NumberLimit::new(id, Rate::new(per_second, burst).unwrap())
}

fn campaign(id: i64, per_second: f64, burst: u32) -> CampaignLimit {
    CampaignLimit::new(id, Rate::new(per_second, burst).unwrap())
}

/// A number no test here comes near.
fn roomy_number(id: &str) -> NumberLimit {
    number(id, 10_000.0, 10_000)
}

/// A campaign no test here comes near.
fn roomy_campaign(id: i64) -> CampaignLimit {
    campaign(id, 10_000.0, 10_000)
}

async fn wait_for(limiter: &Limiter, number: &NumberLimit, campaign: &CampaignLimit) -> Wait {
    match limiter.try_acquire(number, campaign).await.unwrap() {
        Decision::Wait(wait) => wait,
        Decision::Allowed => panic!("expected a wait"),
    }
}

async fn assert_allowed(limiter: &Limiter, number: &NumberLimit, campaign: &CampaignLimit, times: usize) {
    for i in 0..times {
        let decision = limiter.try_acquire(number, campaign).await.unwrap();
        assert_eq!(decision, Decision::Allowed, "attempt {} of {times}", i + 1);
    }
}

async fn assert_held_by(limiter: &Limiter, number: &NumberLimit, campaign: &CampaignLimit, cause: WaitCause) {
    assert_eq!(wait_for(limiter, number, campaign).await.cause, cause);
}

const MS: Duration = Duration::from_millis(1);
