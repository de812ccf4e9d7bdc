//! Meta's two send limits: per-number throughput (130429) and the
//! (business, consumer) pair limit (131056). Both are token buckets; the
//! pair bucket's large burst with a slow refill is exactly Meta's "burst of
//! 45 that borrows future quota".

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate_per_s: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// Starts full.
    pub fn new(rate_per_s: f64, burst: f64, now: Instant) -> Self {
        let burst = burst.max(1.0);
        Self { rate_per_s, burst, tokens: burst, last: now }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate_per_s).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Pair buckets, keyed by (phone_number_id, wa_id).
#[derive(Debug)]
pub struct PairLimiter {
    interval: Duration,
    burst: u32,
    buckets: Mutex<HashMap<(String, String), TokenBucket>>,
}

impl PairLimiter {
    pub fn new(interval: Duration, burst: u32) -> Self {
        Self { interval, burst, buckets: Mutex::new(HashMap::new()) }
    }

    pub fn try_take(&self, phone_number_id: &str, wa_id: &str, now: Instant) -> bool {
        let rate = 1.0 / self.interval.as_secs_f64().max(1e-9);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets
            .entry((phone_number_id.to_owned(), wa_id.to_owned()))
            .or_insert_with(|| TokenBucket::new(rate, f64::from(self.burst), now))
            .try_take(now)
    }

    pub fn reset(&self) {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 3.0, t0);
        assert!((0..3).all(|_| b.try_take(t0)));
        assert!(!b.try_take(t0));
        assert!(b.try_take(t0 + Duration::from_millis(100)));
        assert!(!b.try_take(t0 + Duration::from_millis(150)));
    }

    #[test]
    fn pair_limit_borrows_then_waits_per_recipient() {
        let t0 = Instant::now();
        let pairs = PairLimiter::new(Duration::from_secs(6), 45);
        assert!((0..45).all(|_| pairs.try_take("1", "34600", t0)));
        assert!(!pairs.try_take("1", "34600", t0 + Duration::from_secs(5)));
        assert!(pairs.try_take("1", "34601", t0), "other recipients are unaffected");
        assert!(pairs.try_take("1", "34600", t0 + Duration::from_millis(6_100)));
    }
}
