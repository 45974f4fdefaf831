//! Fuzz harnesses for certbound-core's parsers of hostile input, and their corpus replay.
//!
//! This one file is both:
//! * an integration test (`cargo test -p certbound-core --test fuzz_corpus`) that runs every input
//!   under `fuzz/corpus/<target>/` and `fuzz/artifacts/<target>/` through the harness, so CI checks
//!   the committed corpus and every saved crash reproducer without cargo-fuzz;
//! * the body of the cargo-fuzz targets `form`, `dn_string`, `dn_der`, `certificate` and
//!   `authorize_request`, which
//!   include it with `#[path]` (see `fuzz/fuzz_targets/`), so the fuzzer and CI run the same code
//!   and check the same properties.
//!
//! Each harness takes arbitrary bytes, must never panic, and asserts properties that hold for
//! every input. See docs/fuzzing.md.
#![allow(dead_code)]

use certbound_core::form::{Form, FormError};
use certbound_core::identity::dn::{
    DistinguishedName, MAX_AVAS_PER_RDN, MAX_DN_STRING_BYTES, MAX_RDNS,
};
use certbound_core::identity::san::{PresentedSan, SanMatcher};
use certbound_core::{CertificateSource, ClientCertificate, Thumbprint};
use der::Decode;
use rustls_pki_types::{CertificateDer, UnixTime};

// ---------------------------------------------------------------------------------------------
// form: the token/introspection/revocation endpoints' application/x-www-form-urlencoded parser.
// ---------------------------------------------------------------------------------------------

/// An independent model of the decoding `Form::parse` documents: `+` is a space, `%HH` is a
/// byte, a `%` not followed by two hex digits is kept as it is, and the result must be UTF-8.
fn form_decode(raw: &[u8]) -> Option<String> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                raw.get(i + 1).and_then(|&b| hex(b)),
                raw.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// `Form::parse` on arbitrary bytes. Properties: an accepted form never had a repeated
/// parameter, has at most 64 parameters, all UTF-8, and returns exactly the decoded non-empty
/// values; every refusal is justified by the input.
pub fn form(data: &[u8]) {
    let pairs: Vec<(Option<String>, Option<String>)> = data
        .split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|b| *b == b'=') {
            Some(i) => (form_decode(&p[..i]), form_decode(&p[i + 1..])),
            None => (form_decode(p), Some(String::new())),
        })
        .collect();
    let names: Vec<&String> = pairs.iter().filter_map(|(n, _)| n.as_ref()).collect();
    let repeated = |name: &String| names.iter().filter(|n| **n == name).count() >= 2;
    match Form::parse(data) {
        Ok(form) => {
            assert!(pairs.len() <= 64, "accepted {} parameters", pairs.len());
            for (name, value) in &pairs {
                let (Some(name), Some(value)) = (name, value) else {
                    panic!("accepted a parameter that is not UTF-8 once decoded");
                };
                assert!(!repeated(name), "accepted the repeated parameter {name:?}");
                if value.is_empty() {
                    assert_eq!(form.get(name), None, "empty {name:?} must be absent");
                    assert!(!form.has(name));
                } else {
                    assert_eq!(form.get(name), Some(value.as_str()), "value of {name:?}");
                    assert!(form.has(name));
                }
            }
        }
        Err(FormError::Repeated(name)) => {
            assert!(repeated(&name), "Repeated({name:?}) but it appears once")
        }
        Err(FormError::InvalidUtf8) => assert!(
            pairs.iter().any(|(n, v)| n.is_none() || v.is_none()),
            "InvalidUtf8 but every name and value decodes"
        ),
        Err(FormError::TooMany) => assert!(pairs.len() > 64, "TooMany with {} pairs", pairs.len()),
    }
}

// ---------------------------------------------------------------------------------------------
// dn_string: registered RFC 4514 strings (tls_client_auth_subject_dn), and matching two of them.
// ---------------------------------------------------------------------------------------------

/// Parses a registered DN string and checks what every accepted DN must satisfy: it can match
/// (registration refuses what cannot), it matches itself, and its canonical rendering parses back
/// to a DN that matches it (unless the rendering outgrows the 4 KiB limit).
fn check_registered(s: &str) -> Option<DistinguishedName> {
    let dn: DistinguishedName = s.parse().ok()?;
    assert!(
        dn.rdn_count() >= 1 && dn.rdn_count() <= MAX_RDNS,
        "{s:?}: {} RDNs",
        dn.rdn_count()
    );
    assert!(dn.is_matchable(), "{s:?} was accepted but can never match");
    assert!(dn.matches(&dn), "{s:?} does not match itself");
    let rendered = dn.to_string();
    if rendered.len() <= MAX_DN_STRING_BYTES {
        let again: DistinguishedName = rendered
            .parse()
            .unwrap_or_else(|e| panic!("{s:?} renders as {rendered:?}, which does not parse: {e}"));
        assert!(
            again.matches(&dn) && dn.matches(&again),
            "{s:?} → {rendered:?} does not match"
        );
        assert_eq!(
            again.to_string(),
            rendered,
            "rendering is not canonical for {s:?}"
        );
    }
    Some(dn)
}

/// Input: one or two DN strings separated by the first `\n` (UTF-8, lossily decoded). Each is
/// parsed and checked ([`check_registered`]); two that parse are matched both ways (the match is
/// symmetric, and a match carries over to the other's rendering).
pub fn dn_string(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (a, b) = match text.split_once('\n') {
        Some((a, b)) => (a, Some(b)),
        None => (&*text, None),
    };
    let da = check_registered(a);
    let Some(b) = b else { return };
    let db = check_registered(b);
    if let (Some(da), Some(db)) = (da, db) {
        let ab = da.matches(&db);
        assert_eq!(
            ab,
            db.matches(&da),
            "match of {a:?} and {b:?} is not symmetric"
        );
        if ab {
            if let Ok(rb) = db.to_string().parse::<DistinguishedName>() {
                assert!(da.matches(&rb), "{a:?} matches {b:?} but not its rendering");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// dn_der: certificate names (DER `Name`), and matching them against registered strings.
// ---------------------------------------------------------------------------------------------

/// Checks a decoded certificate name: `from_name` never panics; a matchable name matches itself;
/// its rendering, registered as a string, matches it back whenever the string limits allow
/// (at most 64 RDNs, 16 attributes per RDN, no type twice in one RDN, 4 KiB).
fn check_name(name: &x509_cert::name::Name) {
    let Ok(dn) = DistinguishedName::from_name(name) else {
        return;
    };
    assert_eq!(dn.rdn_count(), name.0.len());
    let rendered = dn.to_string();
    if !dn.is_matchable() {
        assert!(
            !dn.matches(&dn),
            "{rendered:?} is not matchable but matches itself"
        );
        return;
    }
    assert!(dn.matches(&dn), "{rendered:?} does not match itself");
    let registrable = name.0.len() <= MAX_RDNS
        && rendered.len() <= MAX_DN_STRING_BYTES
        && name.0.iter().all(|rdn| {
            let avas = rdn.0.as_slice();
            avas.len() <= MAX_AVAS_PER_RDN
                && avas
                    .iter()
                    .enumerate()
                    .all(|(i, a)| avas[..i].iter().all(|b| b.oid != a.oid))
        });
    if registrable {
        let registered: DistinguishedName = rendered.parse().unwrap_or_else(|e| {
            panic!("the rendering {rendered:?} of a matchable name does not parse: {e}")
        });
        assert!(
            registered.matches(&dn) && dn.matches(&registered),
            "the rendering {rendered:?} does not match the name it came from"
        );
    }
}

/// Input: the DER of an X.501 `Name`.
pub fn dn_der(data: &[u8]) {
    if let Ok(name) = x509_cert::name::Name::from_der(data) {
        check_name(&name);
    }
}

// ---------------------------------------------------------------------------------------------
// certificate: ClientCertificate from arbitrary DER (TLS peers and forwarded headers).
// ---------------------------------------------------------------------------------------------

/// Input: the DER of a leaf certificate. Properties: the thumbprint is over exactly these bytes;
/// a parsed subject obeys [`check_name`]; a presented SAN is matched by its own registration
/// whenever that registration is accepted.
pub fn certificate(data: &[u8]) {
    let cert = ClientCertificate::new(
        vec![CertificateDer::from(data.to_vec())],
        CertificateSource::Tls,
    )
    .expect("a one-element chain");
    assert_eq!(cert.leaf().as_ref(), data);
    assert!(cert.intermediates().is_empty());
    assert!(cert.thumbprint().ct_eq(&Thumbprint::of_der(data)));
    let now = UnixTime::now();
    let valid = cert.is_valid_at(now);
    cert.remember_chain(7, &[data], "fuzz".to_owned());
    let memo = cert.chain_memo(7, now.as_secs());
    let Ok(leaf) = cert.parsed() else {
        assert!(!valid && memo.is_none(), "an unparsed leaf is never valid");
        return;
    };
    assert_eq!(
        valid,
        leaf.not_before <= now.as_secs() && now.as_secs() <= leaf.not_after
    );
    assert_eq!(
        memo.is_some(),
        valid,
        "the memo window is the leaf's own validity here"
    );
    if let Ok(c) = x509_cert::Certificate::from_der(data) {
        check_name(&c.tbs_certificate.subject);
    }
    if leaf.subject.is_matchable() {
        assert!(leaf.subject.matches(&leaf.subject));
    }
    for san in &leaf.sans {
        let own = match san {
            PresentedSan::Dns(s) => SanMatcher::dns(s),
            PresentedSan::Uri(s) => SanMatcher::uri(s),
            PresentedSan::Email(s) => SanMatcher::email(s),
            PresentedSan::Ip(ip) => Ok(SanMatcher::Ip(*ip)),
        };
        if let Ok(m) = own {
            assert!(
                m.matches_any(&leaf.sans),
                "{san:?} is not matched by its own registration {m:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Corpus replay (CI).
// ---------------------------------------------------------------------------------------------

// The replay loop every crate's corpus test shares (compiled only under `cargo test`).
#[cfg(test)]
#[path = "../../../fuzz/replay.rs"]
mod replay;
#[cfg(test)]
use replay::replay;

// ---------------------------------------------------------------------------------------------
// authorize_request: the authorization request parser and validator (`/authorize` query and
// PAR bodies).
// ---------------------------------------------------------------------------------------------

/// `Params::parse` then `AuthorizationRequest::validate` (front channel and pushed) against one
/// registered client. Properties: an accepted request names a registered redirect URI, a
/// registered subset of scopes and an S256 challenge; a redirectable error only ever targets a
/// registered redirect URI, and its location starts with it and carries `iss`.
pub fn authorize_request(data: &[u8]) {
    use certbound_core::authorize::request::{AuthorizationRequest, Origin, Params};
    use certbound_core::authorize::{AuthorizeError, ClientPolicy};
    const ISSUER: &str = "https://as.example";
    let redirect_uris = vec![
        "https://client.example/cb".to_owned(),
        "https://client.example/cb?x=1".to_owned(),
    ];
    let scopes = vec![
        "openid".to_owned(),
        "profile".to_owned(),
        "accounts".to_owned(),
    ];
    let Ok(params) = Params::parse(data) else {
        return;
    };
    for (origin, require_par) in [
        (Origin::FrontChannel, false),
        (Origin::FrontChannel, true),
        (Origin::Pushed, false),
    ] {
        let policy = ClientPolicy {
            client_id: "partner-web",
            redirect_uris: &redirect_uris,
            scopes: &scopes,
            require_par,
            require_redirect_uri: matches!(origin, Origin::Pushed),
        };
        match AuthorizationRequest::validate(&params, &policy, origin) {
            Ok(request) => {
                assert!(
                    !require_par,
                    "a non-PAR request passed for a PAR-only client"
                );
                assert!(redirect_uris.contains(&request.redirect_uri));
                assert!(request.scopes.iter().all(|s| scopes.contains(s)));
                assert_eq!(request.client_id, "partner-web");
            }
            Err(AuthorizeError::Redirect(e)) => {
                assert!(
                    redirect_uris.contains(&e.redirect_uri),
                    "{:?}",
                    e.redirect_uri
                );
                let location = e.location(ISSUER);
                assert!(location.starts_with(&e.redirect_uri), "{location}");
                assert!(
                    location.contains("iss=https%3A%2F%2Fas.example"),
                    "{location}"
                );
                assert!(!location.contains('#'), "{location}");
            }
            Err(AuthorizeError::Local(_)) => {}
        }
    }
}

#[test]
fn replay_authorize_request() {
    replay("authorize_request", authorize_request);
}

#[test]
fn replay_form() {
    replay("form", form);
}

#[test]
fn replay_dn_string() {
    replay("dn_string", dn_string);
}

#[test]
fn replay_dn_der() {
    replay("dn_der", dn_der);
}

#[test]
fn replay_certificate() {
    replay("certificate", certificate);
}

// ---------------------------------------------------------------------------------------------
// dpop_proof, client_assertion: the JWTs clients present once (RFC 9449 proofs, RFC 7523
// assertions), verified at a fixed time against fixed expectations. The seeds are signed by the
// fixed ES256 key of `fuzz/seeds/generate.py` (a test key derived from a public string).
// ---------------------------------------------------------------------------------------------

/// The fixed time the seeds are valid at (2026-01-01T00:00:00Z).
const FUZZ_NOW: i64 = 1_767_225_600;
/// The issuer and endpoint the seeds name.
const FUZZ_ISS: &str = "https://as.example";

/// The public half of the seeds' fixed P-256 key, with its `kid`.
fn fuzz_jwks() -> serde_json::Value {
    serde_json::json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "fuzz-es256", "alg": "ES256", "use": "sig",
        "x": "EyQHkLtOcAr5EYzyolwRUwdKwBKgWnc2qh7ZS9pO97s",
        "y": "_fgVrhufuuAVEM8IzDh_HcomCNvxxuLxAprsz2R28w4",
    }]})
}

/// `DpopProof::verify` for the token endpoint (no `ath`) and for a resource (`ath` of a fixed
/// token). Properties: never a panic; an accepted proof has a 43-character thumbprint, a bounded
/// non-empty `jti`, an `iat` inside the window, and the endpoint's normalised `htu`.
pub fn dpop_proof(data: &[u8]) {
    use certbound_core::dpop::{DpopAlg, DpopProof, ProofExpectations, MAX_JTI_BYTES};
    let Ok(proof) = std::str::from_utf8(data) else {
        return;
    };
    let htu = format!("{FUZZ_ISS}/token");
    for access_token in [None, Some("fuzz-access-token")] {
        let expect = ProofExpectations {
            htm: "POST",
            htu: &htu,
            access_token,
            nonce: None,
            allowed_algs: &DpopAlg::ALL,
            max_age_seconds: 60,
            max_future_seconds: 10,
        };
        if let Ok(v) = DpopProof::verify(proof, &expect, FUZZ_NOW) {
            assert_eq!(v.jkt.len(), 43, "{}", v.jkt);
            assert!(!v.jti.is_empty() && v.jti.len() <= MAX_JTI_BYTES);
            assert!(
                (FUZZ_NOW - 60..=FUZZ_NOW + 10).contains(&v.iat),
                "iat {}",
                v.iat
            );
            assert!(
                v.htu.starts_with("https://as.example") && v.htu.ends_with("/token"),
                "{}",
                v.htu
            );
        }
    }
}

/// `ClientAssertion::verify` for client `partner-a` under the FAPI rules (issuer-only `aud`)
/// and the RFC 7523 ones (issuer or token endpoint). Properties: never a panic; an accepted
/// assertion has a bounded non-empty `jti`, an `exp` after now, and is ES256 by the fixed key.
pub fn client_assertion(data: &[u8]) {
    use certbound_core::client_assertion::{
        AssertionAlg, AssertionExpectations, AudienceRule, ClientAssertion, MAX_JTI_BYTES,
    };
    let Ok(assertion) = std::str::from_utf8(data) else {
        return;
    };
    let jwks = fuzz_jwks();
    let fapi = AssertionExpectations::fapi("partner-a", FUZZ_ISS);
    let rfc7523 = AssertionExpectations {
        audience: AudienceRule::Any(vec![FUZZ_ISS.to_owned(), format!("{FUZZ_ISS}/token")]),
        ..AssertionExpectations::fapi("partner-a", FUZZ_ISS)
    };
    for expect in [&fapi, &rfc7523] {
        if let Ok(v) = ClientAssertion::verify(assertion, expect, &jwks, FUZZ_NOW) {
            assert!(!v.jti.is_empty() && v.jti.len() <= MAX_JTI_BYTES);
            assert!(v.exp > FUZZ_NOW - 1, "exp {}", v.exp);
            assert_eq!(v.alg, AssertionAlg::Es256);
        }
    }
}

#[test]
fn replay_dpop_proof() {
    replay("dpop_proof", dpop_proof);
}

#[test]
fn replay_client_assertion() {
    replay("client_assertion", client_assertion);
}

/// The seeds reach the accepting paths (otherwise the properties above are never exercised):
/// the `valid*` seeds verify, and the hostile ones named after a rule do not.
#[test]
fn the_valid_seeds_are_accepted_and_the_hostile_ones_refused() {
    use certbound_core::client_assertion::{AssertionExpectations, ClientAssertion};
    use certbound_core::dpop::{DpopAlg, DpopProof, ProofExpectations};
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let read = |target: &str, seed: &str| {
        std::fs::read_to_string(corpus.join(target).join(format!("seed-{seed}")))
            .unwrap_or_else(|e| panic!("{target}/{seed}: {e}"))
    };
    let htu = format!("{FUZZ_ISS}/token");
    let proof = |seed: &str, token: Option<&str>| {
        let expect = ProofExpectations {
            htm: "POST",
            htu: &htu,
            access_token: token,
            nonce: None,
            allowed_algs: &DpopAlg::ALL,
            max_age_seconds: 60,
            max_future_seconds: 10,
        };
        DpopProof::verify(&read("dpop_proof", seed), &expect, FUZZ_NOW)
    };
    for seed in ["valid", "valid-htu-port-case", "valid-extra-members"] {
        assert!(proof(seed, None).is_ok(), "{seed}: {:?}", proof(seed, None));
    }
    assert!(proof("valid-ath", Some("fuzz-access-token")).is_ok());
    for seed in [
        "wrong-ath",
        "wrong-typ",
        "private-jwk",
        "wrong-curve",
        "no-jwk",
        "crit",
        "stale",
        "future",
        "wrong-htm",
        "wrong-htu",
        "long-jti",
        "alg-none",
        "hs256",
        "rs256",
        "oversized",
        "duplicate-htm",
    ] {
        assert!(proof(seed, Some("fuzz-access-token")).is_err(), "{seed}");
    }
    let jwks = fuzz_jwks();
    let fapi = AssertionExpectations::fapi("partner-a", FUZZ_ISS);
    let assertion = |seed: &str| {
        ClientAssertion::verify(&read("client_assertion", seed), &fapi, &jwks, FUZZ_NOW)
    };
    for seed in ["valid", "valid-typ", "iat-8s-ahead"] {
        assert!(assertion(seed).is_ok(), "{seed}: {:?}", assertion(seed));
    }
    for seed in [
        "aud-token-endpoint",
        "aud-array",
        "iat-61s-ahead",
        "expired",
        "sub-differs",
        "no-jti",
        "unknown-kid",
        "crit",
        "other-key",
        "alg-none",
        "hs256",
        "rs256",
        "duplicate-sub",
    ] {
        assert!(assertion(seed).is_err(), "{seed}");
    }
}
