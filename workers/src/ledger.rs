//! How the send job reads and writes the recipient ledger: statement by
//! statement ([`Ledger::direct`]), or batched across the sends running in
//! one process ([`Ledger::batched`], what the pipeline's send workers use).
//!
//! At thousands of sends per second, three statements per send (the
//! campaign's limits, the claim, the outcome) were most of Postgres's work,
//! and mostly per-statement overhead (and the ledger's statement-level
//! triggers). Batched, the limits of a campaign are read at most once per
//! [`LIMITS_TTL`] per process, and claims and outcomes of concurrent sends go
//! to Postgres as one statement each ([`recipients::claim_many`],
//! [`recipients::record_many`]): each row is claimed and recorded exactly as
//! alone, under the same guards. A batch is whatever arrived while the
//! previous statement ran (never waiting to fill up), so at low rates every
//! batch is a single row and nothing is delayed.

use std::{
    collections::{HashMap, hash_map::Entry},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use store::{
    PgPool,
    recipients::{self, Claim, JobKey, Outcome, Peek, Recorded, SendLimits},
};
use tokio::sync::{mpsc, oneshot};

/// How long a process reuses a campaign's limits: a changed pace or tier
/// applies within this. Pausing and finishing do not wait for it (the claim
/// checks the campaign itself).
pub const LIMITS_TTL: Duration = Duration::from_secs(1);

/// The most rows in one batched statement.
const MAX_BATCH: usize = 256;

/// How long a batch waits for more requests after its first. Sends reach
/// the ledger one by one (they leave the rate limiter's line one at a
/// time), so without it a batch is only what arrived during one statement:
/// a few rows. A few milliseconds per send cost nothing in throughput, and
/// bigger batches are most of the saving.
const LINGER: Duration = Duration::from_millis(5);

/// Tries of a batch that hit a deadlock or a serialization failure (nothing
/// was written; each row's guards make a retry safe).
const TRIES: usize = 3;

/// The send job's access to the ledger; cheap to clone.
#[derive(Debug, Clone)]
pub struct Ledger {
    pg: PgPool,
    /// This process's name, recorded on the rows it claims.
    instance: Arc<str>,
    batched: Option<Arc<Batched>>,
}

#[derive(Debug)]
struct Batched {
    limits: Mutex<HashMap<i64, (Instant, Arc<SendLimits>)>>,
    peeks: mpsc::UnboundedSender<PeekRequest>,
    claims: mpsc::UnboundedSender<ClaimRequest>,
    records: mpsc::UnboundedSender<RecordRequest>,
}

type Answer<T> = oneshot::Sender<Result<T, Arc<sqlx::Error>>>;
type PeekRequest = (JobKey, Answer<Peek>);
type ClaimRequest = (JobKey, Answer<Option<Claim>>);
type RecordRequest = (Recorded, Answer<bool>);

impl Ledger {
    /// One statement per read and write.
    pub fn direct(pg: PgPool, instance: &str) -> Self {
        Self { pg, instance: instance.into(), batched: None }
    }

    /// Batched across this process's sends; starts the batching tasks (they
    /// stop when the last clone is dropped). Needs a Tokio runtime.
    pub fn batched(pg: PgPool, instance: &str) -> Self {
        let (peeks, peek_requests) = mpsc::unbounded_channel();
        let (claims, claim_requests) = mpsc::unbounded_channel();
        let (records, record_requests) = mpsc::unbounded_channel();
        let instance: Arc<str> = instance.into();
        tokio::spawn(peek_batches(pg.clone(), peek_requests));
        tokio::spawn(claim_batches(pg.clone(), instance.clone(), claim_requests));
        tokio::spawn(record_batches(pg.clone(), record_requests));
        let batched = Batched { limits: Mutex::default(), peeks, claims, records };
        Self { pg, instance, batched: Some(Arc::new(batched)) }
    }

    /// The limits of an active, unpaused campaign ([`recipients::send_limits`]);
    /// batched, a campaign's are reused for up to [`LIMITS_TTL`]. `None`
    /// (not sending) is never reused.
    pub async fn limits(&self, campaign_id: i64) -> sqlx::Result<Option<Arc<SendLimits>>> {
        let Some(batched) = &self.batched else {
            return Ok(recipients::send_limits(&self.pg, campaign_id).await?.map(Arc::new));
        };
        let now = Instant::now();
        if let Some((at, limits)) = batched.lock_limits().get(&campaign_id)
            && now.duration_since(*at) < LIMITS_TTL
        {
            return Ok(Some(limits.clone()));
        }
        let limits = recipients::send_limits(&self.pg, campaign_id).await?.map(Arc::new);
        let mut cache = batched.lock_limits();
        match &limits {
            Some(l) => {
                if cache.len() >= 10_000 {
                    cache.retain(|_, (at, _)| now.duration_since(*at) < LIMITS_TTL);
                }
                cache.insert(campaign_id, (now, l.clone()));
            }
            None => {
                cache.remove(&campaign_id);
            }
        }
        Ok(limits)
    }

    /// [`recipients::peek_many`] for one job, batched with the other sends' peeks.
    pub async fn peek(&self, job: JobKey) -> anyhow::Result<Peek> {
        let Some(batched) = &self.batched else {
            return Ok(recipients::peek_many(&self.pg, &[job]).await?.pop().unwrap_or(Peek::Gone));
        };
        let (answer, answered) = oneshot::channel();
        batched.peeks.send((job, answer)).map_err(|_| stopped())?;
        Ok(answered.await.map_err(|_| stopped())??)
    }

    /// [`recipients::claim`], batched with the other sends' claims.
    pub async fn claim(&self, job: JobKey) -> anyhow::Result<Option<Claim>> {
        let Some(batched) = &self.batched else {
            return Ok(recipients::claim(&self.pg, job, &self.instance).await?);
        };
        let (answer, answered) = oneshot::channel();
        batched.claims.send((job, answer)).map_err(|_| stopped())?;
        Ok(answered.await.map_err(|_| stopped())??)
    }

    /// [`recipients::record`], batched with the other sends' outcomes.
    pub async fn record(
        &self,
        campaign_id: i64,
        contact_id: i64,
        attempt: i32,
        outcome: &Outcome<'_>,
    ) -> anyhow::Result<bool> {
        let Some(batched) = &self.batched else {
            return Ok(recipients::record(&self.pg, campaign_id, contact_id, attempt, outcome).await?);
        };
        let (answer, answered) = oneshot::channel();
        let row = Recorded::new(campaign_id, contact_id, attempt, outcome);
        batched.records.send((row, answer)).map_err(|_| stopped())?;
        Ok(answered.await.map_err(|_| stopped())??)
    }
}

impl Batched {
    fn lock_limits(&self) -> std::sync::MutexGuard<'_, HashMap<i64, (Instant, Arc<SendLimits>)>> {
        self.limits.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn stopped() -> anyhow::Error {
    anyhow::anyhow!("the ledger's batching task stopped")
}

/// Takes what arrives within [`LINGER`] of the first request (at most
/// [`MAX_BATCH`]).
async fn next_batch<T>(requests: &mut mpsc::UnboundedReceiver<T>, carried: &mut Vec<T>) -> Option<Vec<T>> {
    let mut batch = std::mem::take(carried);
    if batch.is_empty() {
        batch.push(requests.recv().await?);
    }
    let deadline = tokio::time::Instant::now() + LINGER;
    while batch.len() < MAX_BATCH {
        match requests.try_recv() {
            Ok(request) => batch.push(request),
            Err(_) => match tokio::time::timeout_at(deadline, requests.recv()).await {
                Ok(Some(request)) => batch.push(request),
                Ok(None) | Err(_) => break,
            },
        }
    }
    Some(batch)
}

/// Runs `statement` again after a deadlock or serialization failure.
async fn with_retries<T, F: Future<Output = sqlx::Result<T>>>(mut statement: impl FnMut() -> F) -> sqlx::Result<T> {
    let mut tried = 1;
    loop {
        match statement().await {
            Err(sqlx::Error::Database(e))
                if tried < TRIES && matches!(e.code().as_deref(), Some("40P01" | "40001")) =>
            {
                tried += 1;
                tokio::time::sleep(Duration::from_millis(5 * tried as u64)).await;
            }
            other => return other,
        }
    }
}

async fn peek_batches(pg: PgPool, mut requests: mpsc::UnboundedReceiver<PeekRequest>) {
    let mut carried = Vec::new();
    while let Some(batch) = next_batch(&mut requests, &mut carried).await {
        let jobs: Vec<JobKey> = batch.iter().map(|(job, _)| *job).collect();
        match recipients::peek_many(&pg, &jobs).await {
            Ok(peeks) => {
                for ((_, answer), peek) in batch.into_iter().zip(peeks) {
                    let _ = answer.send(Ok(peek));
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for (_, answer) in batch {
                    let _ = answer.send(Err(e.clone()));
                }
            }
        }
    }
}

async fn claim_batches(pg: PgPool, instance: Arc<str>, mut requests: mpsc::UnboundedReceiver<ClaimRequest>) {
    let mut carried = Vec::new();
    while let Some(batch) = next_batch(&mut requests, &mut carried).await {
        // A row asked twice (a duplicated job) is claimed once, by the first.
        let mut waiting: HashMap<(i64, i64), ClaimRequest> = HashMap::with_capacity(batch.len());
        for (job, answer) in batch {
            match waiting.entry((job.campaign_id, job.contact_id)) {
                Entry::Vacant(v) => {
                    v.insert((job, answer));
                }
                Entry::Occupied(_) => {
                    let _ = answer.send(Ok(None));
                }
            }
        }
        let jobs: Vec<JobKey> = waiting.values().map(|(job, _)| *job).collect();
        match with_retries(|| recipients::claim_many(&pg, &jobs, &instance)).await {
            Ok(claims) => {
                for claim in claims {
                    if let Some((_, answer)) = waiting.remove(&(claim.campaign_id, claim.contact_id)) {
                        let _ = answer.send(Ok(Some(claim)));
                    }
                }
                for (_, (_, answer)) in waiting {
                    let _ = answer.send(Ok(None));
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for (_, (_, answer)) in waiting {
                    let _ = answer.send(Err(e.clone()));
                }
            }
        }
    }
}

async fn record_batches(pg: PgPool, mut requests: mpsc::UnboundedReceiver<RecordRequest>) {
    let mut carried = Vec::new();
    while let Some(batch) = next_batch(&mut requests, &mut carried).await {
        // One row per pair per statement; a second outcome for the same pair
        // (a stale attempt's) goes in the next batch, in order.
        let mut rows = Vec::with_capacity(batch.len());
        let mut waiting: HashMap<(i64, i64), Answer<bool>> = HashMap::with_capacity(batch.len());
        for (row, answer) in batch {
            match waiting.entry((row.campaign_id, row.contact_id)) {
                Entry::Vacant(v) => {
                    v.insert(answer);
                    rows.push(row);
                }
                Entry::Occupied(_) => carried.push((row, answer)),
            }
        }
        let outcome = match with_retries(|| recipients::record_many(&pg, &rows)).await {
            // One bad row must not cost the others their outcome: alone, each
            // fails or succeeds as it would have without batching.
            Err(_) if rows.len() > 1 => {
                for row in rows {
                    let pair = (row.campaign_id, row.contact_id);
                    let alone = with_retries(|| recipients::record_many(&pg, std::slice::from_ref(&row))).await;
                    if let Some(answer) = waiting.remove(&pair) {
                        let _ = answer.send(alone.map(|done| !done.is_empty()).map_err(Arc::new));
                    }
                }
                continue;
            }
            outcome => outcome,
        };
        match outcome {
            Ok(recorded) => {
                for pair in recorded {
                    if let Some(answer) = waiting.remove(&pair) {
                        let _ = answer.send(Ok(true));
                    }
                }
                for (_, answer) in waiting {
                    let _ = answer.send(Ok(false));
                }
            }
            Err(e) => {
                // Not recorded: the row stays `sending` for the sweeper.
                let e = Arc::new(e);
                for (_, answer) in waiting {
                    let _ = answer.send(Err(e.clone()));
                }
            }
        }
    }
}
