//! `certbound gateway` (being written).

use std::path::PathBuf;

/// Runs the gateway until SIGINT/SIGTERM.
pub async fn run(_config: PathBuf) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
