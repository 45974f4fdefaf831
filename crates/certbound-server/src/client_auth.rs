//! Client authentication for a request: gathers the presented credentials (form, `Authorization`
//! header, the connection's certificate), resolves the registration and calls the core decision.
//! Failures are logged with their decision trace; the client sees only the OAuth error.

use crate::state::AppState;
use certbound_core::auth::{self, AuthenticatedClient, BasicCredentials, PresentedCredentials};
use certbound_core::client::{ClientCredential, RegisteredClient, SelfSignedKeys};
use certbound_core::form::Form;
use certbound_core::{ClientCertificate, OAuthError};
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
    certificate: Option<&ClientCertificate>,
) -> Result<Authenticated, OAuthError> {
    let basic = match headers.get(http::header::AUTHORIZATION) {
        Some(v) => {
            let v = v
                .to_str()
                .map_err(|_| OAuthError::invalid_request("malformed Authorization header"))?;
            BasicCredentials::parse(v)?
        }
        None => None,
    };
    let creds = PresentedCredentials {
        client_id: form.get("client_id"),
        basic,
        client_secret: form.get("client_secret"),
        client_assertion: form.has("client_assertion") || form.has("client_assertion_type"),
        certificate,
    };
    let claimed = match auth::claimed_client_id(&creds) {
        Ok(id) => id.to_owned(),
        Err(failure) => return Err(refuse(endpoint, None, certificate, failure)),
    };
    let Some(registration) = state.clients.get(&claimed) else {
        let failure = auth::unknown_client(&creds, &claimed);
        return Err(refuse(endpoint, Some(&claimed), certificate, failure));
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
    match auth::authenticate(
        &registration,
        &creds,
        &state.anchors,
        self_signed,
        UnixTime::now(),
    ) {
        Ok(client) => {
            tracing::info!(
                target: "certbound::audit",
                event = "client_authenticated",
                endpoint,
                client_id = %client.client_id,
                method = %client.method,
                cert_thumbprint = certificate.map(|c| c.thumbprint().to_string()).unwrap_or_default(),
                cert_source = certificate.map(|c| c.source().to_string()).unwrap_or_default(),
                decision = "allow",
            );
            Ok(Authenticated {
                client,
                registration,
            })
        }
        Err(failure) => Err(refuse(endpoint, Some(&claimed), certificate, failure)),
    }
}

fn refuse(
    endpoint: &'static str,
    client_id: Option<&str>,
    certificate: Option<&ClientCertificate>,
    failure: auth::AuthFailure,
) -> OAuthError {
    tracing::warn!(
        target: "certbound::audit",
        event = "client_authentication_failed",
        endpoint,
        client_id = client_id.unwrap_or(""),
        reason = failure.reason.as_str(),
        cert_thumbprint = certificate.map(|c| c.thumbprint().to_string()).unwrap_or_default(),
        cert_source = certificate.map(|c| c.source().to_string()).unwrap_or_default(),
        trace = %failure.trace,
        decision = "deny",
    );
    failure.to_oauth_error()
}
