//! `certbound quickstart` (being written).

/// Arguments.
#[derive(clap::Args)]
pub struct QuickstartArgs {}

/// Runs it.
pub async fn run(_a: QuickstartArgs) -> anyhow::Result<()> { anyhow::bail!("todo") }
