//! The authorization server's registry: the shared families plus client authentication, issued
//! and revoked tokens, rate limits and store errors. Nothing of the gateway is registered here.

use super::{encode, Exporter, KindLabels, ProcessMetrics};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Labels of a client-authentication decision.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthLabels {
    /// `token`, `introspect`, `revoke`.
    pub endpoint: &'static str,
    /// The registered method (`tls_client_auth` ...), or `none` when no client was identified.
    pub method: &'static str,
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// Why a request was denied (`ok` when allowed).
    pub reason: &'static str,
}

/// Labels of an issued token.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IssueLabels {
    /// `jwt` or `opaque`.
    pub format: &'static str,
    /// Certificate-bound or not.
    pub bound: bool,
}

/// The authorization server's metrics, under the name its modules use.
pub type Metrics = AuthServerMetrics;

/// Every metric the authorization server exports.
pub struct AuthServerMetrics {
    registry: Registry,
    process: ProcessMetrics,
    /// Client-authentication decisions.
    pub client_auth: Family<AuthLabels, Counter>,
    /// Access tokens issued.
    pub tokens_issued: Family<IssueLabels, Counter>,
    /// Access tokens revoked.
    pub tokens_revoked: Counter,
    /// Requests refused by a rate limit (`failed_auth_address`, `requests_client` ...).
    pub rate_limited: Family<KindLabels, Counter>,
    /// Store operations that failed (`issue`, `introspect`, `revoke`, `reload` ...).
    pub store_errors: Family<KindLabels, Counter>,
}

impl std::fmt::Debug for AuthServerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServerMetrics").finish_non_exhaustive()
    }
}

impl Default for AuthServerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl AuthServerMetrics {
    /// A fresh set of metrics, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("certbound");
        let process = ProcessMetrics::register(&mut registry, "authorization_server");
        let client_auth = Family::<AuthLabels, Counter>::default();
        let tokens_issued = Family::<IssueLabels, Counter>::default();
        let tokens_revoked = Counter::default();
        let rate_limited = Family::<KindLabels, Counter>::default();
        let store_errors = Family::<KindLabels, Counter>::default();
        registry.register(
            "client_authentications",
            "Client-authentication decisions by endpoint, method, decision and reason",
            client_auth.clone(),
        );
        registry.register(
            "tokens_issued",
            "Access tokens issued by format and certificate binding",
            tokens_issued.clone(),
        );
        registry.register(
            "tokens_revoked",
            "Access tokens revoked",
            tokens_revoked.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit, by limit",
            rate_limited.clone(),
        );
        registry.register(
            "store_errors",
            "Failed store operations by operation",
            store_errors.clone(),
        );
        AuthServerMetrics {
            registry,
            process,
            client_auth,
            tokens_issued,
            tokens_revoked,
            rate_limited,
            store_errors,
        }
    }

    /// Counts one event of `kind` in `family` (see [`super::count`]).
    pub fn count(family: &Family<KindLabels, Counter>, kind: &'static str) {
        super::count(family, kind);
    }
}

impl std::ops::Deref for AuthServerMetrics {
    type Target = ProcessMetrics;
    fn deref(&self) -> &ProcessMetrics {
        &self.process
    }
}

impl Exporter for AuthServerMetrics {
    fn process(&self) -> &ProcessMetrics {
        &self.process
    }
    fn render(&self) -> String {
        encode(&self.registry, &self.process)
    }
}

#[cfg(test)]
mod tests {
    use super::super::EndpointLabels;
    use super::*;

    #[test]
    fn renders_families_with_labels_and_help() {
        let m = AuthServerMetrics::new();
        m.tokens_issued
            .get_or_create(&IssueLabels {
                format: "jwt",
                bound: true,
            })
            .inc();
        m.latency
            .get_or_create(&EndpointLabels {
                listener: "mtls",
                endpoint: "/token".into(),
            })
            .observe(0.002);
        Metrics::count(&m.rate_limited, "failed_auth_address");
        let text = m.render();
        assert!(
            text.contains("certbound_tokens_issued_total{format=\"jwt\",bound=\"true\"} 1"),
            "{text}"
        );
        assert!(text.contains("# HELP certbound_tokens_issued Access tokens issued"));
        assert!(text.contains(
            "certbound_http_request_duration_seconds_count{listener=\"mtls\",endpoint=\"/token\"} 1"
        ));
        assert!(text.contains("certbound_rate_limited_total{kind=\"failed_auth_address\"} 1"));
        assert!(
            text.contains(&format!(
                "certbound_build_info{{version=\"{}\",process=\"authorization_server\"}} 1",
                env!("CARGO_PKG_VERSION")
            )),
            "{text}"
        );
        assert!(text.trim_end().ends_with("# EOF"));
    }

    #[test]
    fn holds_no_gateway_family() {
        let text = AuthServerMetrics::new().render();
        let families: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        assert!(
            families.contains(&"certbound_tokens_issued"),
            "{families:?}"
        );
        for f in &families {
            assert!(
                !f.contains("gateway") && !f.contains("cache_lookups"),
                "gateway family {f} in the AS registry"
            );
        }
    }
}
