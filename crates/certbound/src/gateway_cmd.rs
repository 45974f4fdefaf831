//! `certbound gateway`: runs the resource-server gateway until SIGINT/SIGTERM.

use anyhow::Context;
use std::path::PathBuf;

/// Loads `config` and serves. The authorization server is discovered in the background and
/// retried until it answers (`certbound_gateway::discovery`): the gateway may start before it,
/// answering 503 on protected routes and "not ready" on `/readyz` meanwhile.
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
