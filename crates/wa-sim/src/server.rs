//! Starting the simulator and the [`Simulator`] handle.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Instant};

use tokio::net::TcpListener;

use crate::{
    config::{Config, FaultsConfig, TemplateConfig},
    portfolio::{PortfolioView, TierChangeError},
    routes,
    state::{AcceptedMessage, Delivery, State},
    webhook::Scheduler,
};

/// A running simulator. Dropping it leaves the server running until the
/// runtime ends; tests simply let it go.
#[derive(Clone)]
pub struct Simulator {
    addr: SocketAddr,
    state: Arc<State>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Simulator {
    /// Binds `config.listen` and serves in the background until `stop`
    /// resolves. An invalid config ([`Config::validate`]) is an
    /// `InvalidInput` error.
    pub async fn start_until(config: Config, stop: impl Future<Output = ()> + Send + 'static) -> std::io::Result<Self> {
        config.validate().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let scheduler = Scheduler::start(&config.webhook, &config.numbers).map_err(std::io::Error::other)?;
        let state = Arc::new(State::new(config, scheduler));
        let app = routes::router(state.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
                tracing::error!(error.cause_chain = ?error, "wa-sim server stopped");
            }
        });
        Ok(Self { addr, state })
    }

    /// Binds `config.listen` (use port 0 in tests) and serves in the background.
    pub async fn start(config: Config) -> std::io::Result<Self> {
        Self::start_until(config, std::future::pending()).await
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, the `base_url` for `whatsapp::ClientConfig`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every accepted message, in acceptance order.
    pub fn accepted(&self) -> Vec<AcceptedMessage> {
        self.state.accepted()
    }

    pub fn accepted_count(&self) -> usize {
        self.state.accepted_count()
    }

    /// The accepted messages to one recipient (`wa_id` digits), to spot duplicates.
    pub fn messages_to(&self, wa_id: &str) -> Vec<AcceptedMessage> {
        let wa_id = wa_id.trim_start_matches('+');
        self.accepted().into_iter().filter(|m| m.wa_id == wa_id).collect()
    }

    /// Every webhook POST attempt so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state.deliveries()
    }

    pub fn faults(&self) -> FaultsConfig {
        self.state.faults.get()
    }

    /// Replaces the fault switches for the following sends.
    pub fn set_faults(&self, faults: FaultsConfig) {
        self.state.faults.set(faults);
    }

    /// Replaces every template of `waba_id`, as if they had been edited at
    /// Meta: the listing and sends see the new set at once. Templates keep
    /// their ids (a new one gets a new id).
    pub fn set_templates(&self, waba_id: &str, templates: Vec<TemplateConfig>) {
        self.state.set_templates(waba_id, templates);
    }

    /// A business portfolio's tier, limit, window, users counted now and
    /// refusals, as `GET /_sim/portfolios/{business_id}` shows them; `None`
    /// for an unknown portfolio.
    pub fn portfolio(&self, business_id: &str) -> Option<PortfolioView> {
        self.state.portfolios.view(business_id, Instant::now())
    }

    /// Every business portfolio, in config order (`GET /_sim/portfolios`).
    pub fn portfolios(&self) -> Vec<PortfolioView> {
        self.state.portfolios.views(Instant::now())
    }

    /// The business portfolio owning `waba_id` (`owner_business_info.id`),
    /// if the simulator knows the WABA.
    pub fn business_id_of(&self, waba_id: &str) -> Option<String> {
        self.state.portfolios.business_of(waba_id).map(str::to_owned)
    }

    /// Changes a portfolio's messaging-limit tier, as
    /// `POST /_sim/portfolios/{business_id}/messaging_limit` does: the next
    /// sends are counted against it, every number of the portfolio reports
    /// it, and, with a webhook URL, each of its WABAs is sent Meta's signed
    /// `business_capability_update`. Returns the portfolio after the change.
    pub fn set_messaging_limit(&self, business_id: &str, tier: &str) -> Result<PortfolioView, TierChangeError> {
        self.state.set_messaging_limit(business_id, tier)
    }

    /// Forgets messages, deliveries and limiter state, portfolio counts and
    /// refusals included (tiers stay as they are).
    pub fn reset(&self) {
        self.state.reset();
    }
}
