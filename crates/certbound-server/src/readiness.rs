//! `/readyz` of the authorization server: ready when the store answers a trivial query within a
//! second and a signing key is loaded. Nothing else is checked: `jwks_uri` clients and rate
//! limits are per-request concerns, and a down store is the one condition under which every
//! token request fails.

use crate::keys::Keys;
use certbound_net::metrics::{NotReady, Readiness, ReadinessFuture};
use certbound_store::Store;
use std::time::Duration;

/// How long the store may take to answer `SELECT 1` before the server reads as not ready.
pub const STORE_PING_TIMEOUT: Duration = Duration::from_secs(1);

/// The authorization server's readiness check.
pub struct StoreAndKeys {
    /// The store to ping.
    pub store: Store,
    /// The key ring that must hold a signing key.
    pub keys: Keys,
}

impl Readiness for StoreAndKeys {
    fn check(&self) -> ReadinessFuture<'_> {
        Box::pin(async move {
            match tokio::time::timeout(STORE_PING_TIMEOUT, self.store.ping()).await {
                Err(_) => {
                    return Err(NotReady(format!(
                        "the store did not answer within {} ms",
                        STORE_PING_TIMEOUT.as_millis()
                    )))
                }
                Ok(Err(e)) => return Err(NotReady(format!("the store is unreachable: {e}"))),
                Ok(Ok(())) => {}
            }
            if self.keys.current().published.is_empty() {
                return Err(NotReady("no signing key is loaded".to_owned()));
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningAlg;

    #[tokio::test]
    async fn ready_with_a_reachable_store_and_keys_not_once_the_store_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("as.db").display());
        let store = Store::connect(&url).await.unwrap();
        let keys = Keys::load_or_init(&store, SigningAlg::Es256, 1_800_000_000)
            .await
            .unwrap();
        let check = StoreAndKeys {
            store: store.clone(),
            keys,
        };
        assert_eq!(check.check().await, Ok(()));
        store.close().await;
        let NotReady(reason) = check.check().await.unwrap_err();
        assert!(reason.starts_with("the store is unreachable: "), "{reason}");
    }
}
