//! certbound behind a real TLS-terminating proxy: nginx (Debian's package, started by the test on
//! 127.0.0.1) with `ssl_verify_client optional_no_ca`, forwarding `$ssl_client_escaped_cert`, in
//! front of both the AS and the gateway. nginx is recognised by its own client certificate; the
//! same header sent by anyone else gets no certificate credit.

use certbound_gateway::config::GatewayConfig;
use certbound_pki::IssuedCertificate;
use certbound_testkit::process::free_port;
use certbound_testkit::*;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Nginx(Child);

impl Drop for Nginx {
    /// SIGTERM, so the master stops its workers (SIGKILL would orphan them); SIGKILL only if it
    /// does not exit within a few seconds.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nginx(dir: &std::path::Path, as_port: u16, gateway_port: u16) -> (Nginx, u16, u16) {
    let (p_as, p_gw) = (free_port(), free_port());
    let d = dir.display();
    let location = |upstream: u16| {
        format!(
            "location / {{
        proxy_pass https://127.0.0.1:{upstream};
        proxy_ssl_certificate {d}/nginx-proxy.pem;
        proxy_ssl_certificate_key {d}/nginx-proxy.key;
        proxy_ssl_verify off;
        proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
    }}"
        )
    };
    let conf = format!(
        "user root;
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/nginx-tmp;
    proxy_temp_path {d}/nginx-tmp;
    server {{
        listen 127.0.0.1:{p_as} ssl;
        ssl_certificate {d}/server.pem;
        ssl_certificate_key {d}/server.key;
        ssl_verify_client optional_no_ca;
        {as_location}
    }}
    server {{
        listen 127.0.0.1:{p_gw} ssl;
        ssl_certificate {d}/server.pem;
        ssl_certificate_key {d}/server.key;
        ssl_verify_client optional_no_ca;
        {gw_location}
    }}
}}
",
        as_location = location(as_port),
        gw_location = location(gateway_port),
    );
    std::fs::create_dir_all(dir.join("nginx-tmp")).unwrap();
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new("nginx")
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-p")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx must be installed (apt-get install nginx-light); .ci/run installs it");
    let guard = Nginx(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", p_gw)).is_err()
        || std::net::TcpStream::connect(("127.0.0.1", p_as)).is_err()
    {
        assert!(
            Instant::now() < deadline,
            "nginx did not start: {}",
            std::fs::read_to_string(dir.join("nginx-error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (guard, p_as, p_gw)
}

/// nginx's `$ssl_client_escaped_cert` encoding.
const NGINX: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn escaped(cert: &IssuedCertificate) -> String {
    utf8_percent_encode(&cert.cert_pem, NGINX).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_the_binding_holds_and_forged_headers_get_no_credit() {
    let pki = Pki::new();
    let proxy = pki.client("nginx-proxy", "Example");
    std::fs::write(pki.path("nginx-proxy.pem"), &proxy.cert_pem).unwrap();
    std::fs::write(pki.path("nginx-proxy.key"), &proxy.key_pem).unwrap();
    let trust = format!(
        "client_cert_source = \"tls-or-header\"\nclient_cert_header_format = \"nginx\"\nclient_cert_header = \"X-SSL-Client-Cert\"\ntrusted_proxy_thumbprints = [\"{}\"]\n",
        proxy.thumbprint()
    );
    let mut extra = format!("[client_cert.mtls]\n{trust}");
    extra.push_str(&tls_client(
        "partner-a",
        "tls_client_auth_subject_dn",
        "CN=partner-a,O=Example",
    ));
    extra.push_str(&tls_client(
        "partner-b",
        "tls_client_auth_subject_dn",
        "CN=partner-b,O=Example",
    ));
    let auth = TestServer::start(&pki, &extra).await;

    // An upstream that answers 201, and the gateway with the same trust.
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = upstream.local_addr().unwrap();
    tokio::spawn(async move {
        let app =
            axum::Router::new().fallback(|| async { (axum::http::StatusCode::CREATED, "created") });
        axum::serve(upstream, app).await.unwrap()
    });
    let gw_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw_port = gw_listener.local_addr().unwrap().port();
    let toml = format!(
        "[listen]\nhttps = \"127.0.0.1:{gw_port}\"\n[tls]\ncert = \"server.pem\"\nkey = \"server.key\"\n[client_cert.https]\n{trust}[authorization_server]\nissuer = \"{}\"\nca = \"ca.pem\"\n[[routes]]\npath_prefix = \"/api/\"\nupstream = \"http://{up}\"\n",
        auth.issuer
    );
    let gateway = certbound_gateway::start_on(
        GatewayConfig::from_toml(&toml, "gateway.toml", pki.dir.path()).unwrap(),
        gw_listener,
    )
    .await
    .unwrap();

    let (_nginx, nginx_as, nginx_gw) = nginx(
        pki.dir.path(),
        auth.server.mtls_addr.unwrap().port(),
        gateway.addr.port(),
    );
    let a = pki.client("partner-a", "Example");
    let b = pki.client("partner-b", "Example");

    // 1. partner-a gets a token through nginx: bound to partner-a's certificate, not to nginx's.
    let via_nginx = |port: u16, path: &str| format!("https://127.0.0.1:{port}{path}");
    let r = auth
        .post(
            &auth.http(Some(&a)),
            &via_nginx(nginx_as, "/token"),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "partner-a"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let token = r.json["access_token"].as_str().unwrap().to_owned();
    let (_, claims) = jwt_parts(&token);
    assert_eq!(claims["cnf"]["x5t#S256"], a.thumbprint().as_str());
    assert_ne!(claims["cnf"]["x5t#S256"], proxy.thumbprint().as_str());

    // 2. Through nginx to the gateway with the same certificate: accepted.
    let call = |cert: &IssuedCertificate, url: String| {
        let client = auth.http(Some(cert));
        let token = token.clone();
        async move {
            TestServer::read(
                client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    assert_eq!(call(&a, via_nginx(nginx_gw, "/api/x")).await.status, 201);
    // 3. Replayed through nginx with partner-b's certificate: refused.
    let r = call(&b, via_nginx(nginx_gw, "/api/x")).await;
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("invalid_token"));
    // A client without a certificate through nginx: nginx forwards an empty header, no credit.
    let r = auth
        .post(
            &auth.http(None),
            &via_nginx(nginx_as, "/token"),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "partner-a"),
            ],
        )
        .await;
    r.assert_error(401, "invalid_client");

    // 4. The forged header sent straight to certbound by a peer that is not the trusted proxy.
    let forged_as = auth
        .http(Some(&b))
        .post(auth.mtls("/token"))
        .header("X-SSL-Client-Cert", escaped(&a))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "partner-a"),
        ])
        .send()
        .await
        .unwrap();
    TestServer::read(forged_as)
        .await
        .assert_error(401, "invalid_client");
    let forged_none = auth
        .http(None)
        .post(auth.mtls("/token"))
        .header("X-SSL-Client-Cert", escaped(&a))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "partner-a"),
        ])
        .send()
        .await
        .unwrap();
    TestServer::read(forged_none)
        .await
        .assert_error(401, "invalid_client");
    let forged_gw = auth
        .http(Some(&b))
        .post(via_nginx(gw_port, "/api/x"))
        .bearer_auth(&token)
        .header("X-SSL-Client-Cert", escaped(&a))
        .send()
        .await
        .unwrap();
    let r = TestServer::read(forged_gw).await;
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("invalid_token"));

    // 5. A malformed header from the trusted proxy (its certificate) is 400 invalid_request.
    let garbled = auth
        .http(Some(&proxy))
        .post(auth.mtls("/token"))
        .header("X-SSL-Client-Cert", "-----BEGIN%20CERTIFICATE-----garbage")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "partner-a"),
        ])
        .send()
        .await
        .unwrap();
    let r = TestServer::read(garbled).await;
    assert_eq!(r.status, 400, "{}", r.json);
    assert_eq!(r.error(), "invalid_request");
}

struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_haproxy_the_token_is_bound_to_the_client_not_the_proxy() {
    let pki = Pki::new();
    let proxy = pki.client("haproxy-proxy", "Example");
    let d = pki.dir.path();
    // HAProxy wants certificate and key in one file.
    std::fs::write(
        d.join("haproxy-proxy.pem"),
        format!("{}{}", proxy.cert_pem, proxy.key_pem),
    )
    .unwrap();
    let server_pem = std::fs::read_to_string(d.join("server.pem")).unwrap();
    let server_key = std::fs::read_to_string(d.join("server.key")).unwrap();
    std::fs::write(
        d.join("haproxy-server.pem"),
        format!("{server_pem}{server_key}"),
    )
    .unwrap();
    let mut extra = format!(
        "[client_cert.mtls]\nclient_cert_source = \"tls-or-header\"\nclient_cert_header_format = \"haproxy\"\nclient_cert_header = \"X-SSL-Client-Cert\"\ntrusted_proxy_thumbprints = [\"{}\"]\n",
        proxy.thumbprint()
    );
    extra.push_str(&tls_client(
        "partner-a",
        "tls_client_auth_subject_dn",
        "CN=partner-a,O=Example",
    ));
    let auth = TestServer::start(&pki, &extra).await;

    let port = free_port();
    let cfg = format!(
        "defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend partners
    bind 127.0.0.1:{port} ssl crt {dir}/haproxy-server.pem verify optional ca-file {dir}/ca.pem crt-ignore-err all ca-ignore-err all
    http-request del-header X-SSL-Client-Cert
    http-request set-header X-SSL-Client-Cert %[ssl_c_der,base64] if {{ ssl_c_used }}
    default_backend certbound
backend certbound
    server as 127.0.0.1:{as_port} ssl verify none crt {dir}/haproxy-proxy.pem
",
        dir = d.display(),
        as_port = auth.server.mtls_addr.unwrap().port()
    );
    std::fs::write(d.join("haproxy.cfg"), cfg).unwrap();
    let _haproxy = Haproxy(
        Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(d.join("haproxy.cfg"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy must be installed (apt-get install haproxy); .ci/run installs it"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "haproxy did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    let a = pki.client("partner-a", "Example");
    let url = format!("https://127.0.0.1:{port}/token");
    let r = auth
        .post(
            &auth.http(Some(&a)),
            &url,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "partner-a"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let (_, claims) = jwt_parts(r.json["access_token"].as_str().unwrap());
    assert_eq!(claims["cnf"]["x5t#S256"], a.thumbprint().as_str());
    // A client that sets the header itself through HAProxy: HAProxy replaces it; without a
    // certificate there is no credit.
    let forged = auth
        .http(None)
        .post(&url)
        .header(
            "X-SSL-Client-Cert",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &a.cert_der),
        )
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "partner-a"),
        ])
        .send()
        .await
        .unwrap();
    TestServer::read(forged)
        .await
        .assert_error(401, "invalid_client");
}
