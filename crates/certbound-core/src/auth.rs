//! Client authentication at the token, PAR, introspection and revocation endpoints: RFC 6749
//! §2.3, RFC 8705 §2 and `private_key_jwt` (RFC 7523 §2.2, OIDC Core §9), as one pure decision.
//!
//! The registered `token_endpoint_auth_method` decides which check runs; nothing is inferred from
//! the certificate (its chain length, its issuer). Every decision carries a [`DecisionTrace`] of the
//! steps taken, for logs, audit and `certbound clients check`; the client only ever sees the
//! generic [`OAuthError`] built by [`AuthFailure::to_oauth_error`].

use crate::client::{
    AuthMethod, ClientCredential, RegisteredClient, TlsSubject, MAX_CLIENT_ID_LEN,
};
use crate::client_assertion::{
    check_assertion_type, AssertionExpectations, AudienceRule, ClientAssertion, ClockSkew,
    VerifiedAssertion, FAPI_ALGORITHMS,
};
use crate::error::{cut, presented, OAuthError};
use crate::identity::certificate::ClientCertificate;
use crate::identity::dn::Folding;
use crate::identity::key_usage::SigningUsage;
use crate::identity::san::describe_sans;
use crate::identity::timestamp::{rfc3339, unix_time};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use std::fmt;

mod chain_words;

/// The credentials a request presented, before anything is checked.
#[derive(Default)]
pub struct PresentedCredentials<'a> {
    /// The `client_id` form parameter.
    pub client_id: Option<&'a str>,
    /// The decoded `Authorization: Basic` header, if the request had one.
    pub basic: Option<BasicCredentials>,
    /// The `client_secret` form parameter.
    pub client_secret: Option<&'a str>,
    /// Whether `client_assertion` or `client_assertion_type` was sent: a method of its own, so
    /// sending it beside another method is `invalid_request`.
    pub client_assertion: bool,
    /// The `client_assertion` form parameter (a compact JWS).
    pub assertion: Option<&'a str>,
    /// The `client_assertion_type` form parameter.
    pub assertion_type: Option<&'a str>,
    /// The client certificate of this request (TLS, or a trusted proxy's header).
    pub certificate: Option<&'a ClientCertificate>,
    /// Which listener the request came to: only the words of a missing-certificate failure
    /// depend on it.
    pub listener: Listener<'a>,
}

/// Which listener a request came to, so a missing certificate is explained with the fix: the
/// mTLS endpoint to use, or the client's own certificate configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Listener<'a> {
    /// Not known (a direct call, `certbound clients check`).
    #[default]
    Unknown,
    /// The listener that asks for client certificates.
    Mtls,
    /// The conventional listener, which asks for none.
    Conventional {
        /// The same endpoint's URL on the mTLS listener (`mtls_endpoint_aliases`), if there is one.
        mtls_alias: Option<&'a str>,
    },
}

impl Listener<'_> {
    /// What a client that needs a certificate (`why`, e.g. "this client authenticates with a
    /// certificate") is told when its request carried none: where to send it on the
    /// conventional listener, what to check on the mTLS one.
    pub fn missing_certificate(&self, why: &str) -> String {
        match self {
            Listener::Conventional {
                mtls_alias: Some(url),
            } => format!("{why}: send the request to the mTLS endpoint {url}"),
            Listener::Conventional { mtls_alias: None } => format!(
                "{why}, but this endpoint does not ask for client certificates and no mTLS endpoint is configured"
            ),
            Listener::Mtls => format!(
                "{why}, but no client certificate was sent (check the client's certificate and key configuration)"
            ),
            Listener::Unknown => format!("{why}, but no client certificate was presented"),
        }
    }
}

/// `Authorization: Basic` credentials, decoded per RFC 6749 §2.3.1 (both parts form-urlencoded).
#[derive(Clone)]
pub struct BasicCredentials {
    /// The client identifier.
    pub client_id: String,
    /// The secret.
    pub secret: String,
}

impl fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BasicCredentials({}, <redacted>)", self.client_id)
    }
}

impl BasicCredentials {
    /// Parses an `Authorization` header value. `Ok(None)` if the scheme is not Basic (another
    /// scheme is not client authentication); `Err` for a malformed Basic header.
    pub fn parse(header: &str) -> Result<Option<Self>, OAuthError> {
        let Some((scheme, rest)) = header.trim().split_once(' ') else {
            return Ok(None);
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return Ok(None);
        }
        let bad =
            || OAuthError::invalid_request("malformed Basic authorization header").with_basic(true);
        let decoded = STANDARD.decode(rest.trim()).map_err(|_| bad())?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
        let unescape = |s: &str| -> Result<String, OAuthError> {
            let s = s.replace('+', " ");
            percent_encoding::percent_decode_str(&s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| bad())
        };
        let client_id = unescape(id)?;
        if client_id.is_empty() {
            return Err(bad());
        }
        Ok(Some(BasicCredentials {
            client_id,
            secret: unescape(secret)?,
        }))
    }
}

/// The deployment's rules for `private_key_jwt` assertions (FAPI2.md §2.9): the audience rule of
/// the profile, the longest lifetime and the clock skew.
#[derive(Clone, Debug)]
pub struct AssertionPolicy {
    /// Which `aud` values are accepted.
    pub audience: AudienceRule,
    /// The longest assertion lifetime accepted, in seconds.
    pub max_lifetime_seconds: i64,
    /// Clock-skew bounds.
    pub clock_skew: ClockSkew,
}

impl AssertionPolicy {
    /// The policy for `audience`, with a 300 s lifetime and [`ClockSkew::FAPI`].
    pub fn new(audience: AudienceRule) -> Self {
        AssertionPolicy {
            audience,
            max_lifetime_seconds: 300,
            clock_skew: ClockSkew::FAPI,
        }
    }
}

/// What a `private_key_jwt` decision needs beside the request: the policy and the client's JWK
/// Set (inline, or from its cached `jwks_uri`; `None` when it could not be obtained).
#[derive(Clone, Copy, Debug)]
pub struct AssertionContext<'a> {
    /// The deployment's rules.
    pub policy: &'a AssertionPolicy,
    /// The client's registered JWK Set.
    pub jwks: Option<&'a serde_json::Value>,
}

/// The trust anchors `tls_client_auth` certificates must chain to (`[tls] client_ca`).
#[derive(Clone, Debug, Default)]
pub struct TrustAnchors {
    anchors: Vec<TrustAnchor<'static>>,
    /// The anchors' subjects, rendered once for decision traces.
    names: Vec<String>,
    /// Identifies this set (clones share it), so a connection can remember that its certificate
    /// chains to *this* set.
    id: u64,
}

static NEXT_ANCHORS_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl TrustAnchors {
    /// Builds anchors from DER CA certificates.
    pub fn from_der(certs: &[CertificateDer<'_>]) -> Result<Self, webpki::Error> {
        let anchors = certs
            .iter()
            .map(|c| webpki::anchor_from_trusted_cert(c).map(|a| a.to_owned()))
            .collect::<Result<Vec<_>, _>>()?;
        let names = anchors
            .iter()
            .map(|a| chain_words::anchor_subject(a.subject.as_ref()))
            .collect();
        Ok(TrustAnchors {
            anchors,
            names,
            id: NEXT_ANCHORS_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// Whether no anchor is configured (then no `tls_client_auth` client can authenticate).
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// The anchors' subject DNs (RFC 4514), in configuration order.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// Builds trust anchors from DER CA certificates, with the error in words (for configuration
/// loading and the CLI): which certificate, and why it cannot be an anchor.
pub fn trust_anchors_from_der(certs: &[CertificateDer<'_>]) -> Result<TrustAnchors, String> {
    for (i, c) in certs.iter().enumerate() {
        if webpki::anchor_from_trusted_cert(c).is_err() {
            return Err(format!(
                "certificate {} of the CA file cannot be used as a trust anchor (it is not a readable X.509 certificate)",
                i + 1
            ));
        }
    }
    TrustAnchors::from_der(certs)
        .map_err(|_| "a CA certificate cannot be used as a trust anchor".to_owned())
}

/// One step of an authentication decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceStep {
    /// What was checked, e.g. `chain` or `subject`.
    pub check: &'static str,
    /// Whether it passed.
    pub passed: bool,
    /// What was compared, in words an operator understands.
    pub detail: String,
}

/// The ordered steps of one authentication decision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecisionTrace {
    /// The steps, in order; the last failed one explains a refusal.
    pub steps: Vec<TraceStep>,
}

/// The longest step detail kept, in bytes: a detail quoting attacker-sized certificate names
/// (a subject, SANs, an issuer) is cut to [`TRACE_DETAIL_KEPT_CHARS`] characters and its length,
/// so one refused request costs a bounded number of log bytes.
pub const MAX_TRACE_DETAIL_BYTES: usize = 2048;
/// How many characters of an over-long step detail are kept.
pub const TRACE_DETAIL_KEPT_CHARS: usize = 1024;

impl DecisionTrace {
    fn pass(&mut self, check: &'static str, detail: impl Into<String>) {
        self.push(check, true, detail.into());
    }

    fn fail(&mut self, check: &'static str, detail: impl Into<String>) {
        self.push(check, false, detail.into());
    }

    fn push(&mut self, check: &'static str, passed: bool, detail: String) {
        let detail = if detail.len() > MAX_TRACE_DETAIL_BYTES {
            cut(&detail, MAX_TRACE_DETAIL_BYTES, TRACE_DETAIL_KEPT_CHARS).into_owned()
        } else {
            detail
        };
        self.steps.push(TraceStep {
            check,
            passed,
            detail,
        });
    }
}

impl fmt::Display for DecisionTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(
                f,
                "{} {}: {}",
                s.check,
                if s.passed { "ok" } else { "FAILED" },
                s.detail
            )?;
        }
        Ok(())
    }
}

/// Why authentication failed, as a category for metrics and audit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureReason {
    /// No `client_id` and no Basic header.
    MissingClientId,
    /// The Basic user name and the `client_id` parameter differ.
    ConflictingClientIds,
    /// More than one authentication method in one request (RFC 6749 §2.3).
    MultipleMethods,
    /// No such client.
    UnknownClient,
    /// The presented `client_id` is longer than any registered one can be
    /// ([`MAX_CLIENT_ID_LEN`]): refused before it is looked up, tracked or logged in full.
    ClientIdTooLong,
    /// The request did not use the client's registered method.
    WrongMethod,
    /// The secret did not verify.
    BadSecret,
    /// A certificate method, but no certificate on this request.
    NoCertificate,
    /// The certificate could not be parsed.
    UnparsableCertificate,
    /// The chain did not validate against the trust anchors (unknown CA, expired, wrong EKU...).
    ChainInvalid,
    /// The certificate's subject field did not match the registered one.
    SubjectMismatch,
    /// The self-signed certificate is not one of the registered ones.
    CertificateNotRegistered,
    /// The certificate is outside its validity period.
    CertificateExpired,
    /// The certificate's keyUsage does not allow its key to sign a TLS handshake.
    KeyUsage,
    /// A `self_signed_tls_client_auth` client's registered certificate is issued by a CA.
    NotSelfSigned,
    /// A `private_key_jwt` assertion was refused (type, signature, claims, keys).
    AssertionInvalid,
    /// A `private_key_jwt` assertion's `jti` was already used by this client.
    AssertionReplayed,
}

impl FailureReason {
    /// A stable name for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::MissingClientId => "missing_client_id",
            FailureReason::ConflictingClientIds => "conflicting_client_ids",
            FailureReason::MultipleMethods => "multiple_methods",
            FailureReason::UnknownClient => "unknown_client",
            FailureReason::ClientIdTooLong => "client_id_too_long",
            FailureReason::WrongMethod => "wrong_method",
            FailureReason::BadSecret => "bad_secret",
            FailureReason::NoCertificate => "no_certificate",
            FailureReason::UnparsableCertificate => "unparsable_certificate",
            FailureReason::ChainInvalid => "chain_invalid",
            FailureReason::SubjectMismatch => "subject_mismatch",
            FailureReason::CertificateNotRegistered => "certificate_not_registered",
            FailureReason::CertificateExpired => "certificate_expired",
            FailureReason::KeyUsage => "key_usage",
            FailureReason::NotSelfSigned => "not_self_signed",
            FailureReason::AssertionInvalid => "assertion_invalid",
            FailureReason::AssertionReplayed => "assertion_replayed",
        }
    }
}

/// A refused authentication, with the trace that explains it.
#[derive(Clone, Debug)]
pub struct AuthFailure {
    /// The category.
    pub reason: FailureReason,
    /// The steps taken.
    pub trace: DecisionTrace,
    /// Whether the request used HTTP Basic (the response then carries a Basic challenge).
    pub used_basic: bool,
    /// Client-facing words more specific than the generic ones (a missing certificate).
    description: Option<String>,
}

impl AuthFailure {
    fn new(reason: FailureReason, trace: DecisionTrace, used_basic: bool) -> Self {
        AuthFailure {
            reason,
            trace,
            used_basic,
            description: None,
        }
    }

    /// The response the client sees: `invalid_request` for malformed requests, otherwise
    /// `invalid_client` with a description that reveals nothing about the registration.
    pub fn to_oauth_error(&self) -> OAuthError {
        let e = match self.reason {
            FailureReason::MultipleMethods => OAuthError::invalid_request(
                "more than one client authentication method in one request",
            ),
            FailureReason::ConflictingClientIds => OAuthError::invalid_request(
                "client_id parameter differs from the Authorization header",
            ),
            FailureReason::MissingClientId => OAuthError::invalid_client(
                "client authentication failed: client_id is required",
            ),
            FailureReason::NoCertificate => OAuthError::invalid_client(
                self.description
                    .as_deref()
                    .unwrap_or("this client authenticates with a certificate, but no client certificate was presented"),
            ),
            _ => OAuthError::invalid_client("client authentication failed"),
        };
        e.with_basic(self.used_basic)
    }
}

/// A client that proved its identity on this request.
#[derive(Clone, Debug)]
pub struct AuthenticatedClient {
    /// `client_id`.
    pub client_id: String,
    /// The method it used.
    pub method: AuthMethod,
    /// The steps that led to the decision.
    pub trace: DecisionTrace,
    /// For `private_key_jwt`: the verified assertion, whose `jti` the caller must record in the
    /// shared replay store before accepting the request ([`assertion_replayed`] when it was used).
    pub assertion: Option<VerifiedAssertion>,
}

impl AuthenticatedClient {
    /// Adds the replay check's success to the trace, once the `jti` is recorded as first used.
    pub fn assertion_first_use(&mut self) {
        self.trace
            .pass("replay", "the assertion's jti is used for the first time");
    }
}

/// The failure of a `private_key_jwt` request whose assertion (verified as `client`) was already
/// used: its `jti` is in the replay store.
pub fn assertion_replayed(client: AuthenticatedClient) -> AuthFailure {
    let mut trace = client.trace;
    trace.fail(
        "replay",
        "assertion replayed: its jti was already used by this client",
    );
    AuthFailure::new(FailureReason::AssertionReplayed, trace, false)
}

/// The client a request without `client_id` and without Basic names through its assertion's
/// (unverified) `iss` (RFC 7521 §4.2: `client_id` is optional with an assertion). The client is
/// only looked up with it; [`authenticate_with`] then verifies the assertion for that client.
pub fn assertion_issuer(creds: &PresentedCredentials<'_>) -> Option<String> {
    if creds.client_id.is_some() || creds.basic.is_some() {
        return None;
    }
    ClientAssertion::unverified_issuer(creds.assertion?).ok()
}

/// Which client a request claims to be (step 1), before the registration is looked up.
///
/// RFC 8705 §2 requires `client_id` in every mTLS-authenticated request; the client is never looked
/// up from its certificate.
pub fn claimed_client_id<'a>(creds: &'a PresentedCredentials<'a>) -> Result<&'a str, AuthFailure> {
    let used_basic = creds.basic.is_some();
    let mut trace = DecisionTrace::default();
    let id = match (&creds.basic, creds.client_id) {
        (Some(b), Some(p)) if b.client_id != p => {
            trace.fail(
                "client_id",
                format!(
                    "Basic user '{}' differs from client_id parameter '{}'",
                    presented(&b.client_id, MAX_CLIENT_ID_LEN),
                    presented(p, MAX_CLIENT_ID_LEN)
                ),
            );
            return Err(AuthFailure::new(
                FailureReason::ConflictingClientIds,
                trace,
                used_basic,
            ));
        }
        (Some(b), _) => b.client_id.as_str(),
        (None, Some(p)) => p,
        (None, None) => {
            trace.fail(
                "client_id",
                "the request names no client (no client_id parameter, no Basic header)",
            );
            return Err(AuthFailure::new(
                FailureReason::MissingClientId,
                trace,
                used_basic,
            ));
        }
    };
    if id.len() > MAX_CLIENT_ID_LEN {
        // Names no client: refused before the id is looked up, tracked by a rate limit or
        // logged (the caller logs it cut short, see `error::presented`).
        trace.fail(
            "client_id",
            format!(
                "the presented client_id is {} bytes long; a registered one has at most {MAX_CLIENT_ID_LEN}",
                id.len()
            ),
        );
        return Err(AuthFailure::new(
            FailureReason::ClientIdTooLong,
            trace,
            used_basic,
        ));
    }
    Ok(id)
}

/// The unknown-client failure, with the same response as any other authentication failure. The
/// trace does not repeat the presented id: the audit line carries it once, in its `client_id`.
pub fn unknown_client(creds: &PresentedCredentials<'_>, _client_id: &str) -> AuthFailure {
    let mut trace = DecisionTrace::default();
    trace.fail(
        "client",
        "no client is registered with the presented client_id",
    );
    AuthFailure::new(FailureReason::UnknownClient, trace, creds.basic.is_some())
}

/// Authenticates a request as `client` (step 2). `self_signed_certs` are the client's registered
/// `x5c[0]` certificates (inline or from its cached `jwks_uri`); `anchors` the global
/// `tls_client_auth` trust anchors (a client's own `trust_anchors` replace them); `now` the time
/// certificates are checked at.
pub fn authenticate(
    client: &RegisteredClient,
    creds: &PresentedCredentials<'_>,
    anchors: &TrustAnchors,
    self_signed_certs: &[CertificateDer<'_>],
    now: UnixTime,
) -> Result<AuthenticatedClient, AuthFailure> {
    authenticate_with(client, creds, anchors, self_signed_certs, None, now)
}

/// [`authenticate`], with what a `private_key_jwt` client is checked against (`assertion`;
/// without it such a client is refused). The replay check of a verified assertion is the
/// caller's ([`AuthenticatedClient::assertion`]).
pub fn authenticate_with(
    client: &RegisteredClient,
    creds: &PresentedCredentials<'_>,
    anchors: &TrustAnchors,
    self_signed_certs: &[CertificateDer<'_>],
    assertion: Option<&AssertionContext<'_>>,
    now: UnixTime,
) -> Result<AuthenticatedClient, AuthFailure> {
    let used_basic = creds.basic.is_some();
    let method = client.credential.method();
    let mut trace = DecisionTrace::default();
    let mut verified = None;
    trace.pass(
        "client",
        format!("'{}' is registered with {method}", client.client_id),
    );
    let fail = |reason, trace| Err(AuthFailure::new(reason, trace, used_basic));

    // RFC 6749 §2.3: one method per request. A certificate on the connection is not a method by
    // itself (it may be there only for binding), so it is not counted here.
    let methods_used = [
        used_basic,
        creds.client_secret.is_some(),
        creds.client_assertion,
    ]
    .iter()
    .filter(|m| **m)
    .count();
    if methods_used > 1 || (method.uses_certificate() && methods_used > 0) {
        trace.fail(
            "method",
            format!(
                "the request carries {} in addition to what {method} needs",
                describe_extras(creds)
            ),
        );
        return fail(FailureReason::MultipleMethods, trace);
    }

    match &client.credential {
        ClientCredential::Secret { method, hash } => {
            let presented = match method {
                AuthMethod::ClientSecretBasic => creds.basic.as_ref().map(|b| b.secret.as_str()),
                _ => creds.client_secret,
            };
            let Some(secret) = presented else {
                trace.fail(
                    "method",
                    format!("registered method is {method}, but the request did not use it"),
                );
                return fail(FailureReason::WrongMethod, trace);
            };
            if !hash.verify(secret) {
                trace.fail("secret", "the secret does not match the registered hash");
                return fail(FailureReason::BadSecret, trace);
            }
            trace.pass("secret", "matches the registered hash");
        }
        ClientCredential::TlsClientAuth(subject) => {
            let cert = require_certificate(creds, &mut trace, used_basic)?;
            check_key_usage(cert, &mut trace)
                .map_err(|r| AuthFailure::new(r, trace.clone(), used_basic))?;
            let anchors = client.trust_anchors.as_ref().unwrap_or(anchors);
            check_chain(cert, anchors, now, &mut trace)
                .map_err(|r| AuthFailure::new(r, trace.clone(), used_basic))?;
            check_subject(cert, subject, client.subject_folding, &mut trace)
                .map_err(|r| AuthFailure::new(r, trace.clone(), used_basic))?;
        }
        ClientCredential::SelfSigned(_) => {
            let cert = require_certificate(creds, &mut trace, used_basic)?;
            check_key_usage(cert, &mut trace)
                .map_err(|r| AuthFailure::new(r, trace.clone(), used_basic))?;
            let presented = cert.leaf().as_ref();
            if !self_signed_certs.iter().any(|c| c.as_ref() == presented) {
                trace.fail(
                    "certificate",
                    format!(
                        "certificate {} is not x5c[0] of any of the {} registered key(s)",
                        cert.thumbprint(),
                        self_signed_certs.len()
                    ),
                );
                return fail(FailureReason::CertificateNotRegistered, trace);
            }
            trace.pass(
                "certificate",
                format!("{} equals a registered x5c[0] (DER)", cert.thumbprint()),
            );
            check_self_issued(cert, &mut trace)
                .map_err(|r| AuthFailure::new(r, trace.clone(), used_basic))?;
            match cert.parsed() {
                Ok(p) if now.as_secs() > p.not_after => {
                    trace.fail(
                        "validity",
                        format!(
                            "the certificate expired on {} (now {}); register a new one in the client's JWK Set",
                            rfc3339(p.not_after),
                            unix_time(now)
                        ),
                    );
                    return fail(FailureReason::CertificateExpired, trace);
                }
                Ok(p) if now.as_secs() < p.not_before => {
                    trace.fail(
                        "validity",
                        format!(
                            "the certificate is not valid until {} (now {})",
                            rfc3339(p.not_before),
                            unix_time(now)
                        ),
                    );
                    return fail(FailureReason::CertificateExpired, trace);
                }
                Ok(p) => trace.pass(
                    "validity",
                    format!(
                        "valid from {} to {}",
                        rfc3339(p.not_before),
                        rfc3339(p.not_after)
                    ),
                ),
                Err(e) => {
                    trace.fail(
                        "validity",
                        format!("the certificate's validity cannot be read: {e}"),
                    );
                    return fail(FailureReason::CertificateExpired, trace);
                }
            }
        }
        ClientCredential::PrivateKeyJwt { signing_alg, .. } => {
            let v = check_assertion(client, creds, *signing_alg, assertion, now, &mut trace)
                .map_err(|r| AuthFailure::new(r, trace.clone(), used_basic))?;
            verified = Some(v);
        }
    }
    Ok(AuthenticatedClient {
        client_id: client.client_id.clone(),
        method,
        trace,
        assertion: verified,
    })
}

/// The `private_key_jwt` check (FAPI2.md §2.9 steps 1-6): the assertion type, then
/// [`ClientAssertion::verify`] for this client with the deployment's policy and the registered
/// algorithm (or the FAPI set).
fn check_assertion(
    client: &RegisteredClient,
    creds: &PresentedCredentials<'_>,
    signing_alg: Option<crate::client_assertion::AssertionAlg>,
    context: Option<&AssertionContext<'_>>,
    now: UnixTime,
    trace: &mut DecisionTrace,
) -> Result<VerifiedAssertion, FailureReason> {
    let Some(jwt) = creds.assertion else {
        trace.fail(
            "method",
            "registered method is private_key_jwt, but the request carries no client_assertion",
        );
        return Err(FailureReason::WrongMethod);
    };
    if let Err(e) = check_assertion_type(creds.assertion_type) {
        trace.fail("assertion", e.to_string());
        return Err(FailureReason::AssertionInvalid);
    }
    let Some(context) = context else {
        trace.fail(
            "assertion",
            "no assertion policy is configured for this endpoint",
        );
        return Err(FailureReason::AssertionInvalid);
    };
    let Some(jwks) = context.jwks else {
        trace.fail(
            "keys",
            "the client's JWK Set could not be obtained (jwks_uri unreachable or unusable)",
        );
        return Err(FailureReason::AssertionInvalid);
    };
    let expect = AssertionExpectations {
        client_id: client.client_id.clone(),
        audience: context.policy.audience.clone(),
        allowed_algs: signing_alg.map_or_else(|| FAPI_ALGORITHMS.to_vec(), |a| vec![a]),
        max_lifetime_seconds: context.policy.max_lifetime_seconds,
        clock_skew: context.policy.clock_skew,
    };
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    match ClientAssertion::verify(jwt, &expect, jwks, now) {
        Ok(v) => {
            let key = v
                .kid
                .as_deref()
                .map(|k| format!("key '{}'", presented(k, 64)))
                .unwrap_or_else(|| "the only key of its type".to_owned());
            let rule = match &context.policy.audience {
                AudienceRule::IssuerOnly(_) => "the issuer only",
                AudienceRule::Any(_) => "the issuer or an endpoint URL",
            };
            trace.pass(
                "assertion",
                format!(
                    "{} signature verified with {key}; iss and sub are the client, aud accepted ({rule}), exp {} within the allowed lifetime",
                    v.alg.as_str(),
                    v.exp
                ),
            );
            Ok(v)
        }
        Err(e) => {
            trace.fail("assertion", e.to_string());
            Err(FailureReason::AssertionInvalid)
        }
    }
}

fn describe_extras(creds: &PresentedCredentials<'_>) -> String {
    let mut parts = Vec::new();
    if creds.basic.is_some() {
        parts.push("an Authorization: Basic header");
    }
    if creds.client_secret.is_some() {
        parts.push("a client_secret parameter");
    }
    if creds.client_assertion {
        parts.push("a client_assertion");
    }
    parts.join(" and ")
}

fn require_certificate<'c>(
    creds: &PresentedCredentials<'c>,
    trace: &mut DecisionTrace,
    used_basic: bool,
) -> Result<&'c ClientCertificate, AuthFailure> {
    match creds.certificate {
        Some(cert) => {
            trace.pass(
                "certificate",
                format!(
                    "presented via {}, x5t#S256 {}",
                    describe_source(cert),
                    cert.thumbprint()
                ),
            );
            Ok(cert)
        }
        None => {
            let words = creds
                .listener
                .missing_certificate("this client authenticates with a certificate");
            trace.fail("certificate", words.clone());
            let mut failure =
                AuthFailure::new(FailureReason::NoCertificate, trace.clone(), used_basic);
            failure.description = Some(words);
            Err(failure)
        }
    }
}

/// Where the certificate came from, in words.
fn describe_source(cert: &ClientCertificate) -> String {
    match cert.source() {
        crate::identity::certificate::CertificateSource::Tls => "the TLS handshake".to_owned(),
        crate::identity::certificate::CertificateSource::ForwardedHeader { format } => {
            format!("a trusted proxy's header ({format})")
        }
    }
}

/// Signature algorithms accepted in client certificate chains: the BCP 195 set (ECDSA P-256/P-384,
/// RSA PKCS#1 and PSS from 2048 bits, Ed25519); SHA-1 and small RSA keys are refused.
static CHAIN_SIGNATURE_ALGS: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm] = &[
    webpki::aws_lc_rs::ECDSA_P256_SHA256,
    webpki::aws_lc_rs::ECDSA_P256_SHA384,
    webpki::aws_lc_rs::ECDSA_P384_SHA256,
    webpki::aws_lc_rs::ECDSA_P384_SHA384,
    webpki::aws_lc_rs::ECDSA_P521_SHA256,
    webpki::aws_lc_rs::ECDSA_P521_SHA384,
    webpki::aws_lc_rs::ECDSA_P521_SHA512,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA384,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA512,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
    webpki::aws_lc_rs::ED25519,
];

/// RFC 5280 §4.2.1.3: the handshake was signed with the certificate's key, so a keyUsage
/// extension must allow digitalSignature. The listeners refuse such certificates at the
/// handshake already; this covers certificates forwarded by a trusted proxy.
fn check_key_usage(
    cert: &ClientCertificate,
    trace: &mut DecisionTrace,
) -> Result<(), FailureReason> {
    match cert.parsed() {
        Ok(p) => match &p.signing_usage {
            SigningUsage::Forbidden(why) => {
                trace.fail(
                    "key usage",
                    format!("the certificate cannot authenticate a TLS client: {why}"),
                );
                Err(FailureReason::KeyUsage)
            }
            SigningUsage::Allowed | SigningUsage::Unrestricted => Ok(()),
        },
        // Unparsable certificates fail later with the parse error in the trace.
        Err(_) => Ok(()),
    }
}

/// certbound's policy for `self_signed_tls_client_auth` (docs/policies.md): the registered
/// certificate must be self-issued. A CA-issued certificate pinned this way would skip its CA's
/// chain, expiry and revocation checks while looking CA-backed; it belongs with `tls_client_auth`.
fn check_self_issued(
    cert: &ClientCertificate,
    trace: &mut DecisionTrace,
) -> Result<(), FailureReason> {
    match cert.parsed() {
        Ok(p) if p.self_issued => Ok(()),
        Ok(_) => {
            let issuer = cert
                .issuer()
                .map(|i| format!("\"{i}\""))
                .unwrap_or_else(|| "another name".to_owned());
            trace.fail(
                "self-signed",
                format!(
                    "the registered certificate is issued by {issuer}, not self-signed: register this client with tls_client_auth (its chain is then validated), or register a self-signed certificate"
                ),
            );
            Err(FailureReason::NotSelfSigned)
        }
        Err(e) => {
            trace.fail(
                "self-signed",
                format!("the certificate cannot be read: {e}"),
            );
            Err(FailureReason::UnparsableCertificate)
        }
    }
}

fn check_chain(
    cert: &ClientCertificate,
    anchors: &TrustAnchors,
    now: UnixTime,
    trace: &mut DecisionTrace,
) -> Result<(), FailureReason> {
    if anchors.is_empty() {
        trace.fail("chain", "no trust anchors are configured ([tls] client_ca)");
        return Err(FailureReason::ChainInvalid);
    }
    // The certificate is the same for every request on a connection: a chain validated against
    // this anchor set stays valid while `now` is inside every certificate's validity period.
    if let Some(memo) = cert.chain_memo(anchors.id, now.as_secs()) {
        trace.pass(
            "chain",
            format!(
                "valid for clientAuth (validated earlier on this connection) via {} intermediate(s) to anchor \"{}\"",
                memo.intermediates, memo.anchor
            ),
        );
        return Ok(());
    }
    let ee = match webpki::EndEntityCert::try_from(cert.leaf()) {
        Ok(ee) => ee,
        Err(e) => {
            trace.fail("chain", format!("the certificate cannot be parsed: {e}"));
            return Err(FailureReason::UnparsableCertificate);
        }
    };
    match ee.verify_for_usage(
        CHAIN_SIGNATURE_ALGS,
        &anchors.anchors,
        cert.intermediates(),
        now,
        webpki::KeyUsage::client_auth(),
        None,
        None,
    ) {
        Ok(path) => {
            let anchor_name = chain_words::anchor_subject(path.anchor().subject.as_ref());
            let intermediates: Vec<CertificateDer<'_>> =
                path.intermediate_certificates().map(|c| c.der()).collect();
            let ders: Vec<&[u8]> = intermediates.iter().map(|c| c.as_ref()).collect();
            cert.remember_chain(anchors.id, &ders, anchor_name.clone());
            trace.pass(
                "chain",
                format!(
                    "valid for clientAuth at {} via {} intermediate(s) to anchor \"{anchor_name}\"",
                    unix_time(now),
                    path.intermediate_certificates().count()
                ),
            );
            Ok(())
        }
        Err(e) => {
            let reason = match e {
                webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. } => {
                    FailureReason::CertificateExpired
                }
                _ => FailureReason::ChainInvalid,
            };
            trace.fail("chain", chain_words::describe(&e, cert, anchors));
            Err(reason)
        }
    }
}

fn check_subject(
    cert: &ClientCertificate,
    subject: &TlsSubject,
    folding: Folding,
    trace: &mut DecisionTrace,
) -> Result<(), FailureReason> {
    let parsed = match cert.parsed() {
        Ok(p) => p,
        Err(e) => {
            trace.fail(
                "subject",
                format!("cannot read the certificate's names: {e}"),
            );
            return Err(FailureReason::UnparsableCertificate);
        }
    };
    match subject {
        TlsSubject::Dn(dn) => {
            let presented = &parsed.subject;
            if dn.matches_with(presented, folding) {
                trace.pass(
                    "subject",
                    format!(
                        "registered {subject} matches the certificate's subject \"{presented}\""
                    ),
                );
                return Ok(());
            }
            let detail = if dn.same_attributes_in_other_order(presented) {
                format!(
                    "registered subject \"{dn}\" holds the same attributes as the certificate's \"{presented}\" in another order; DNs match by position (RFC 4517): register \"{presented}\""
                )
            } else if dn.matches_only_by_compatibility(presented) {
                format!(
                    "registered {subject} equals the certificate's subject \"{presented}\" only after compatibility folding (look-alike fullwidth or superscript characters), which strict matching refuses; if the partner's name really uses them, register this client with tls_client_auth_subject_dn_matching = \"rfc4518\""
                )
            } else if !presented.is_matchable() {
                format!(
                    "registered {subject} does not match the certificate's subject \"{presented}\", which can match nothing (a value is empty or holds a control or format character)"
                )
            } else {
                format!(
                    "registered {subject} does not match the certificate's subject \"{presented}\""
                )
            };
            trace.fail("subject", detail);
            Err(FailureReason::SubjectMismatch)
        }
        TlsSubject::San(san) => {
            let presented = describe_sans(&parsed.sans);
            if san.matches_any(&parsed.sans) {
                trace.pass(
                    "subject",
                    format!(
                        "registered {subject} matches one of the certificate's SANs ({presented})"
                    ),
                );
                Ok(())
            } else {
                trace.fail(
                    "subject",
                    format!(
                        "registered {subject} matches none of the certificate's SANs ({presented})"
                    ),
                );
                Err(FailureReason::SubjectMismatch)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_is_form_decoded() {
        let v = STANDARD.encode("my%20client:s%3Acret+x");
        let b = BasicCredentials::parse(&format!("Basic {v}"))
            .unwrap()
            .unwrap();
        assert_eq!(b.client_id, "my client");
        assert_eq!(b.secret, "s:cret x");
        assert!(BasicCredentials::parse("Bearer abc").unwrap().is_none());
        assert!(BasicCredentials::parse("Basic !!!").is_err());
        assert!(BasicCredentials::parse(&format!("Basic {}", STANDARD.encode("nocolon"))).is_err());
        assert!(format!("{b:?}").contains("<redacted>"));
    }

    #[test]
    fn client_id_is_required_and_must_agree() {
        let none = PresentedCredentials::default();
        assert_eq!(
            claimed_client_id(&none).unwrap_err().reason,
            FailureReason::MissingClientId
        );
        let both = PresentedCredentials {
            client_id: Some("a"),
            basic: Some(BasicCredentials {
                client_id: "b".into(),
                secret: "x".into(),
            }),
            ..Default::default()
        };
        let e = claimed_client_id(&both).unwrap_err();
        assert_eq!(e.reason, FailureReason::ConflictingClientIds);
        assert_eq!(
            e.to_oauth_error().code,
            crate::OAuthErrorCode::InvalidRequest
        );
        let param = PresentedCredentials {
            client_id: Some("a"),
            ..Default::default()
        };
        assert_eq!(claimed_client_id(&param).unwrap(), "a");
    }
}
