//! Meta's messaging limit: how many distinct WhatsApp users a *business
//! portfolio* (the owner of WABAs, which own the phone numbers) may be sent
//! templates in a moving window, by tier, shared by all of the portfolio's
//! numbers. The window is 24 hours at Meta and `limits.messaging_window_ms`
//! here, so tests and benchmarks can compress the day.
//!
//! - A WABA belongs to `wabas[].business_id`; without one (or for a number
//!   whose WABA is not listed under `wabas`) to the portfolio
//!   [`default_business_id`], `"9"` followed by the WABA id.
//! - The portfolio's starting tier is the `messaging_limit_tier` of its first
//!   configured number (`TIER_10K` for a portfolio without numbers); it can
//!   be changed at run time ([`crate::Simulator::set_messaging_limit`],
//!   `POST /_sim/portfolios/{business_id}/messaging_limit`).
//! - A template to a user the portfolio sent one to within the window is
//!   always allowed (and refreshes that user's time); one to a new user is
//!   allowed while fewer users than the tier's limit are counted, and refused
//!   otherwise. `TIER_UNLIMITED` counts nothing.
//!
//! Meta documents no error for a send past the limit (partners say the rest
//! is not sent). The simulator answers HTTP 400 with its own stand-in code,
//! 130430 ([`crate::MetaError::messaging_limit_reached`]); a refused send is
//! not recorded and gets no webhook.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use crate::config::Config;

/// `owner_business_info.name` when the config names no portfolio name.
pub const DEFAULT_BUSINESS_NAME: &str = "Simulated Business Portfolio";

/// A portfolio's tier when none of its numbers gives one.
const DEFAULT_TIER: &str = "TIER_10K";

/// Every tier name the simulator knows, with the distinct users it allows
/// per window (`None`: unlimited). `TIER_1K` is the legacy second tier.
pub const TIERS: &[(&str, Option<usize>)] = &[
    ("TIER_250", Some(250)),
    ("TIER_1K", Some(1_000)),
    ("TIER_2K", Some(2_000)),
    ("TIER_10K", Some(10_000)),
    ("TIER_100K", Some(100_000)),
    ("TIER_UNLIMITED", None),
];

/// The distinct users `tier` allows per window (`Some(None)`: unlimited), or
/// `None` when `tier` is not a tier name.
pub fn tier_limit(tier: &str) -> Option<Option<usize>> {
    TIERS.iter().find(|(name, _)| *name == tier).map(|(_, limit)| *limit)
}

/// `max_daily_conversations_per_business` in Meta's `business_capability_update`
/// webhook: the limit, or −1 for unlimited.
pub fn webhook_limit(limit: Option<usize>) -> i64 {
    limit.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// The portfolio of a WABA whose config names none: `"9"` followed by the
/// WABA id, so it looks numeric like Meta's ids and cannot be a WABA id.
pub fn default_business_id(waba_id: &str) -> String {
    format!("9{waba_id}")
}

/// What the simulator says about a portfolio (`GET /_sim/portfolios/{business_id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortfolioView {
    pub business_id: String,
    pub tier: String,
    /// Distinct users per window; `None` (JSON `null`) is unlimited.
    pub limit: Option<usize>,
    pub window_ms: u64,
    /// Users counted now: sent a template within the window.
    pub used: usize,
    /// Sends refused for the limit since the start (or the last reset).
    pub refused: u64,
}

/// Why a tier change was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TierChangeError {
    #[error("unknown tier {0:?}; expected TIER_250, TIER_1K, TIER_2K, TIER_10K, TIER_100K or TIER_UNLIMITED")]
    UnknownTier(String),
    #[error("no business portfolio {0:?}")]
    UnknownPortfolio(String),
}

/// A send refused for the limit: the portfolio's tier and its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OverLimit {
    pub tier: String,
    pub limit: usize,
}

#[derive(Debug)]
struct Sent {
    at: Instant,
    seq: u64,
    user: Arc<str>,
}

/// One portfolio's tier and the users it reached within the window.
#[derive(Debug)]
struct Reach {
    tier: String,
    limit: Option<usize>,
    /// The users counted now, each with the `seq` of its last send, which
    /// tells that send's entry in `order` from older, stale ones.
    last: HashMap<Arc<str>, u64>,
    /// Sends in time order; an entry whose `seq` is not its user's in `last`
    /// is stale (the user was sent another since) and is skipped.
    order: VecDeque<Sent>,
    next_seq: u64,
    refused: u64,
}

impl Reach {
    fn new(tier: &str) -> Self {
        let limit = tier_limit(tier).flatten();
        let tier = tier.to_owned();
        Self { tier, limit, last: HashMap::new(), order: VecDeque::new(), next_seq: 0, refused: 0 }
    }

    fn forget(&mut self) {
        self.last = HashMap::new();
        self.order = VecDeque::new();
    }

    /// Drops the sends older than the window, and the users whose last send
    /// they were.
    fn prune(&mut self, now: Instant, window: Duration) {
        while let Some(front) = self.order.front() {
            if now.saturating_duration_since(front.at) < window {
                break;
            }
            let sent = self.order.pop_front().expect("the front exists");
            if self.last.get(&*sent.user) == Some(&sent.seq) {
                self.last.remove(&*sent.user);
            }
        }
    }

    /// Keeps `order` within twice the counted users (plus slack) when the same
    /// users are sent to again and again; amortised O(1) per send.
    fn compact(&mut self) {
        if self.order.len() > 2 * self.last.len() + 64 {
            let last = &self.last;
            self.order.retain(|sent| last.get(&*sent.user) == Some(&sent.seq));
        }
    }

    fn admit(&mut self, wa_id: &str, now: Instant, window: Duration) -> Result<(), OverLimit> {
        let Some(limit) = self.limit else { return Ok(()) };
        // Sends can reach the lock out of the order of their clocks; keeping
        // `order` sorted keeps pruning exact.
        let now = self.order.back().map_or(now, |back| now.max(back.at));
        self.prune(now, window);
        let user = match self.last.get_key_value(wa_id) {
            Some((user, _)) => user.clone(),
            None if self.last.len() >= limit => {
                self.refused += 1;
                return Err(OverLimit { tier: self.tier.clone(), limit });
            }
            None => Arc::from(wa_id),
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.last.insert(user.clone(), seq);
        self.order.push_back(Sent { at: now, seq, user });
        self.compact();
        Ok(())
    }
}

#[derive(Debug)]
struct Portfolio {
    business_id: String,
    /// The first `business_name` among its WABAs.
    name: Option<String>,
    /// In config order.
    wabas: Vec<String>,
    reach: Mutex<Reach>,
}

/// Every portfolio of the config; the set is fixed at start, only tiers and
/// counts change. Each portfolio has its own lock.
#[derive(Debug)]
pub(crate) struct Portfolios {
    window: Duration,
    enabled: bool,
    list: Vec<Portfolio>,
    by_business: HashMap<String, usize>,
    by_waba: HashMap<String, usize>,
}

impl Portfolios {
    /// Expects the tiers checked ([`Config::validate`]); an unknown one counts
    /// as `TIER_10K`.
    pub fn new(config: &Config) -> Self {
        let mut owners: HashMap<&str, (String, Option<&str>)> = HashMap::new();
        for waba in &config.wabas {
            let business = waba.business_id.clone().unwrap_or_else(|| default_business_id(&waba.waba_id));
            owners.entry(&waba.waba_id).or_insert((business, waba.business_name.as_deref()));
        }
        let mut portfolios = Self {
            window: Duration::from_millis(config.limits.messaging_window_ms),
            enabled: config.limits.messaging_limit_enabled,
            list: Vec::new(),
            by_business: HashMap::new(),
            by_waba: HashMap::new(),
        };
        // Numbers first: a portfolio's first number gives its tier.
        let wabas = config.numbers.iter().map(|n| (n.waba_id.as_str(), Some(n.messaging_limit_tier.as_str())));
        let listed = config.wabas.iter().map(|w| (w.waba_id.as_str(), None));
        for (waba_id, tier) in wabas.chain(listed) {
            let (business, name) = owners.get(waba_id).cloned().unwrap_or_else(|| (default_business_id(waba_id), None));
            let index = *portfolios.by_business.entry(business.clone()).or_insert_with(|| {
                let tier = tier.filter(|t| tier_limit(t).is_some()).unwrap_or(DEFAULT_TIER);
                portfolios.list.push(Portfolio {
                    business_id: business,
                    name: None,
                    wabas: Vec::new(),
                    reach: Mutex::new(Reach::new(tier)),
                });
                portfolios.list.len() - 1
            });
            let portfolio = &mut portfolios.list[index];
            if portfolio.name.is_none() {
                portfolio.name = name.map(str::to_owned);
            }
            if !portfolio.wabas.iter().any(|w| w == waba_id) {
                portfolio.wabas.push(waba_id.to_owned());
                portfolios.by_waba.insert(waba_id.to_owned(), index);
            }
        }
        portfolios
    }

    fn get(&self, business_id: &str) -> Option<&Portfolio> {
        self.by_business.get(business_id).map(|&i| &self.list[i])
    }

    fn of_waba(&self, waba_id: &str) -> Option<&Portfolio> {
        self.by_waba.get(waba_id).map(|&i| &self.list[i])
    }

    /// The portfolio owning `waba_id`, if the simulator knows the WABA.
    pub fn business_of(&self, waba_id: &str) -> Option<&str> {
        self.of_waba(waba_id).map(|p| p.business_id.as_str())
    }

    /// `(business_id, name)` of the portfolio owning `waba_id`.
    pub fn owner_of(&self, waba_id: &str) -> Option<(&str, &str)> {
        self.of_waba(waba_id).map(|p| (p.business_id.as_str(), p.name.as_deref().unwrap_or(DEFAULT_BUSINESS_NAME)))
    }

    /// The WABAs a portfolio owns, in config order.
    pub fn wabas_of(&self, business_id: &str) -> &[String] {
        self.get(business_id).map_or(&[], |p| p.wabas.as_slice())
    }

    /// The tier the numbers of `waba_id` report: their portfolio's now.
    pub fn tier_of_waba(&self, waba_id: &str) -> Option<String> {
        self.of_waba(waba_id).map(|p| lock(&p.reach).tier.clone())
    }

    /// Counts a template to `wa_id` from a number of `waba_id`, or refuses it
    /// when the user is new and the portfolio's limit is reached.
    pub fn admit(&self, waba_id: &str, wa_id: &str, now: Instant) -> Result<(), OverLimit> {
        if !self.enabled {
            return Ok(());
        }
        match self.of_waba(waba_id) {
            Some(portfolio) => lock(&portfolio.reach).admit(wa_id, now, self.window),
            None => Ok(()),
        }
    }

    /// Changes a portfolio's tier. Users already counted stay counted (an
    /// unlimited tier forgets them, as it counts nothing).
    pub fn set_tier(&self, business_id: &str, tier: &str, now: Instant) -> Result<PortfolioView, TierChangeError> {
        let portfolio =
            self.get(business_id).ok_or_else(|| TierChangeError::UnknownPortfolio(business_id.to_owned()))?;
        let limit = tier_limit(tier).ok_or_else(|| TierChangeError::UnknownTier(tier.to_owned()))?;
        let mut reach = lock(&portfolio.reach);
        tier.clone_into(&mut reach.tier);
        reach.limit = limit;
        if limit.is_none() {
            reach.forget();
        }
        Ok(self.render(portfolio, &mut reach, now))
    }

    pub fn view(&self, business_id: &str, now: Instant) -> Option<PortfolioView> {
        let portfolio = self.get(business_id)?;
        Some(self.render(portfolio, &mut lock(&portfolio.reach), now))
    }

    /// Every portfolio, in config order.
    pub fn views(&self, now: Instant) -> Vec<PortfolioView> {
        self.list.iter().map(|p| self.render(p, &mut lock(&p.reach), now)).collect()
    }

    fn render(&self, portfolio: &Portfolio, reach: &mut Reach, now: Instant) -> PortfolioView {
        reach.prune(now, self.window);
        PortfolioView {
            business_id: portfolio.business_id.clone(),
            tier: reach.tier.clone(),
            limit: reach.limit,
            window_ms: u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX),
            used: reach.last.len(),
            refused: reach.refused,
        }
    }

    /// Forgets every count and refusal; tiers stay as they are.
    pub fn reset(&self) {
        for portfolio in &self.list {
            let mut reach = lock(&portfolio.reach);
            reach.forget();
            reach.refused = 0;
        }
    }
}

fn lock(reach: &Mutex<Reach>) -> MutexGuard<'_, Reach> {
    reach.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{NumberConfig, WabaConfig};

    fn number(id: &str, waba: &str, tier: &str) -> NumberConfig {
        NumberConfig {
            phone_number_id: id.into(),
            display_phone_number: "15550001111".into(),
            waba_id: waba.into(),
            access_token: "t".into(),
            app_secret: "s".into(),
            throughput_per_second: 80.0,
            verified_name: "x".into(),
            quality_rating: "GREEN".into(),
            messaging_limit_tier: tier.into(),
        }
    }

    fn waba(id: &str, business: Option<&str>, name: Option<&str>) -> WabaConfig {
        WabaConfig {
            waba_id: id.into(),
            business_id: business.map(Into::into),
            business_name: name.map(Into::into),
            templates: vec![],
        }
    }

    /// WABAs 10 and 20 in portfolio B, 30 on its own (unlisted), 40 listed without numbers.
    fn config(tier: &str, window_ms: u64) -> Config {
        let mut config = Config {
            numbers: vec![number("1", "10", tier), number("2", "20", "TIER_UNLIMITED"), number("3", "30", tier)],
            wabas: vec![waba("10", Some("B"), None), waba("20", Some("B"), Some("Shop")), waba("40", None, None)],
            ..Config::default()
        };
        config.limits.messaging_window_ms = window_ms;
        config
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn tiers_and_their_limits() {
        assert_eq!(tier_limit("TIER_250"), Some(Some(250)));
        assert_eq!(tier_limit("TIER_1K"), Some(Some(1_000)), "the legacy second tier");
        assert_eq!(tier_limit("TIER_2K"), Some(Some(2_000)));
        assert_eq!(tier_limit("TIER_100K"), Some(Some(100_000)));
        assert_eq!(tier_limit("TIER_UNLIMITED"), Some(None));
        assert_eq!(tier_limit("tier_250"), None);
        assert_eq!((webhook_limit(Some(2_000)), webhook_limit(None)), (2_000, -1));
    }

    #[test]
    fn portfolios_come_from_the_config() {
        let p = Portfolios::new(&config("TIER_250", 1_000));
        assert_eq!(p.owner_of("10"), Some(("B", "Shop")), "a later WABA may name the portfolio");
        assert_eq!(p.business_of("30"), Some("930"), "an unlisted WABA has the default portfolio");
        assert_eq!(p.owner_of("40"), Some(("940", DEFAULT_BUSINESS_NAME)));
        assert_eq!(p.business_of("50"), None);
        assert_eq!(p.wabas_of("B"), ["10", "20"]);
        assert_eq!(p.tier_of_waba("20").as_deref(), Some("TIER_250"), "the portfolio's first number sets it");
        assert_eq!(p.view("940", Instant::now()).map(|v| v.tier).as_deref(), Some("TIER_10K"));
        let ids: Vec<_> = p.views(Instant::now()).into_iter().map(|v| v.business_id).collect();
        assert_eq!(ids, ["B", "930", "940"]);
    }

    #[test]
    fn a_portfolio_shares_its_limit_and_a_user_counts_once_per_window() {
        let p = Portfolios::new(&config("TIER_250", 1_000));
        let t0 = Instant::now();
        for i in 0..250 {
            p.admit("10", &format!("u{i}"), t0 + i * MS).expect("within the tier");
        }
        let over = OverLimit { tier: "TIER_250".into(), limit: 250 };
        assert_eq!(p.admit("20", "new", t0 + 300 * MS), Err(over), "shared by the portfolio's numbers");
        assert_eq!(p.admit("20", "u0", t0 + 300 * MS), Ok(()), "a counted user is allowed, and refreshed");
        assert_eq!(p.admit("30", "new", t0 + 300 * MS), Ok(()), "another portfolio counts apart");
        let view = p.view("B", t0 + 300 * MS).expect("B");
        assert_eq!((view.used, view.refused, view.limit, view.window_ms), (250, 1, Some(250), 1_000));

        // u1 expires at t0 + 1001 ms: one place frees up; u0 was refreshed at 300 ms.
        assert_eq!(p.view("B", t0 + 1_001 * MS).map(|v| v.used), Some(249));
        assert_eq!(p.admit("10", "new", t0 + 1_001 * MS), Ok(()));
        assert!(p.admit("10", "newer", t0 + 1_001 * MS).is_err());
        assert_eq!(p.view("B", t0 + 1_299 * MS).map(|v| v.used), Some(2), "u0 (refreshed) and new");
        assert_eq!(p.view("B", t0 + 1_301 * MS).map(|v| v.used), Some(1));
    }

    #[test]
    fn repeated_sends_keep_memory_bounded() {
        let p = Portfolios::new(&config("TIER_250", 60_000));
        let t0 = Instant::now();
        for i in 0..100_000u32 {
            p.admit("10", &format!("u{}", i % 10), t0).expect("ten users");
        }
        let portfolio = p.get("B").expect("B");
        let reach = lock(&portfolio.reach);
        assert_eq!(reach.last.len(), 10);
        assert!(reach.order.len() <= 2 * 10 + 65, "{}", reach.order.len());
    }

    #[test]
    fn tier_changes_unlimited_disabled_and_reset() {
        let p = Portfolios::new(&config("TIER_250", 1_000));
        let t0 = Instant::now();
        for i in 0..250 {
            p.admit("10", &format!("u{i}"), t0).expect("within the tier");
        }
        assert!(p.admit("10", "x", t0).is_err());
        assert_eq!(p.set_tier("B", "TIER_1M", t0), Err(TierChangeError::UnknownTier("TIER_1M".into())));
        assert_eq!(p.set_tier("C", "TIER_1K", t0), Err(TierChangeError::UnknownPortfolio("C".into())));
        let view = p.set_tier("B", "TIER_1K", t0).expect("changed");
        assert_eq!((view.limit, view.used), (Some(1_000), 250), "counted users stay counted");
        assert!(p.admit("10", "x", t0).is_ok());

        let view = p.set_tier("B", "TIER_UNLIMITED", t0).expect("changed");
        assert_eq!((view.limit, view.used), (None, 0));
        assert!((0..5_000).all(|i| p.admit("20", &format!("y{i}"), t0).is_ok()));
        assert_eq!(p.view("B", t0).map(|v| v.used), Some(0), "nothing is counted");
        assert_eq!(p.tier_of_waba("10").as_deref(), Some("TIER_UNLIMITED"));

        p.reset();
        let view = p.view("B", t0).expect("B");
        assert_eq!((view.tier.as_str(), view.used, view.refused), ("TIER_UNLIMITED", 0, 0), "tiers stay");

        let mut off = config("TIER_250", 1_000);
        off.limits.messaging_limit_enabled = false;
        let p = Portfolios::new(&off);
        assert!((0..1_000).all(|i| p.admit("10", &format!("u{i}"), t0).is_ok()));
        assert_eq!(p.view("B", t0).map(|v| (v.used, v.refused)), Some((0, 0)));
    }
}
