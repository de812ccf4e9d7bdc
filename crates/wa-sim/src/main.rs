//! `wa-sim --config wa-sim.toml`: runs the simulator until Ctrl-C or SIGTERM.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use wa_sim::{Config, Simulator};

#[derive(Debug, Parser)]
#[command(about = "WhatsApp Cloud API simulator")]
struct Args {
    /// TOML (or `.json`) config; see wa-sim.example.toml.
    #[arg(long, env = "WA_SIM_CONFIG")]
    config: PathBuf,
    /// Overrides `listen` from the config.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args = Args::parse();
    let mut config = Config::load(&args.config).with_context(|| format!("loading {}", args.config.display()))?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sim = Simulator::start_until(config, async {
        let _ = stop_rx.await;
    })
    .await
    .context("starting the simulator")?;
    // Scripts wait for this line to learn the port.
    tracing::info!(addr = %sim.addr(), "wa-sim listening");
    eprintln!("wa-sim listening on {}", sim.addr());
    shutdown_signal().await;
    let _ = stop_tx.send(());
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
