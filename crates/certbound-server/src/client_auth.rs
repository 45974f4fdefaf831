//! Client authentication for a request: gathers the presented credentials (form, `Authorization`
//! header, the connection's certificate, a `private_key_jwt` assertion), resolves the registration
//! and its keys and calls the core decision, then records a verified assertion's `jti` in the
//! shared replay store (FAPI2.md §2.9 step 7, at every endpoint). Failures are logged with their
//! decision trace; the client sees only the OAuth error.

use crate::extract::Origin;
use crate::state::AppState;
use crate::throttle;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use certbound_core::auth::{
    self, AssertionContext, AuthenticatedClient, BasicCredentials, FailureReason,
    PresentedCredentials,
};
use certbound_core::client::{
    AssertionKeys, ClientCredential, RegisteredClient, SelfSignedKeys, MAX_CLIENT_ID_LEN,
};
use certbound_core::client_assertion::MAX_ASSERTION_BYTES;
use certbound_core::error::{presented, printable};
use certbound_core::form::Form;
use certbound_core::{ClientCertificate, OAuthError};
use certbound_net::metrics::AuthLabels;
use certbound_store::JtiKind;
use http::HeaderMap;
use rustls_pki_types::{CertificateDer, UnixTime};
use std::sync::Arc;

/// A successfully authenticated request.
pub struct Authenticated {
    /// The decision.
    pub client: AuthenticatedClient,
    /// The registration.
    pub registration: Arc<RegisteredClient>,
}

/// Authenticates the client of a token, introspection or revocation request.
pub async fn authenticate_request(
    state: &AppState,
    endpoint: &'static str,
    headers: &HeaderMap,
    form: &Form,
    origin: &Origin,
) -> Result<Authenticated, OAuthError> {
    let (certificate, peer) = (origin.certificate.as_ref(), origin.peer);
    let basic = match headers.get(http::header::AUTHORIZATION) {
        Some(v) => {
            let v = v
                .to_str()
                .map_err(|_| OAuthError::invalid_request("malformed Authorization header"))?;
            BasicCredentials::parse(v)?
        }
        None => None,
    };
    let mut creds = PresentedCredentials {
        client_id: form.get("client_id"),
        basic,
        client_secret: form.get("client_secret"),
        client_assertion: form.has("client_assertion") || form.has("client_assertion_type"),
        assertion: form.get("client_assertion"),
        assertion_type: form.get("client_assertion_type"),
        certificate,
        listener: origin.listener(),
    };
    // RFC 7521 §4.2: with an assertion, `client_id` is optional; the client is then looked up by
    // the assertion's (unverified) `iss`, which the decision verifies.
    let inferred_id = auth::assertion_issuer(&creds);
    if creds.client_id.is_none() {
        creds.client_id = inferred_id.as_deref();
    }
    let presents_secret = creds.basic.is_some() || creds.client_secret.is_some();
    let claimed = match auth::claimed_client_id(&creds) {
        Ok(id) => id.to_owned(),
        Err(failure) => {
            // No id to track: only the address is limited. An over-long id is logged once, cut
            // short; a missing or conflicting one is described by the trace.
            let shown = (failure.reason == FailureReason::ClientIdTooLong)
                .then(|| presented_client_id(&creds))
                .flatten();
            if let Err((kind, retry)) = state.throttle.admit(peer, None, false) {
                throttle::refused(&state.metrics, kind, &origin.source, shown);
                return Err(OAuthError::too_many_requests(retry.seconds()));
            }
            state.throttle.failed(peer, None, false);
            return Err(refuse(state, endpoint, None, origin, failure).finish(shown));
        }
    };
    if let Err((kind, retry)) = state.throttle.admit(peer, Some(&claimed), presents_secret) {
        throttle::refused(&state.metrics, kind, &origin.source, Some(&claimed));
        return Err(OAuthError::too_many_requests(retry.seconds()));
    }
    let Some(registration) = state.clients.get(&claimed) else {
        let failure = auth::unknown_client(&creds, &claimed);
        state.throttle.failed(peer, Some(&claimed), presents_secret);
        return Err(refuse(state, endpoint, None, origin, failure).with_client(&claimed));
    };
    let fetched;
    let self_signed: &[CertificateDer<'static>] = match &registration.credential {
        ClientCredential::SelfSigned(SelfSignedKeys::Inline(certs)) => certs,
        ClientCredential::SelfSigned(SelfSignedKeys::Uri(url)) => {
            fetched = state
                .jwks_uri
                .certificates(url, certificate.map(|c| c.leaf().as_ref()))
                .await;
            &fetched
        }
        _ => &[],
    };
    let fetched_keys;
    let policy;
    let assertion = match &registration.credential {
        ClientCredential::PrivateKeyJwt { keys, .. } => {
            let jwks = match keys {
                AssertionKeys::Inline(set) => set,
                AssertionKeys::Uri(url) => {
                    let kid = creds.assertion.and_then(unverified_kid);
                    fetched_keys = state.jwks_uri.key_set(url, kid.as_deref()).await;
                    &*fetched_keys
                }
            };
            policy = state.config.config.assertion_policy();
            Some(AssertionContext {
                policy: &policy,
                jwks: Some(jwks),
            })
        }
        _ => None,
    };
    let anchors = state.anchors();
    let now = UnixTime::now();
    let decide = || {
        auth::authenticate_with(
            &registration,
            &creds,
            &anchors,
            self_signed,
            assertion.as_ref(),
            now,
        )
    };
    // A secret is checked with argon2 (tens of milliseconds, 19 MiB): in one of the process's
    // argon2 slots, off the executor's turn. Other methods decide in microseconds, in place.
    let decision =
        if presents_secret && matches!(registration.credential, ClientCredential::Secret { .. }) {
            certbound_store::argon2_slots::run_in_place(decide).await
        } else {
            decide()
        };
    let decision = match decision {
        Ok(client) => first_use(state, client, now).await?,
        Err(failure) => Err(failure),
    };
    match decision {
        Ok(client) => {
            // At the token endpoint the `token_issued` event records the same decision (client,
            // method, certificate) with the token: one audit line per request is enough there.
            macro_rules! allowed {
                ($level:expr) => {
                    tracing::event!(
                        target: "certbound::audit",
                        $level,
                        event = "client_authenticated",
                        endpoint,
                        source = %origin.source,
                        client_id = %printable(&client.client_id),
                        method = %client.method,
                        cert_thumbprint = certificate.map(|c| c.thumbprint().to_string()).unwrap_or_default(),
                        cert_source = certificate.map(|c| c.source().to_string()).unwrap_or_default(),
                        decision = "allow",
                    )
                };
            }
            if endpoint == "token" {
                allowed!(tracing::Level::DEBUG);
            } else {
                allowed!(tracing::Level::INFO);
            }
            state
                .metrics
                .client_auth
                .get_or_create(&AuthLabels {
                    endpoint,
                    method: client.method.as_str(),
                    decision: "allow",
                    reason: "ok",
                })
                .inc();
            Ok(Authenticated {
                client,
                registration,
            })
        }
        Err(failure) => {
            state.throttle.failed(peer, Some(&claimed), presents_secret);
            Err(refuse(
                state,
                endpoint,
                Some(registration.credential.method().as_str()),
                origin,
                failure,
            )
            .with_client(&claimed))
        }
    }
}

/// Records a verified assertion's `jti` for the client until its `exp` (RFC 7523 §3 item 7): the
/// first use passes, a replay on any instance is refused. Other methods pass unchanged. A store
/// failure refuses the request (fail closed) with the store's error.
async fn first_use(
    state: &AppState,
    mut client: AuthenticatedClient,
    now: UnixTime,
) -> Result<Result<AuthenticatedClient, auth::AuthFailure>, OAuthError> {
    let Some(verified) = &client.assertion else {
        return Ok(Ok(client));
    };
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    match state
        .store
        .record_jti(
            JtiKind::ClientAssertion,
            &client.client_id,
            &verified.jti,
            verified.exp.max(now),
            now,
        )
        .await
    {
        Ok(true) => {
            client.assertion_first_use();
            Ok(Ok(client))
        }
        Ok(false) => Ok(Err(auth::assertion_replayed(client))),
        Err(e) => Err(crate::tokens::store_error(state, "record_jti", e)),
    }
}

/// The `kid` in an assertion's header, unverified: only used to decide whether a cached
/// `jwks_uri` set must be fetched again (the decision verifies the assertion).
fn unverified_kid(assertion: &str) -> Option<String> {
    if assertion.len() > MAX_ASSERTION_BYTES {
        return None;
    }
    let header = URL_SAFE_NO_PAD.decode(assertion.split('.').next()?).ok()?;
    let header: serde_json::Value = serde_json::from_slice(&header).ok()?;
    header.get("kid")?.as_str().map(str::to_owned)
}

/// The client id a request presented (the Basic user name first, as the claim is decided).
fn presented_client_id<'a>(creds: &'a PresentedCredentials<'a>) -> Option<&'a str> {
    creds
        .basic
        .as_ref()
        .map(|b| b.client_id.as_str())
        .or(creds.client_id)
}

/// A refused authentication, logged (audit) and counted once the claimed client id is known.
struct Refusal<'a> {
    state: &'a AppState,
    endpoint: &'static str,
    method: Option<&'static str>,
    origin: &'a Origin,
    failure: auth::AuthFailure,
}

fn refuse<'a>(
    state: &'a AppState,
    endpoint: &'static str,
    method: Option<&'static str>,
    origin: &'a Origin,
    failure: auth::AuthFailure,
) -> Refusal<'a> {
    Refusal {
        state,
        endpoint,
        method,
        origin,
        failure,
    }
}

impl Refusal<'_> {
    /// Logs and counts the refusal for `client_id` and returns the client's error.
    fn with_client(self, client_id: &str) -> OAuthError {
        self.finish(Some(client_id))
    }

    fn finish(self, client_id: Option<&str>) -> OAuthError {
        let certificate: Option<&ClientCertificate> = self.origin.certificate.as_ref();
        tracing::warn!(
            target: "certbound::audit",
            event = "client_authentication_failed",
            endpoint = self.endpoint,
            source = %self.origin.source,
            client_id = %presented(client_id.unwrap_or(""), MAX_CLIENT_ID_LEN),
            method = self.method.unwrap_or("none"),
            reason = self.failure.reason.as_str(),
            cert_thumbprint = certificate.map(|c| c.thumbprint().to_string()).unwrap_or_default(),
            cert_source = certificate.map(|c| c.source().to_string()).unwrap_or_default(),
            trace = %self.failure.trace,
            decision = "deny",
        );
        self.state
            .metrics
            .client_auth
            .get_or_create(&AuthLabels {
                endpoint: self.endpoint,
                method: self.method.unwrap_or("none"),
                decision: "deny",
                reason: self.failure.reason.as_str(),
            })
            .inc();
        self.failure.to_oauth_error()
    }
}
