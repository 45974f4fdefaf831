//! Smoke run of every benchmark scenario against the quickstart system: a second each, low
//! concurrency, any failed request fails the test. No assertion on speed (benchmarks measure
//! that; see bench/README.md).

use certbound_bench::load::{run, Setup, Target};
use certbound_testkit::process::{free_port, free_port_pair, Output, Process};
use std::process::Command;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_runs_without_errors() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dev");
    let (port, gateway, api, demo) = (free_port_pair(), free_port(), free_port(), free_port());
    let quickstart = Process::spawn(
        Command::new(env!("CARGO_BIN_EXE_certbound"))
            .args(["quickstart", "--admin-port", "0", "--dir"])
            .arg(&dir)
            .args([
                "--port",
                &port.to_string(),
                "--gateway-port",
                &gateway.to_string(),
            ])
            .args([
                "--api-port",
                &api.to_string(),
                "--demo-port",
                &demo.to_string(),
            ]),
        Output::Stdout,
    );
    quickstart.wait_for("Ctrl-C stops everything");
    let setup = |client_id: &str, new_connection: bool, resumption: bool| Setup {
        issuer: format!("https://localhost:{port}"),
        client_id: client_id.to_owned(),
        cert: dir.join("pki/partner-a.pem"),
        key: dir.join("pki/partner-a.key"),
        cacert: dir.join("pki/ca.pem"),
        new_connection,
        resumption,
        token_params: Vec::new(),
        rate: None,
    };
    let api_url = format!("https://localhost:{gateway}/api/transactions");
    let cases = [
        (
            "token keep-alive",
            setup("partner-a", false, true),
            Target::Token,
        ),
        (
            "token new connection, resumption",
            setup("partner-a", true, true),
            Target::Token,
        ),
        (
            "token new connection, full handshakes",
            setup("partner-a", true, false),
            Target::Token,
        ),
        (
            "introspect",
            setup("partner-a", false, true),
            Target::Introspect,
        ),
        (
            "gateway",
            setup("partner-a", false, true),
            Target::Gateway(api_url.clone()),
        ),
        (
            "gateway new connection",
            setup("partner-a", true, true),
            Target::Gateway(api_url.clone()),
        ),
        (
            "gateway-opaque",
            setup("partner-a-opaque", false, true),
            Target::Gateway(api_url.clone()),
        ),
    ];
    for (name, setup, target) in cases {
        let report = run(&setup, target, 2, Duration::from_millis(700), None)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert!(report.requests() > 0, "{name}: no request succeeded");
        assert_eq!(report.errors_total(), 0, "{name}: {:?}", report.errors());
    }
}
