//! Black-box tests of `certbound users`: add, list, passwd, remove against a quickstart
//! configuration's store; the stored hash verifies, and the password appears in no output.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use certbound_testkit::process::free_port_pair;

fn certbound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_certbound"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `certbound users <args> --config <config>` with `stdin` on standard input.
fn users(config: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = certbound()
        .arg("users")
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("certbound runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("certbound ends")
}

/// A quickstart directory (not served); returns the temp dir and its configuration.
fn quickstart() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dev");
    let out = certbound()
        .args(["quickstart", "--no-serve", "--admin-port", "0", "--port"])
        .arg(free_port_pair().to_string())
        .arg("--dir")
        .arg(&root)
        .output()
        .expect("quickstart runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = root.join("certbound.toml");
    (dir, config)
}

/// The store the configuration points at (quickstart writes a relative SQLite URL).
async fn store(config: &Path) -> certbound_store::Store {
    let cfg = certbound_server::config::Config::load(config).expect("config");
    cfg.config.store.connect().await.expect("store")
}

#[test]
fn add_list_passwd_remove() {
    let (_dir, config) = quickstart();
    const FIRST: &str = "first-Passw0rd-xyz";
    const SECOND: &str = "second-Passw0rd-xyz";
    let mut outputs = Vec::new();
    let mut keep = |out: Output| {
        outputs.push(format!("{}{}", text(&out.stdout), text(&out.stderr)));
        out
    };

    let out = keep(users(
        &config,
        &[
            "add",
            "--username",
            "alice",
            "--password-stdin",
            "--email",
            "alice@example.com",
            "--name",
            "Alice Example",
            "--claim",
            "locale=de-CH",
            "--claim",
            "email_verified:=true",
        ],
        &format!("{FIRST}\n"),
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Added user 'alice'"),
        "{}",
        text(&out.stdout)
    );

    // Refused: duplicate, short or empty password, bad username, missing --password-stdin.
    for (args, stdin, why) in [
        (
            &["add", "--username", "alice", "--password-stdin"][..],
            "another-password\n",
            "already exists",
        ),
        (
            &["add", "--username", "bob", "--password-stdin"],
            "short\n",
            "at least 8",
        ),
        (
            &["add", "--username", "bob", "--password-stdin"],
            "",
            "no password",
        ),
        (
            &["add", "--username", "bob smith", "--password-stdin"],
            "long-enough-pw\n",
            "--username",
        ),
        (
            &["add", "--username", "bob"],
            "long-enough-pw\n",
            "--password-stdin",
        ),
        (
            &[
                "add",
                "--username",
                "bob",
                "--password-stdin",
                "--claim",
                "sub=x",
            ],
            "long-enough-pw\n",
            "sub",
        ),
    ] {
        let out = keep(users(&config, args, stdin));
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(
            text(&out.stderr).contains(why),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }

    let out = keep(users(&config, &["list"], ""));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    assert!(listed.contains("alice"), "{listed}");
    assert!(listed.contains("alice@example.com"), "{listed}");
    assert!(listed.contains("Alice Example"), "{listed}");
    assert!(!listed.contains("bob"), "{listed}");
    assert!(
        !listed.contains("argon2"),
        "no hashes in the list: {listed}"
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = store(&config).await;
        let alice = store
            .user_by_username("alice")
            .await
            .unwrap()
            .expect("alice stored");
        assert!(alice
            .password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let claims: serde_json::Value = serde_json::from_str(&alice.claims).unwrap();
        assert_eq!(
            claims,
            serde_json::json!({"locale": "de-CH", "email_verified": true})
        );
        assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
        let ok = store.verify_user_password("alice", FIRST).await.unwrap();
        assert_eq!(ok.map(|u| u.id), Some(alice.id.clone()));
        assert!(store
            .verify_user_password("alice", SECOND)
            .await
            .unwrap()
            .is_none());
        store.close().await;
    });

    let out = keep(users(
        &config,
        &["passwd", "--username", "alice", "--password-stdin"],
        &format!("{SECOND}\r\n"),
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = keep(users(
        &config,
        &["passwd", "--username", "nobody", "--password-stdin"],
        "long-enough-pw\n",
    ));
    assert_eq!(out.status.code(), Some(1));
    runtime.block_on(async {
        let store = store(&config).await;
        assert!(store
            .verify_user_password("alice", FIRST)
            .await
            .unwrap()
            .is_none());
        assert!(store
            .verify_user_password("alice", SECOND)
            .await
            .unwrap()
            .is_some());
        store.close().await;
    });

    let out = keep(users(&config, &["remove", "--username", "alice"], ""));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = keep(users(&config, &["remove", "--username", "alice"], ""));
    assert_eq!(out.status.code(), Some(1));
    let out = keep(users(&config, &["list"], ""));
    assert!(!text(&out.stdout).contains("alice"));

    for output in &outputs {
        assert!(!output.contains(FIRST), "password printed: {output}");
        assert!(!output.contains(SECOND), "password printed: {output}");
        assert!(
            !output.contains("long-enough-pw"),
            "password printed: {output}"
        );
    }
}
