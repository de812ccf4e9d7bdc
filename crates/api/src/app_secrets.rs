//! The app secrets webhook signatures are checked against, cached in memory
//! so the webhook's hot path reads and decrypts nothing: an entry lives for
//! [`TTL`], and a signature that does not match a cached secret reads the
//! secret again once (it may have just changed) before it is refused. A
//! subject no number is registered for is remembered for [`UNKNOWN_TTL`], so
//! a flood of forged POSTs naming it costs no query either.
//! Secrets never appear in `Debug` output or logs.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, PoisonError, RwLock},
    time::{Duration, Instant},
};

use store::{
    PgPool,
    crypto::Cipher,
    numbers::{self, CredentialsError, WebhookSecret},
};
use whatsapp::signature::{self, SignatureError};

/// How long a secret read from the database is trusted.
pub const TTL: Duration = Duration::from_secs(60);
/// How long "no number is registered for this subject" is trusted. Short:
/// a number just registered on another replica is accepted after it (Meta
/// retries refused webhooks for days).
pub const UNKNOWN_TTL: Duration = Duration::from_secs(10);
/// A secret read this recently is not read again on a mismatch, so a flood
/// of forged signatures costs at most one query per second per number.
const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(1);
/// The most subjects cached at once; past it the unknown ones are dropped
/// (a flood of made-up ids cannot grow the cache without bound).
const MAX_ENTRIES: usize = 10_000;

/// What a webhook change is about, and so whose app secret must have signed it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A business number: `metadata.phone_number_id` of a `messages` change.
    Number(String),
    /// A WABA: `entry.id` of other changes (template status updates); the
    /// secret of any number registered on it will do.
    Waba(String),
}

impl Subject {
    fn covers(&self, secret: &WebhookSecret) -> bool {
        match self {
            Self::Number(id) => secret.phone_number_id == *id,
            Self::Waba(id) => secret.waba_id == *id,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(id) => write!(f, "phone_number_id {id}"),
            Self::Waba(id) => write!(f, "WABA {id}"),
        }
    }
}

/// Why a webhook was not accepted.
#[derive(Debug)]
pub enum Refusal {
    /// No registered number is (or is on) this subject.
    Unknown(Subject),
    /// The signature does not verify with the subject's app secret.
    Signature(Subject, SignatureError),
    /// The secrets could not be read or decrypted.
    Lookup(CredentialsError),
}

/// The cache; one per process, shared by every request.
#[derive(Debug, Default)]
pub struct AppSecrets {
    entries: RwLock<HashMap<Subject, Cached>>,
}

/// One subject's secrets; none when no number is registered for it.
#[derive(Debug, Clone)]
struct Cached {
    secrets: Arc<[WebhookSecret]>,
    loaded_at: Instant,
}

impl Cached {
    fn fresh(&self) -> bool {
        self.loaded_at.elapsed() < if self.secrets.is_empty() { UNKNOWN_TTL } else { TTL }
    }
}

/// Whose app secret verified each subject of a webhook.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signers {
    /// The Meta phone number id whose secret verified the first subject.
    pub first: Option<String>,
    /// For each WABA subject, the phone number id (on that WABA) whose
    /// secret verified it: a template update then changes only the
    /// templates of that number's organization.
    pub wabas: Vec<(String, String)>,
}

impl AppSecrets {
    /// Forgets every secret (after a number changed or was deleted here;
    /// other replicas notice within [`TTL`], or at the first mismatch).
    pub fn clear(&self) {
        self.entries.write().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Checks the signature `header` over `body` against the app secret of
    /// every subject (all must pass), and says whose secret verified each.
    pub async fn verify(
        &self,
        pg: &PgPool,
        cipher: &Cipher,
        subjects: &[Subject],
        body: &[u8],
        header: Option<&str>,
    ) -> Result<Signers, Refusal> {
        let mut known = self.cached(subjects);
        let missing: Vec<&Subject> = subjects.iter().filter(|s| !known.contains_key(*s)).collect();
        if !missing.is_empty() {
            known.extend(self.load(pg, cipher, &missing).await?);
        }
        let mut signers = Signers::default();
        for subject in subjects {
            let entry = known.get(subject).filter(|e| !e.secrets.is_empty());
            let entry = entry.ok_or_else(|| Refusal::Unknown(subject.clone()))?;
            let signer = match check(&entry.secrets, body, header) {
                Ok(signer) => signer,
                Err(SignatureError::Mismatch) if entry.loaded_at.elapsed() >= MIN_RELOAD_INTERVAL => {
                    let fresh = self.load(pg, cipher, &[subject]).await?;
                    let entry = fresh.get(subject).filter(|e| !e.secrets.is_empty());
                    let entry = entry.ok_or_else(|| Refusal::Unknown(subject.clone()))?;
                    check(&entry.secrets, body, header).map_err(|e| Refusal::Signature(subject.clone(), e))?
                }
                Err(e) => return Err(Refusal::Signature(subject.clone(), e)),
            };
            if let Subject::Waba(waba) = subject {
                signers.wabas.push((waba.clone(), signer.clone()));
            }
            signers.first.get_or_insert(signer);
        }
        Ok(signers)
    }

    /// The fresh entries among `subjects` (known and unknown ones).
    fn cached(&self, subjects: &[Subject]) -> HashMap<Subject, Cached> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        subjects.iter().filter_map(|s| entries.get(s).filter(|c| c.fresh()).map(|c| (s.clone(), c.clone()))).collect()
    }

    /// Reads the subjects' secrets in one query and caches them, the
    /// subjects with no registered number too (with no secrets).
    async fn load(
        &self,
        pg: &PgPool,
        cipher: &Cipher,
        subjects: &[&Subject],
    ) -> Result<HashMap<Subject, Cached>, Refusal> {
        let (mut number_ids, mut waba_ids) = (Vec::new(), Vec::new());
        for subject in subjects {
            match subject {
                Subject::Number(id) => number_ids.push(id.clone()),
                Subject::Waba(id) => waba_ids.push(id.clone()),
            }
        }
        let rows = numbers::webhook_secrets(pg, cipher, &number_ids, &waba_ids).await.map_err(Refusal::Lookup)?;
        let loaded_at = Instant::now();
        let mut loaded = HashMap::new();
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() + subjects.len() > MAX_ENTRIES {
            entries.retain(|_, c| !c.secrets.is_empty() && c.fresh());
        }
        for &subject in subjects {
            let secrets: Arc<[WebhookSecret]> = rows.iter().filter(|r| subject.covers(r)).cloned().collect();
            let cached = Cached { secrets, loaded_at };
            entries.insert(subject.clone(), cached.clone());
            loaded.insert(subject.clone(), cached);
        }
        Ok(loaded)
    }
}

/// The phone number id of the first secret that verifies the signature.
/// Errors other than a mismatch do not depend on the secret.
fn check(secrets: &[WebhookSecret], body: &[u8], header: Option<&str>) -> Result<String, SignatureError> {
    for secret in secrets {
        match signature::verify(secret.app_secret.as_bytes(), body, header) {
            Ok(()) => return Ok(secret.phone_number_id.clone()),
            Err(SignatureError::Mismatch) => {}
            Err(e) => return Err(e),
        }
    }
    Err(SignatureError::Mismatch)
}
