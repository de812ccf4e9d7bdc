//! Fault injection for the messages endpoint, set in the config and
//! changeable at runtime (`/_sim/faults`, [`crate::Simulator::set_faults`]),
//! so tests can exercise the engine's ambiguous-failure handling.

use std::sync::Mutex;

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultsConfig {
    /// Added before every answer of the messages endpoint.
    pub latency_ms: u64,
    /// Share of sends answered HTTP 500 (Graph code 2, transient); nothing is recorded.
    pub server_error_rate: f64,
    /// Share of sends recorded as accepted whose answer is then held for
    /// `hang_ms`, past the client's timeout: the "did it go out?" case.
    pub accept_then_hang_rate: f64,
    pub hang_ms: u64,
    /// Share of sends whose connection is closed without an answer; nothing
    /// is recorded (the engine cannot tell this from a lost answer).
    pub drop_connection_rate: f64,
}

/// What happens to one send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    ServerError,
    AcceptThenHang,
    DropConnection,
}

#[derive(Debug)]
pub(crate) struct Faults {
    config: Mutex<FaultsConfig>,
    rng: Mutex<StdRng>,
}

impl Faults {
    pub fn new(config: FaultsConfig, seed: u64) -> Self {
        Self { config: Mutex::new(config), rng: Mutex::new(StdRng::seed_from_u64(seed)) }
    }

    pub fn get(&self) -> FaultsConfig {
        self.config.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set(&self, config: FaultsConfig) {
        *self.config.lock().unwrap_or_else(|p| p.into_inner()) = config;
    }

    /// Draws the fault for one send; no randomness is used when all rates are 0.
    pub fn draw(&self) -> (FaultsConfig, Fault) {
        let config = self.get();
        if config.server_error_rate <= 0.0 && config.accept_then_hang_rate <= 0.0 && config.drop_connection_rate <= 0.0
        {
            return (config, Fault::None);
        }
        let roll: f64 = self.rng.lock().unwrap_or_else(|p| p.into_inner()).r#gen();
        let fault = if roll < config.server_error_rate {
            Fault::ServerError
        } else if roll < config.server_error_rate + config.accept_then_hang_rate {
            Fault::AcceptThenHang
        } else if roll < config.server_error_rate + config.accept_then_hang_rate + config.drop_connection_rate {
            Fault::DropConnection
        } else {
            Fault::None
        };
        (config, fault)
    }
}
