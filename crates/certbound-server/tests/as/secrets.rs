//! client_secret_basic and client_secret_post clients, and binding for secret clients.

use crate::support::*;
use base64::Engine;

const SECRET: &str = "s3cret-for-tests-only-0123456789";

fn secret_clients() -> String {
    format!(
        "[[clients]]\nclient_id = \"basic-c\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\nclient_secret = \"{SECRET}\"\nscope = \"read\"\n\
         [[clients]]\nclient_id = \"post-c\"\ntoken_endpoint_auth_method = \"client_secret_post\"\nclient_secret = \"{SECRET}\"\n\
         [[clients]]\nclient_id = \"bound-secret\"\ntoken_endpoint_auth_method = \"client_secret_basic\"\nclient_secret = \"{SECRET}\"\ntls_client_certificate_bound_access_tokens = true\n"
    )
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

#[tokio::test]
async fn secret_clients_authenticate_with_their_registered_method_only() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &secret_clients()).await;
    let http = s.http(None);
    let cc = [("grant_type", "client_credentials")];

    let r = TestServer::read(
        http.post(s.token_url())
            .header("authorization", basic("basic-c", SECRET))
            .form(&cc)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let (_, claims) = jwt_parts(r.json["access_token"].as_str().unwrap());
    assert!(
        claims.get("cnf").is_none(),
        "an unbound client gets a plain bearer token"
    );

    // Wrong secret: 401 with a Basic challenge (RFC 6749 §5.2).
    let r = TestServer::read(
        http.post(s.token_url())
            .header("authorization", basic("basic-c", "wrong-secret-000000"))
            .form(&cc)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(401, "invalid_client");
    assert_eq!(
        r.header("www-authenticate"),
        Some(format!("Basic realm=\"{}\"", s.issuer).as_str())
    );

    // client_secret_post.
    let r = s
        .post(
            &http,
            &s.token_url(),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "post-c"),
                ("client_secret", SECRET),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);

    // A basic client using post, and a post client using basic: wrong method.
    s.post(
        &http,
        &s.token_url(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "basic-c"),
            ("client_secret", SECRET),
        ],
    )
    .await
    .assert_error(401, "invalid_client");
    let r = TestServer::read(
        http.post(s.token_url())
            .header("authorization", basic("post-c", SECRET))
            .form(&cc)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(401, "invalid_client");

    // Basic header and client_secret parameter together: two methods.
    let r = TestServer::read(
        http.post(s.token_url())
            .header("authorization", basic("basic-c", SECRET))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_secret", SECRET),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(400, "invalid_request");

    // Basic user and client_id parameter disagree.
    let r = TestServer::read(
        http.post(s.token_url())
            .header("authorization", basic("basic-c", SECRET))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "post-c"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(400, "invalid_request");

    // A secret client presenting a certificate but no secret is refused: the method decides.
    let cert = pki.client("basic-c", "Example");
    s.post(
        &s.http(Some(&cert)),
        &s.mtls("/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "basic-c"),
        ],
    )
    .await
    .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn a_bound_secret_client_needs_a_certificate_and_gets_a_bound_token_with_one() {
    let pki = Pki::new();
    let s = TestServer::start(&pki, &secret_clients()).await;
    let cc = [("grant_type", "client_credentials")];

    let no_cert = s.http(None);
    let r = TestServer::read(
        no_cert
            .post(s.token_url())
            .header("authorization", basic("bound-secret", SECRET))
            .form(&cc)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(400, "invalid_request");

    // Any certificate the client holds binds the token (self-signed is fine: it is not authentication).
    let cert = certbound_pki::self_signed(&certbound_pki::LeafSpec::client(
        certbound_pki::SubjectSpec::cn("whatever"),
    ))
    .unwrap();
    let with_cert = s.http(Some(&cert));
    let r = TestServer::read(
        with_cert
            .post(s.mtls("/token"))
            .header("authorization", basic("bound-secret", SECRET))
            .form(&cc)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let (_, claims) = jwt_parts(r.json["access_token"].as_str().unwrap());
    assert_eq!(claims["cnf"]["x5t#S256"], cert.thumbprint().as_str());
}
