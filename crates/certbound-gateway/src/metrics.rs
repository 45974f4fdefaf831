//! The gateway's registry: the shared families of `certbound_net::metrics::ProcessMetrics`
//! plus the gateway's own (token checks, refusals by reason, token caches, upstream errors,
//! discovery). Nothing of the authorization server is registered here.

use crate::headers::Dropped;
use crate::refusal::RefusalReason;
use certbound_net::metrics::prometheus_client::metrics::{
    counter::Counter, family::Family, gauge::Gauge,
};
use certbound_net::metrics::prometheus_client::registry::Registry;
use certbound_net::metrics::{
    encode, sync_counter, CacheLabels, Exporter, KindLabels, ProcessMetrics, ReasonLabels,
};
use std::sync::Mutex;

/// A source of counters kept elsewhere (cache statistics), read at each scrape.
type Pull = Box<dyn Fn(&GatewayMetrics) + Send + Sync>;

/// Every metric the gateway exports.
pub struct GatewayMetrics {
    registry: Registry,
    process: ProcessMetrics,
    token_checks: Family<KindLabels, Counter>,
    allowed: Counter,
    refused: Family<ReasonLabels, Counter>,
    cache: Family<CacheLabels, Counter>,
    /// Gateway requests the upstream could not answer (502, 504).
    pub upstream_errors: Counter,
    headers_dropped: Family<ReasonLabels, Counter>,
    /// Failed attempts to discover the authorization server.
    pub discovery_failures: Counter,
    /// 1 once the authorization server was discovered (metadata and JWKS loaded), else 0.
    pub discovered: Gauge,
    pulls: Mutex<Vec<Pull>>,
}

impl std::fmt::Debug for GatewayMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayMetrics").finish_non_exhaustive()
    }
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl GatewayMetrics {
    /// A fresh set of metrics; every refusal reason starts at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("certbound");
        let process = ProcessMetrics::register(&mut registry, "gateway");
        let token_checks = Family::<KindLabels, Counter>::default();
        let refused = Family::<ReasonLabels, Counter>::default();
        let cache = Family::<CacheLabels, Counter>::default();
        let upstream_errors = Counter::default();
        let headers_dropped = Family::<ReasonLabels, Counter>::default();
        for why in [Dropped::Underscore, Dropped::Identity] {
            let _ = headers_dropped.get_or_create(&ReasonLabels {
                reason: why.label(),
            });
        }
        let discovery_failures = Counter::default();
        let discovered = Gauge::default();
        let allowed = token_checks
            .get_or_create(&KindLabels { kind: "allowed" })
            .clone();
        for reason in RefusalReason::ALL {
            let _ = refused.get_or_create(&ReasonLabels {
                reason: reason.label(),
            });
        }
        registry.register(
            "gateway_token_checks",
            "Gateway token checks by outcome: allowed, or the RFC 6750 error code",
            token_checks.clone(),
        );
        registry.register(
            "gateway_refused",
            "Requests the gateway refused, by reason (binding_mismatch: a bound token presented with another certificate)",
            refused.clone(),
        );
        registry.register(
            "cache_lookups",
            "Cache lookups by cache and result",
            cache.clone(),
        );
        registry.register(
            "gateway_upstream_errors",
            "Gateway requests the upstream could not answer",
            upstream_errors.clone(),
        );
        registry.register(
            "gateway_headers_dropped",
            "Client request headers the gateway did not forward, by reason (underscore: a name with '_'; identity: a header that could claim an identity)",
            headers_dropped.clone(),
        );
        registry.register(
            "gateway_discovery_failures",
            "Failed attempts to discover the authorization server (metadata and JWKS)",
            discovery_failures.clone(),
        );
        registry.register(
            "gateway_authorization_server_discovered",
            "1 once the authorization server's metadata and JWKS are loaded, else 0",
            discovered.clone(),
        );
        GatewayMetrics {
            registry,
            process,
            token_checks,
            allowed,
            refused,
            cache,
            upstream_errors,
            headers_dropped,
            discovery_failures,
            discovered,
            pulls: Mutex::new(Vec::new()),
        }
    }

    /// Counts a request whose token passed every check.
    pub fn allowed(&self) {
        self.allowed.inc();
    }

    /// Counts a refusal: by reason, and by RFC 6750 outcome (`missing_token` when the request
    /// carried none, so the challenge has no error code).
    pub fn refused(&self, reason: RefusalReason, error_code: Option<&'static str>) {
        self.refused
            .get_or_create(&ReasonLabels {
                reason: reason.label(),
            })
            .inc();
        certbound_net::metrics::count(
            &self.token_checks,
            error_code.unwrap_or(RefusalReason::MissingToken.label()),
        );
    }

    /// Counts a client header that was not forwarded.
    pub fn header_dropped(&self, why: Dropped) {
        self.headers_dropped
            .get_or_create(&ReasonLabels {
                reason: why.label(),
            })
            .inc();
    }

    /// Reads `pull` at every scrape: for counters kept by other components (cache statistics),
    /// which it copies in with [`GatewayMetrics::sync_cache`].
    pub fn add_pull(&self, pull: impl Fn(&GatewayMetrics) + Send + Sync + 'static) {
        self.pulls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Box::new(pull));
    }

    /// Copies a cache's (hits, misses) into `certbound_cache_lookups_total`.
    pub fn sync_cache(&self, cache: &'static str, (hits, misses): (u64, u64)) {
        for (result, total) in [("hit", hits), ("miss", misses)] {
            sync_counter(
                &self.cache.get_or_create(&CacheLabels { cache, result }),
                total,
            );
        }
    }
}

impl std::ops::Deref for GatewayMetrics {
    type Target = ProcessMetrics;
    fn deref(&self) -> &ProcessMetrics {
        &self.process
    }
}

impl Exporter for GatewayMetrics {
    fn process(&self) -> &ProcessMetrics {
        &self.process
    }
    fn render(&self) -> String {
        for pull in self.pulls.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            pull(self);
        }
        encode(&self.registry, &self.process)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_no_authorization_server_family_and_starts_reasons_at_zero() {
        let m = GatewayMetrics::new();
        m.refused(RefusalReason::BindingMismatch, Some("invalid_token"));
        let text = m.render();
        assert!(
            text.contains("certbound_gateway_refused_total{reason=\"binding_mismatch\"} 1"),
            "{text}"
        );
        assert!(text.contains("certbound_gateway_refused_total{reason=\"expired\"} 0"));
        assert!(text.contains("certbound_gateway_token_checks_total{kind=\"invalid_token\"} 1"));
        assert!(text.contains("process=\"gateway\""));
        for family in [
            "certbound_tokens_issued",
            "certbound_client_authentications",
            "certbound_rate_limited",
            "certbound_store_errors",
            "certbound_tokens_revoked",
        ] {
            assert!(!text.contains(family), "{family} in the gateway registry");
        }
    }
}
