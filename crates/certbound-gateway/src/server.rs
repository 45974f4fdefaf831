//! The gateway process (being written).

/// Starts the gateway (being written).
pub async fn start() {}
/// Starts the gateway on a bound listener (being written).
pub async fn start_on() {}
/// A running gateway (being written).
pub struct RunningGateway;
