//! Black-box test of the modes of the files certbound writes (issue 13, finding 6): key material,
//! configurations and the SQLite key store are private to the service's user; certificates and
//! JWKS are readable by others; a key store that others can read is refused at start (unless
//! `[store] allow_readable_file`), and a TLS private key that others can read is warned about.
#![cfg(unix)]

use certbound_testkit::process::{self, free_port_pair, Process};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn certbound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_certbound"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("certbound runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Every file and directory under `dir`, `dir` included.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut all = vec![dir.to_owned()];
    let mut i = 0;
    while i < all.len() {
        if all[i].is_dir() {
            let mut children: Vec<PathBuf> = std::fs::read_dir(&all[i])
                .expect("read_dir")
                .map(|e| e.expect("entry").path())
                .collect();
            children.sort();
            all.extend(children);
        }
        i += 1;
    }
    all
}

/// The mode a file certbound wrote must have, by what it holds; `None` for files this test does
/// not know (they must still not be writable by others).
fn expected_mode(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?;
    if path.is_dir() {
        return Some(0o700);
    }
    let private = name.ends_with(".key")
        || name.ends_with(".p12")
        || name.ends_with(".toml")
        || name.starts_with("certbound.db");
    if private {
        return Some(0o600);
    }
    if name.ends_with(".pem") || name.ends_with(".jwks.json") {
        return Some(0o644);
    }
    None
}

#[test]
fn key_material_is_never_readable_by_others() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("dev");
    let port = free_port_pair();
    let out = run(certbound()
        .args([
            "quickstart",
            "--no-serve",
            "--admin-port",
            "0",
            "--port",
            &port.to_string(),
            "--dir",
        ])
        .arg(&root));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = root.join("certbound.toml");
    let db = root.join("certbound.db");

    // The server creates the store (and SQLite its -wal and -shm files while it runs).
    {
        let server = Process::spawn(
            certbound()
                .args(["--log-format", "json", "serve", "--config"])
                .arg(&config),
            process::Output::Stderr,
        );
        server.wait_for("authorization server started");
        for f in ["certbound.db", "certbound.db-wal", "certbound.db-shm"] {
            assert!(root.join(f).exists(), "{f} while the server runs");
        }
        let files = walk(&root);
        for required in [
            "certbound.toml",
            "gateway.toml",
            "certbound.db",
            "partner-s.jwks.json",
            "pki/ca.key",
            "pki/ca.pem",
            "pki/server.key",
            "pki/partner-a.p12",
            "pki/partner-a.pem",
        ] {
            assert!(files.contains(&root.join(required)), "{required} missing");
        }
        let mut wrong = Vec::new();
        for f in &files {
            let m = mode(f);
            match expected_mode(f) {
                Some(want) if m != want => {
                    wrong.push(format!("{}: {m:04o}, expected {want:04o}", f.display()))
                }
                None if m & 0o022 != 0 => {
                    wrong.push(format!("{}: {m:04o}, writable by others", f.display()))
                }
                _ => {}
            }
        }
        assert!(wrong.is_empty(), "wrong modes:\n{}", wrong.join("\n"));
    }

    // A key store that others can read is refused by every command that opens it, with the file,
    // the mode and the fix. A TLS key that others can read is named in a warning.
    chmod(&db, 0o644);
    chmod(&root.join("pki/server.key"), 0o644);
    let out = run(certbound().args(["serve", "--config"]).arg(&config));
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    for part in [
        db.display().to_string(),
        "mode 0644".to_owned(),
        "signing private keys".to_owned(),
        format!("chmod 600 {}", db.display()),
        "allow_readable_file = true".to_owned(),
    ] {
        assert!(stderr.contains(&part), "{part:?} missing from: {stderr}");
    }
    assert!(
        stderr.contains("private key file is readable by other users")
            && stderr.contains("server.key"),
        "{stderr}"
    );
    for args in [
        &["migrate", "--config"][..],
        &["keys", "list", "--config"][..],
        &["clients", "list", "--config"][..],
    ] {
        let out = run(certbound().args(args).arg(&config));
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(stderr.contains("mode 0644"), "{args:?}: {stderr}");
    }
    assert_eq!(mode(&db), 0o644, "certbound never changes the mode itself");

    // The operator accepts the risk: the commands run, with a warning naming the file.
    let accepted = std::fs::read_to_string(&config).unwrap().replace(
        "url = \"sqlite://certbound.db\"",
        "url = \"sqlite://certbound.db\"\nallow_readable_file = true",
    );
    assert!(accepted.contains("allow_readable_file = true"));
    std::fs::write(&config, accepted).unwrap();
    for args in [
        &["migrate", "--config"][..],
        &["keys", "list", "--config"][..],
    ] {
        let out = run(certbound().args(args).arg(&config));
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains("WARN") && stderr.contains(&db.display().to_string()),
            "{args:?}: {stderr}"
        );
    }
}
