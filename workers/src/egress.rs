//! The HTTP client the reply worker calls bot flows with: it only connects
//! to public unicast addresses unless the operator allows private targets
//! (`BOT_EGRESS_ALLOW_PRIVATE`), see `domain::egress`.
//!
//! Names are checked in the resolver the client connects through, so the
//! address judged is the address connected to: a name that resolves to a
//! public address when the flow is saved and to 127.0.0.1 later (DNS
//! rebinding) is still refused. Literal addresses never reach a resolver, so
//! [`Egress::check`] judges them before the request. Redirects are never
//! followed (a 307 would replay the signed body to wherever it points) and
//! environment proxies are ignored (they would connect on our behalf to an
//! address we never see).

use std::{
    collections::HashMap,
    fmt, io,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use domain::egress::{EgressRefusal, check_endpoint_literal};
use futures::future::BoxFuture;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The setting that allows private targets, named in refusals.
pub const ALLOW_PRIVATE_SETTING: &str = "BOT_EGRESS_ALLOW_PRIVATE";

/// Looks a host name up; injectable so tests can make a name resolve anywhere.
pub trait Lookup: Send + Sync + fmt::Debug {
    fn lookup(&self, host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>>;
}

/// The system resolver (`getaddrinfo`, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        let host = host.to_owned();
        Box::pin(async move { Ok(tokio::net::lookup_host((host.as_str(), 0)).await?.map(|a| a.ip()).collect()) })
    }
}

/// Fixed answers; a name not in the table does not resolve.
#[derive(Debug, Clone, Default)]
pub struct StaticLookup(pub HashMap<String, Vec<IpAddr>>);

impl Lookup for StaticLookup {
    fn lookup(&self, host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        let found = self.0.get(host).cloned();
        let host = host.to_owned();
        Box::pin(async move {
            found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host} is not in the table")))
        })
    }
}

/// Why a request was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The URL's host is a refused literal address, or localhost.
    Literal(EgressRefusal),
    /// Every address the host name resolved to is refused.
    Resolved(Vec<EgressRefusal>),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Literal(refusal) => write!(f, "the bot flow's endpoint is a refused address ({refusal})")?,
            Self::Resolved(refused) => {
                // Classes only, never the addresses: the message reaches the
                // tenant (dead letters), and resolved addresses would map the
                // deployment's internal names for them.
                let mut classes: Vec<String> = Vec::new();
                for refusal in refused {
                    let class = match refusal {
                        EgressRefusal::Address { class, .. } => class.to_string(),
                        EgressRefusal::LocalhostName { .. } => "loopback".to_owned(),
                    };
                    if !classes.contains(&class) {
                        classes.push(class);
                    }
                }
                let what = if refused.len() == 1 { "a refused address" } else { "refused addresses only" };
                write!(f, "the bot flow's endpoint resolves to {what} ({})", classes.join(", "))?;
            }
        }
        write!(f, "; set {ALLOW_PRIVATE_SETTING}=true to allow private targets")
    }
}

impl std::error::Error for Refusal {}

impl Refusal {
    /// The refusal behind a failed request, if the resolver refused its host.
    pub fn of(err: &reqwest::Error) -> Option<Self> {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(e) = source {
            if let Some(refusal) = e.downcast_ref::<Refusal>() {
                return Some(refusal.clone());
            }
            source = e.source();
        }
        None
    }
}

/// The resolver the client connects through: drops refused addresses.
#[derive(Debug)]
struct Guarded {
    lookup: Arc<dyn Lookup>,
    allow_private: bool,
}

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let lookup = self.lookup.lookup(name.as_str());
        let allow_private = self.allow_private;
        Box::pin(async move {
            let (mut allowed, mut refused) = (Vec::new(), Vec::new());
            for ip in lookup.await? {
                match EgressRefusal::check(ip) {
                    Err(refusal) if !allow_private => refused.push(refusal),
                    _ => allowed.push(ip),
                }
            }
            if allowed.is_empty() && !refused.is_empty() {
                return Err(Box::new(Refusal::Resolved(refused)) as _);
            }
            // Port 0: reqwest puts the URL's port in.
            let addrs: Addrs = Box::new(allowed.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The egress policy: whether private targets are allowed, and how names are looked up.
#[derive(Debug, Clone)]
pub struct Egress {
    pub allow_private: bool,
    lookup: Arc<dyn Lookup>,
}

impl Egress {
    /// Through the system resolver.
    pub fn new(allow_private: bool) -> Self {
        Self::with_lookup(allow_private, Arc::new(SystemLookup))
    }

    pub fn with_lookup(allow_private: bool, lookup: Arc<dyn Lookup>) -> Self {
        Self { allow_private, lookup }
    }

    /// A client that only connects where this policy allows, never follows a
    /// redirect and ignores proxy settings.
    pub fn client(&self, timeout: Duration, user_agent: &str) -> reqwest::Result<reqwest::Client> {
        reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(user_agent)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(Guarded { lookup: self.lookup.clone(), allow_private: self.allow_private }))
            .build()
    }

    /// Refuses a URL whose host is a literal refused address (they bypass the resolver).
    pub fn check(&self, url: &reqwest::Url) -> Result<(), Refusal> {
        check_endpoint_literal(url, self.allow_private).map_err(Refusal::Literal)
    }
}
