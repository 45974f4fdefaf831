//! A tower layer and an axum extractor for Rust APIs that terminate mTLS themselves (with
//! `certbound_net::serve`, which puts the connection's certificate in every request) and check
//! certificate-bound and DPoP-bound tokens in-process, with the same decision as the gateway.
//! DPoP-bound tokens need [`BoundTokenLayer::with_public_url`]: the proof's `htu` is compared
//! with that origin plus the request path, never with the `Host` header.

use crate::binding::SenderConstraint;
use crate::guard::{Presented, Requirements, TokenGuard};
use crate::tokens::VerifiedToken;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use certbound_net::ConnectionInfo;
use http::request::Parts;
use http::{Request, StatusCode};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Protects every route below it: requests without a valid token bound to the connection's
/// certificate are answered per RFC 6750 and never reach the inner service.
#[derive(Clone)]
pub struct BoundTokenLayer {
    guard: TokenGuard,
    requirements: Arc<Requirements>,
    constraint: SenderConstraint,
    public_url: Option<Arc<str>>,
}

impl BoundTokenLayer {
    /// A layer applying `requirements` with `guard`.
    pub fn new(guard: TokenGuard, requirements: Requirements) -> Self {
        BoundTokenLayer {
            guard,
            requirements: Arc::new(requirements),
            constraint: SenderConstraint::None,
            public_url: None,
        }
    }

    /// Which bound tokens the routes accept (default: as `requirements.require_bound` says:
    /// certificate-bound only, or anything).
    pub fn with_sender_constraint(mut self, constraint: SenderConstraint) -> Self {
        self.constraint = constraint;
        self
    }

    /// The public origin clients address this API by (`https://api.example.com`): DPoP proofs
    /// must name it plus the request path as `htu`. Without it DPoP-bound tokens are refused.
    pub fn with_public_url(mut self, origin: &str) -> Self {
        self.public_url = Some(Arc::from(origin.trim_end_matches('/')));
        self
    }
}

impl<S> tower::Layer<S> for BoundTokenLayer {
    type Service = BoundTokenService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        BoundTokenService {
            inner,
            guard: self.guard.clone(),
            requirements: self.requirements.clone(),
            constraint: self.constraint,
            public_url: self.public_url.clone(),
        }
    }
}

/// The service of [`BoundTokenLayer`].
#[derive(Clone)]
pub struct BoundTokenService<S> {
    inner: S,
    guard: TokenGuard,
    requirements: Arc<Requirements>,
    constraint: SenderConstraint,
    public_url: Option<Arc<str>>,
}

impl<S, B> tower::Service<Request<B>> for BoundTokenService<S>
where
    S: tower::Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // The clone is ready (tower's standard pattern: take the ready service, leave a clone).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        let requirements = self.requirements.clone();
        let constraint = self.constraint;
        let public_url = self.public_url.clone();
        Box::pin(async move {
            let conn = req.extensions().get::<ConnectionInfo>();
            let certificate = conn.and_then(|c| c.client_certificate.clone());
            let source = conn.map(|c| c.peer_addr);
            let htu = public_url.map(|origin| format!("{origin}{}", req.uri().path()));
            let presented = Presented {
                method: req.method(),
                uri: req.uri(),
                headers: req.headers(),
                certificate: certificate.as_ref(),
                htu: htu.as_deref(),
            };
            match guard.decide(&presented, &requirements, constraint).await {
                Ok(token) => {
                    // The next nonce rides on every answer to a DPoP request (RFC 9449 §9).
                    let nonce = token
                        .claims
                        .jkt
                        .as_ref()
                        .and_then(|_| guard.dpop_nonce())
                        .and_then(|n| http::HeaderValue::from_str(&n).ok());
                    req.extensions_mut().insert(BoundToken(token));
                    let mut response = inner.call(req).await?;
                    if let Some(v) = nonce {
                        response.headers_mut().insert(crate::bearer::DPOP_NONCE, v);
                    }
                    Ok(response)
                }
                Err(rejection) => {
                    crate::audit::refused(
                        &rejection,
                        certificate.as_ref(),
                        source,
                        req.uri().path(),
                    );
                    Ok(rejection.into_response())
                }
            }
        })
    }
}

/// The verified token of the request, put there by [`BoundTokenLayer`].
#[derive(Clone, Debug)]
pub struct BoundToken(pub VerifiedToken);

impl<S: Send + Sync> FromRequestParts<S> for BoundToken {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<BoundToken>()
            .cloned()
            .ok_or_else(|| {
                tracing::error!("BoundToken extractor used on a route without BoundTokenLayer");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            })
    }
}
