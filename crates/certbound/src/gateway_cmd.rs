//! `certbound gateway`: runs the resource-server gateway until SIGINT/SIGTERM.

use anyhow::Context;
use std::path::PathBuf;

/// Loads `config`, discovers the authorization server and serves.
pub async fn run(config: PathBuf) -> anyhow::Result<()> {
    let cfg = certbound_gateway::config::GatewayConfig::load(&config)?;
    let gateway = certbound_gateway::start(cfg)
        .await
        .context("starting the gateway")?;
    crate::shutdown_signal().await;
    tracing::info!("shutting down");
    gateway.shutdown().await;
    Ok(())
}
