//! What a client reads in `error_description`: the fix for a missing certificate (the mTLS alias
//! on the conventional listener, the certificate configuration on the mTLS one), and request text
//! reflected only with its control characters escaped while printable non-ASCII (`§`) stays.

use crate::support::*;
use base64::Engine;

const SECRET: &str = "s3cret-for-tests-only-0123456789";

fn clients() -> String {
    format!(
        "{}[[clients]]\nclient_id = \"bound-secret\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\nclient_secret = \"{SECRET}\"\ntls_client_certificate_bound_access_tokens = true\n\
         [[clients]]\nclient_id = \"basic-c\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\nclient_secret = \"{SECRET}\"\n",
        tls_client("partner-a", "tls_client_auth_subject_dn", "CN=partner-a,O=Example")
    )
}

fn basic(id: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{SECRET}"))
    )
}

fn description(r: &Response) -> &str {
    r.json["error_description"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn a_certificate_client_on_the_conventional_listener_is_sent_to_the_mtls_alias() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients()).await;
    let cc = [
        ("grant_type", "client_credentials"),
        ("client_id", "partner-a"),
    ];
    let r = s.post(&s.http(None), &s.token_url(), &cc).await;
    r.assert_error(401, "invalid_client");
    assert_eq!(
        description(&r),
        format!(
            "this client authenticates with a certificate: send the request to the mTLS endpoint {}/token",
            s.mtls_url
        )
    );
    // The same endpoint's alias, for introspection too.
    let r = s
        .post(
            &s.http(None),
            &format!("{}/introspect", s.issuer),
            &[("client_id", "partner-a"), ("token", "x")],
        )
        .await;
    r.assert_error(401, "invalid_client");
    assert!(
        description(&r).ends_with(&format!("{}/introspect", s.mtls_url)),
        "{}",
        r.json
    );

    // On the mTLS listener without a certificate: check the client's configuration.
    let r = s.post(&s.http(None), &s.mtls("/token"), &cc).await;
    r.assert_error(401, "invalid_client");
    assert_eq!(
        description(&r),
        "this client authenticates with a certificate, but no client certificate was sent (check the client's certificate and key configuration)"
    );
}

#[tokio::test]
async fn a_bound_secret_client_without_a_certificate_keeps_invalid_request_with_the_fix() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients()).await;
    let cc = [("grant_type", "client_credentials")];
    let send = |url: String| {
        let http = s.http(None);
        async move {
            TestServer::read(
                http.post(url)
                    .header("authorization", basic("bound-secret"))
                    .form(&cc)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let r = send(s.token_url()).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(
        description(&r),
        format!(
            "this client receives certificate-bound tokens: send the request to the mTLS endpoint {}/token",
            s.mtls_url
        )
    );
    let r = send(s.mtls("/token")).await;
    r.assert_error(400, "invalid_request");
    assert!(
        description(&r).starts_with(
            "this client receives certificate-bound tokens, but no client certificate was sent"
        ),
        "{}",
        r.json
    );
}

#[tokio::test]
async fn reflected_request_text_has_control_characters_escaped_and_keeps_non_ascii() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &clients()).await;
    let hostile = "a\nb\u{1b}[31m\u{202e}§";
    let r = TestServer::read(
        s.http(None)
            .post(s.token_url())
            .header("authorization", basic("basic-c"))
            .form(&[("grant_type", hostile)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(400, "unsupported_grant_type");
    let d = description(&r);
    assert_eq!(
        d,
        "grant_type 'a\\nb<U+001B>[31m<U+202E>§' is not supported"
    );
    assert!(!d.chars().any(char::is_control), "{d:?}");
}
