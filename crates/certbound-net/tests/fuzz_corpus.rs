//! Fuzz harness for the forwarded client-certificate header parsers, and its corpus replay.
//!
//! This one file is both an integration test (`cargo test -p certbound-net --test fuzz_corpus`,
//! replaying `fuzz/corpus/forwarded/` and `fuzz/artifacts/forwarded/`) and the body of the
//! cargo-fuzz target `forwarded`, which includes it with `#[path]`. See docs/fuzzing.md.
#![allow(dead_code)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use certbound_core::{CertificateSource, ClientCertificate, Thumbprint};
use certbound_net::forwarded::{parse_forwarded, HeaderFormat, MAX_CHAIN};
use http::{HeaderMap, HeaderName, HeaderValue};

/// Whether `der` is exactly one DER SEQUENCE with a definite length and nothing after it.
fn is_one_der_sequence(der: &[u8]) -> bool {
    let [0x30, len0, rest @ ..] = der else {
        return false;
    };
    let (len, body) = match *len0 {
        n if n < 0x80 => (usize::from(n), rest),
        0x80 => return false,
        n => {
            let n = usize::from(n & 0x7F);
            if n > 4 || rest.len() < n {
                return false;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |a, &b| a << 8 | usize::from(b));
            (len, &rest[n..])
        }
    };
    body.len() == len
}

/// What a header value can carry a certificate's base64 as, flattened: quotes and backslashes
/// (XFCC quoting) dropped, URL-decoded once, whitespace (PEM line breaks, Apache's spaces) dropped.
fn flattened(value: &[u8]) -> String {
    let unquoted: Vec<u8> = value
        .iter()
        .copied()
        .filter(|b| !matches!(b, b'"' | b'\\'))
        .collect();
    percent_encoding::percent_decode(&unquoted)
        .decode_utf8_lossy()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// Input: byte 0 selects the format (modulo 6, in `HeaderFormat::ALL` order: rfc9440, nginx,
/// envoy-xfcc, aws-alb, traefik, haproxy); the rest is split on `\n` into header values. The
/// first is the format's default header; the others are `Client-Cert-Chain` values for rfc9440
/// and repeated values of the same header otherwise. A value that is not a legal header value
/// ends the input there.
///
/// Properties: never a panic; an accepted chain has 1..=MAX_CHAIN elements, each one complete DER
/// SEQUENCE whose base64 is literally in the input (no certificate is ever made up from garbage);
/// the leaf builds a `ClientCertificate` whose thumbprint is over exactly those bytes.
pub fn forwarded(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let format = HeaderFormat::ALL[usize::from(selector) % HeaderFormat::ALL.len()];
    let header = HeaderName::from_static(format.default_header());
    let chain_header = HeaderName::from_static("client-cert-chain");
    let lines: Vec<&[u8]> = rest.split(|b| *b == b'\n').collect();
    let mut headers = HeaderMap::new();
    for (i, line) in lines.iter().enumerate() {
        let Ok(value) = HeaderValue::from_bytes(line) else {
            break;
        };
        let name = if i > 0 && format == HeaderFormat::Rfc9440 {
            &chain_header
        } else {
            &header
        };
        headers.append(name.clone(), value);
    }
    let Ok(Some(chain)) = parse_forwarded(format, &header, &headers) else {
        return;
    };
    assert!(
        !chain.is_empty() && chain.len() <= MAX_CHAIN,
        "{format}: chain of {}",
        chain.len()
    );
    let sources: Vec<String> = lines.iter().map(|l| flattened(l)).collect();
    for der in &chain {
        assert!(
            is_one_der_sequence(der.as_ref()),
            "{format}: not one DER SEQUENCE: {der:02x?}"
        );
        let b64 = STANDARD.encode(der.as_ref());
        assert!(
            sources.iter().any(|s| s.contains(&b64)),
            "{format}: yielded a certificate that is not in the header: {b64}"
        );
    }
    let leaf = chain[0].as_ref().to_vec();
    let cert = ClientCertificate::new(
        chain,
        CertificateSource::ForwardedHeader {
            format: format.to_string(),
        },
    )
    .expect("a non-empty chain");
    assert!(cert.thumbprint().ct_eq(&Thumbprint::of_der(&leaf)));
    let _ = cert.parsed();
}

// The replay loop every crate's corpus test shares (compiled only under `cargo test`).
#[cfg(test)]
#[path = "../../../fuzz/replay.rs"]
mod replay;
#[cfg(test)]
use replay::replay;

#[test]
fn replay_forwarded() {
    replay("forwarded", forwarded);
}
