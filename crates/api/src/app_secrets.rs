//! The app secrets webhook signatures are checked against, cached in memory
//! so the webhook's hot path reads and decrypts nothing: an entry lives for
//! [`TTL`], and a signature that does not match a cached secret reads the
//! secret again once (it may have just changed) before it is refused.
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
/// A secret read this recently is not read again on a mismatch, so a flood
/// of forged signatures costs at most one query per second per number.
const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

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

#[derive(Debug, Clone)]
struct Cached {
    secrets: Arc<[WebhookSecret]>,
    loaded_at: Instant,
}

impl AppSecrets {
    /// Forgets every secret (after a number changed or was deleted here;
    /// other replicas notice within [`TTL`], or at the first mismatch).
    pub fn clear(&self) {
        self.entries.write().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Checks the signature `header` over `body` against the app secret of
    /// every subject (all must pass). Returns the Meta phone number id whose
    /// secret verified the first subject.
    pub async fn verify(
        &self,
        pg: &PgPool,
        cipher: &Cipher,
        subjects: &[Subject],
        body: &[u8],
        header: Option<&str>,
    ) -> Result<Option<String>, Refusal> {
        let mut known = self.cached(subjects);
        let missing: Vec<&Subject> = subjects.iter().filter(|s| !known.contains_key(*s)).collect();
        if !missing.is_empty() {
            known.extend(self.load(pg, cipher, &missing).await?);
        }
        let mut first = None;
        for subject in subjects {
            let entry = known.get(subject).ok_or_else(|| Refusal::Unknown(subject.clone()))?;
            let signer = match check(&entry.secrets, body, header) {
                Ok(signer) => signer,
                Err(SignatureError::Mismatch) if entry.loaded_at.elapsed() >= MIN_RELOAD_INTERVAL => {
                    let fresh = self.load(pg, cipher, &[subject]).await?;
                    let entry = fresh.get(subject).ok_or_else(|| Refusal::Unknown(subject.clone()))?;
                    check(&entry.secrets, body, header).map_err(|e| Refusal::Signature(subject.clone(), e))?
                }
                Err(e) => return Err(Refusal::Signature(subject.clone(), e)),
            };
            first.get_or_insert(signer);
        }
        Ok(first)
    }

    /// The fresh entries among `subjects`.
    fn cached(&self, subjects: &[Subject]) -> HashMap<Subject, Cached> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        subjects
            .iter()
            .filter_map(|s| entries.get(s).filter(|c| c.loaded_at.elapsed() < TTL).map(|c| (s.clone(), c.clone())))
            .collect()
    }

    /// Reads the subjects' secrets in one query and caches them; a subject
    /// with no registered number is left out (and not cached).
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
        for &subject in subjects {
            let secrets: Arc<[WebhookSecret]> = rows.iter().filter(|r| subject.covers(r)).cloned().collect();
            if secrets.is_empty() {
                entries.remove(subject);
            } else {
                let cached = Cached { secrets, loaded_at };
                entries.insert(subject.clone(), cached.clone());
                loaded.insert(subject.clone(), cached);
            }
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
