//! Finding the authorization server: its metadata, its JWKS and (for opaque tokens) its
//! introspection endpoint, retried until it succeeds.
//!
//! A production gateway must not die because it started before its authorization server (or
//! while the AS was briefly unreachable): it starts its listener at once, answers protected
//! routes with `503 temporarily_unavailable` (reason `not_ready`), reports not ready on
//! `/readyz`, and retries with exponential backoff and jitter (0.5 s doubling to 30 s) for as
//! long as it runs. Each failed attempt logs one line with the real cause
//! ([`crate::tokens::FetchCause`]): DNS, connection refused, or which certificate check failed.
//!
//! Readiness is only about discovery: once the JWKS is loaded, JWTs are verified locally, so a
//! later AS outage does not make the gateway unready (that would turn an AS blip into an API
//! outage); opaque tokens are then refused with 503 per request.

use crate::config::GatewayConfig;
use crate::guard::TokenGuard;
use crate::metrics::GatewayMetrics;
use crate::tokens::{DiscoveryError, Introspector, Verifier, VerifierConfig};
use certbound_core::dpop::NonceScheme;
use certbound_net::metrics::{NotReady, Readiness, ReadinessFuture};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// What discovery produces: the token guard, and the introspector when opaque tokens are
/// accepted.
#[derive(Clone)]
pub struct Discovered {
    /// The guard every protected request goes through.
    pub guard: TokenGuard,
    /// The introspector, when `[authorization_server] client_id` is set.
    pub introspector: Option<Introspector>,
}

/// Discovery's state, shared by the retry task, the request path and `/readyz`.
pub struct Discovery {
    done: OnceLock<Discovered>,
    last_failure: Mutex<Option<String>>,
    ready: watch::Sender<bool>,
}

impl Default for Discovery {
    fn default() -> Self {
        Discovery {
            done: OnceLock::new(),
            last_failure: Mutex::new(None),
            ready: watch::Sender::new(false),
        }
    }
}

impl Discovery {
    /// The discovered authorization server, once it is (lock-free: read on every request).
    pub fn get(&self) -> Option<&Discovered> {
        self.done.get()
    }

    /// Waits until the authorization server is discovered.
    pub async fn wait(&self) {
        let mut rx = self.ready.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }

    fn fail(&self, line: String) {
        *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(line);
    }

    fn succeed(&self, d: Discovered) {
        let _ = self.done.set(d);
        self.ready.send_replace(true);
    }
}

impl Readiness for Discovery {
    fn check(&self) -> ReadinessFuture<'_> {
        Box::pin(async move {
            if self.get().is_some() {
                return Ok(());
            }
            let last = self
                .last_failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            Err(NotReady(match last {
                Some(cause) => format!("the authorization server is not discovered yet: {cause}"),
                None => "discovering the authorization server".to_owned(),
            }))
        })
    }
}

/// Exponential backoff with jitter: each delay is drawn in [step/2, step], then the step
/// doubles up to `max`.
#[derive(Clone, Debug)]
pub struct Backoff {
    step: Duration,
    max: Duration,
}

impl Backoff {
    /// The gateway's discovery schedule: 0.5 s, doubling, capped at 30 s.
    pub fn discovery() -> Self {
        Backoff::new(Duration::from_millis(500), Duration::from_secs(30))
    }

    /// Starts at `initial`, never above `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            step: initial.min(max),
            max,
        }
    }

    /// The next delay for `jitter` in [0, 1] (see [`random_unit`]).
    pub fn next_delay(&mut self, jitter: f64) -> Duration {
        let delay = self.step.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
        self.step = (self.step * 2).min(self.max);
        delay
    }
}

/// A uniformly random number in [0, 1], for jitter (so a fleet of gateways restarted together
/// does not retry in lockstep).
pub fn random_unit() -> f64 {
    let mut b = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// One discovery attempt: metadata and JWKS, then the introspection endpoint if the gateway
/// introspects.
pub async fn discover_once(
    config: &GatewayConfig,
    nonces: Option<&NonceScheme>,
    http: &reqwest::Client,
) -> Result<Discovered, DiscoveryError> {
    let as_cfg = &config.authorization_server;
    let mut vc = VerifierConfig::new(as_cfg.issuer.clone());
    vc.audience = as_cfg.audience.clone();
    vc.leeway_seconds = as_cfg.leeway_seconds;
    vc.jwks_min_refresh = Duration::from_secs(as_cfg.jwks_min_refresh_seconds);
    let verifier = Verifier::discover(vc, http.clone()).await?;
    let introspector = match &as_cfg.client_id {
        Some(client_id) => {
            let meta = verifier.metadata();
            let alias = meta
                .get("mtls_endpoint_aliases")
                .and_then(|a| a.get("introspection_endpoint"))
                .and_then(|v| v.as_str());
            let plain = meta.get("introspection_endpoint").and_then(|v| v.as_str());
            let endpoint = if as_cfg.client_cert.is_some() {
                alias.or(plain)
            } else {
                plain
            }
            .ok_or_else(|| {
                DiscoveryError::NoIntrospectionEndpoint(
                    "the metadata has no introspection_endpoint".into(),
                )
            })?;
            let endpoint = url::Url::parse(endpoint).map_err(|e| {
                DiscoveryError::NoIntrospectionEndpoint(format!(
                    "the metadata's introspection_endpoint is not a URL: {e}"
                ))
            })?;
            Some(Introspector::new(
                endpoint,
                http.clone(),
                client_id.clone(),
                as_cfg.client_secret.clone(),
                verifier.clone(),
                as_cfg.introspection_limits(),
            ))
        }
        None => None,
    };
    let mut guard = TokenGuard::new(verifier, introspector.clone(), config.realm.clone())
        .with_dpop(&config.dpop);
    if let Some(nonces) = nonces {
        guard = guard.with_dpop_nonces(nonces.clone());
    }
    Ok(Discovered {
        guard,
        introspector,
    })
}

/// Which CAs the gateway trusts for the AS, for TLS failure lines.
fn trusted_cas(config: &GatewayConfig) -> String {
    match &config.authorization_server.ca {
        Some(p) => format!("[authorization_server] ca = {}", p.display()),
        None => "the system's root CAs ([authorization_server] ca is not set)".to_owned(),
    }
}

/// Retries [`discover_once`] until it succeeds or `stop` turns true. `first` is sent after the
/// first attempt, whatever its outcome.
pub(crate) async fn run(
    discovery: Arc<Discovery>,
    config: Arc<GatewayConfig>,
    nonces: Option<NonceScheme>,
    http: reqwest::Client,
    metrics: Arc<GatewayMetrics>,
    first: oneshot::Sender<()>,
    mut stop: watch::Receiver<bool>,
) {
    let mut first = Some(first);
    let mut backoff = Backoff::discovery();
    let issuer = &config.authorization_server.issuer;
    for attempt in 1u64.. {
        let outcome = tokio::select! {
            r = discover_once(&config, nonces.as_ref(), &http) => r,
            _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => return,
        };
        match outcome {
            Ok(d) => {
                register_cache_pulls(&metrics, &d);
                discovery.succeed(d);
                metrics.discovered.set(1);
                tracing::info!(%issuer, attempts = attempt, "discovered the authorization server");
                if let Some(f) = first.take() {
                    let _ = f.send(());
                }
                return;
            }
            Err(e) => {
                metrics.discovery_failures.inc();
                let delay = backoff.next_delay(random_unit());
                let mut cause = e.to_string();
                if e.is_tls() {
                    cause.push_str(&format!("; trusted CAs: {}", trusted_cas(&config)));
                }
                tracing::warn!(
                    %issuer,
                    attempt,
                    retry_in_ms = delay.as_millis() as u64,
                    "cannot discover the authorization server: {cause}; retrying in {:.1} s",
                    delay.as_secs_f64()
                );
                discovery.fail(format!("{cause} (attempt {attempt})"));
                if let Some(f) = first.take() {
                    let _ = f.send(());
                }
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => return,
                }
            }
        }
    }
}

fn register_cache_pulls(metrics: &GatewayMetrics, d: &Discovered) {
    let (verifier, introspector) = (d.guard.verifier().clone(), d.introspector.clone());
    metrics.add_pull(move |m| {
        m.sync_cache("gateway_jwt", verifier.cache_stats());
        if let Some(i) = &introspector {
            m.sync_cache("gateway_introspection", i.cache_stats());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let mut b = Backoff::discovery();
        // No jitter draws the low end of each step, full jitter the step itself.
        assert_eq!(b.next_delay(0.0), Duration::from_millis(250));
        assert_eq!(b.next_delay(1.0), Duration::from_secs(1));
        assert_eq!(b.next_delay(1.0), Duration::from_secs(2));
        for _ in 0..10 {
            b.next_delay(0.3);
        }
        assert_eq!(b.next_delay(1.0), Duration::from_secs(30));
        assert_eq!(b.next_delay(0.0), Duration::from_secs(15));
        assert_eq!(
            b.next_delay(7.0),
            Duration::from_secs(30),
            "jitter is clamped"
        );
        for _ in 0..100 {
            let u = random_unit();
            assert!((0.0..1.0).contains(&u), "{u}");
        }
    }

    #[tokio::test]
    async fn readiness_reports_the_last_failure_until_discovered() {
        let d = Discovery::default();
        assert_eq!(
            d.check().await,
            Err(NotReady("discovering the authorization server".into()))
        );
        d.fail("connection refused to 127.0.0.1:8443 (attempt 1)".into());
        let e = d.check().await.unwrap_err();
        assert!(
            e.0.ends_with("connection refused to 127.0.0.1:8443 (attempt 1)"),
            "{e}"
        );
    }
}
