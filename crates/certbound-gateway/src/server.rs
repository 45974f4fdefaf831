//! (being written)
pub async fn start() {}
pub async fn start_on() {}
/// x
pub struct RunningGateway;
