//! Starting the simulator and the [`Simulator`] handle.

use std::{future::Future, net::SocketAddr, sync::Arc};

use tokio::net::TcpListener;

use crate::{
    config::{Config, FaultsConfig, TemplateConfig},
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
    /// resolves.
    pub async fn start_until(config: Config, stop: impl Future<Output = ()> + Send + 'static) -> std::io::Result<Self> {
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

    /// Forgets messages, deliveries and limiter state.
    pub fn reset(&self) {
        self.state.reset();
    }
}
