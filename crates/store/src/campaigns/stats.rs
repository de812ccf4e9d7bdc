//! Live statistics: the campaign's counters (`campaign_counters`, kept by
//! the ledger's triggers), read in one indexed query whatever the campaign's
//! size.

use std::collections::BTreeMap;

use sqlx::PgExecutor;

/// Every non-zero counter of a campaign, by metric (`state:<state>`,
/// `reason:<code>`, `sent`, `delivered`, `read`, `replied`), and a version
/// that changes whenever any of them does (for ETags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub values: BTreeMap<String, i64>,
}

impl Counters {
    pub fn get(&self, metric: &str) -> i64 {
        self.values.get(metric).copied().unwrap_or(0)
    }

    /// Rows in `state`.
    pub fn state(&self, state: &str) -> i64 {
        self.get(&format!("state:{state}"))
    }

    /// Every targeted contact: the sum over states.
    pub fn total(&self) -> i64 {
        self.values.iter().filter(|(k, _)| k.starts_with("state:")).map(|(_, v)| v).sum()
    }

    /// `reason:<code>` counters, largest first.
    pub fn reasons(&self) -> Vec<(&str, i64)> {
        let mut out: Vec<_> = self.values.iter().filter_map(|(k, v)| Some((k.strip_prefix("reason:")?, *v))).collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        out
    }
}

/// The counters of one campaign (sums over shards).
pub async fn counters(db: impl PgExecutor<'_>, campaign_id: i64) -> sqlx::Result<Counters> {
    let rows = sqlx::query!(
        r#"select metric, sum(value)::bigint as "value!" from campaign_counters
           where campaign_id = $1 group by metric having sum(value) <> 0"#,
        campaign_id
    )
    .fetch_all(db)
    .await?;
    Ok(Counters { values: rows.into_iter().map(|r| (r.metric, r.value)).collect() })
}
