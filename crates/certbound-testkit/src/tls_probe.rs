//! TLS probes of a listener with `openssl s_client` (an implementation we did not write), for
//! the FAPI 2.0 network-layer checks (FAPI 2.0 SP §5.2.1, §5.2.2; FAPI2.md N2, N3, N6): shared
//! by the authorization server's conformance mirror (crates/certbound-server/tests/fapi2/tls.rs)
//! and the gateway's (crates/certbound-gateway/tests/tls_probes.rs).

use std::net::SocketAddr;
use std::path::Path;

/// What one `openssl s_client` handshake did.
pub struct Probe {
    /// stdout and stderr.
    pub output: String,
    /// The negotiated protocol (`TLSv1.2`, `TLSv1.3`), if the handshake completed.
    pub protocol: Option<String>,
    /// The negotiated cipher, if the handshake completed.
    pub cipher: Option<String>,
}

/// `openssl s_client` to `addr` with `args`, trusting `dir/ca.pem`, presenting
/// `dir/probe.pem`/`probe.key` when they exist. `SECLEVEL=0` lets the client offer the legacy
/// versions and suites, so a refusal is the server's.
pub async fn probe(addr: SocketAddr, dir: &Path, args: &[&str]) -> Probe {
    let mut cmd = tokio::process::Command::new("openssl");
    cmd.args([
        "s_client",
        "-connect",
        &addr.to_string(),
        "-brief",
        "-CAfile",
    ])
    .arg(dir.join("ca.pem"));
    if dir.join("probe.pem").exists() {
        cmd.arg("-cert")
            .arg(dir.join("probe.pem"))
            .arg("-key")
            .arg(dir.join("probe.key"));
    }
    let out = cmd
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("openssl runs");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |name: &str| {
        output
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
    };
    Probe {
        protocol: field("Protocol version:"),
        cipher: field("Ciphersuite:"),
        output,
    }
}

/// The probes every listener must pass.
pub async fn assert_fapi_tls(addr: SocketAddr, dir: &Path, name: &str) {
    for (flag, version) in [("-tls1", "TLS 1.0"), ("-tls1_1", "TLS 1.1")] {
        let p = probe(addr, dir, &[flag, "-cipher", "DEFAULT@SECLEVEL=0"]).await;
        assert!(
            p.protocol.is_none(),
            "{name}: {version} accepted: {}",
            p.output
        );
        assert!(
            p.output.contains("alert"),
            "{name}: the server refuses: {}",
            p.output
        );
        assert!(
            !p.output.contains("no protocols available"),
            "{name}: the client did not offer {version}: {}",
            p.output
        );
    }
    for suite in [
        "ECDHE-ECDSA-AES128-SHA256",
        "ECDHE-ECDSA-AES256-SHA",
        "AES128-GCM-SHA256",
        "AES256-SHA256",
        "DHE-RSA-AES128-GCM-SHA256",
    ] {
        let p = probe(
            addr,
            dir,
            &["-tls1_2", "-cipher", &format!("{suite}@SECLEVEL=0")],
        )
        .await;
        assert!(
            p.protocol.is_none(),
            "{name}: TLS 1.2 {suite} accepted: {}",
            p.output
        );
        assert!(
            p.output.contains("alert"),
            "{name}: the server refuses {suite}: {}",
            p.output
        );
    }
    let p = probe(
        addr,
        dir,
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"],
    )
    .await;
    assert_eq!(
        p.protocol.as_deref(),
        Some("TLSv1.2"),
        "{name}: {}",
        p.output
    );
    assert_eq!(
        p.cipher.as_deref(),
        Some("ECDHE-ECDSA-AES128-GCM-SHA256"),
        "{name}"
    );
    let p = probe(addr, dir, &[]).await;
    assert_eq!(
        p.protocol.as_deref(),
        Some("TLSv1.3"),
        "{name}: 1.3 preferred: {}",
        p.output
    );
}
