//! Store tests. Each store test is written once as `async fn(Ctx)` and run on SQLite (a
//! fresh file in a temporary directory) and on PostgreSQL (a fresh database per test, created
//! through `CERTBOUND_TEST_POSTGRES_URL`; skipped with a visible line when it is unset).

use std::time::{Duration, Instant};

use super::*;

/// What a store test gets: a migrated store, and the URL to open it again.
pub(crate) struct Ctx {
    store: Store,
    url: String,
}

mod harness {
    use std::future::Future;
    use std::io::Write;
    use std::sync::atomic::{AtomicU32, Ordering};

    use sqlx::{Connection, PgConnection};

    use super::Ctx;
    use crate::Store;

    pub(crate) const PG_ENV: &str = "CERTBOUND_TEST_POSTGRES_URL";

    /// Runs `test` against a fresh SQLite file.
    pub(crate) async fn run_sqlite<F, Fut>(test: F)
    where
        F: FnOnce(Ctx) -> Fut,
        Fut: Future<Output = ()>,
    {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        let store = Store::connect(&url).await.expect("connect to SQLite");
        assert_eq!(store.backend(), crate::Backend::Sqlite);
        test(Ctx {
            store: store.clone(),
            url,
        })
        .await;
        store.close().await;
    }

    /// Prints the skip line where `cargo test` does not capture it.
    pub(crate) fn skip_line() {
        let thread = std::thread::current();
        let test = thread.name().unwrap_or("postgres test");
        let _ = writeln!(std::io::stderr(), "{test}: SKIPPED (set {PG_ENV})");
    }

    /// Runs `test` against a fresh PostgreSQL database, dropped afterwards (also on panic).
    pub(crate) async fn run_postgres<F, Fut>(test: F)
    where
        F: FnOnce(Ctx) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Ok(admin) = std::env::var(PG_ENV) else {
            skip_line();
            return;
        };
        let db = PgTestDb::create(&admin).await;
        let store = Store::connect(&db.url)
            .await
            .expect("connect to PostgreSQL");
        assert_eq!(store.backend(), crate::Backend::Postgres);
        let outcome = tokio::spawn(test(Ctx {
            store: store.clone(),
            url: db.url.clone(),
        }))
        .await;
        store.close().await;
        db.drop().await;
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    /// Runs `scenario` with the URL of a fresh PostgreSQL database, dropped afterwards (also on
    /// panic), for tests that open their stores themselves.
    pub(crate) async fn with_postgres_url<F, Fut>(scenario: F)
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Ok(admin) = std::env::var(PG_ENV) else {
            skip_line();
            return;
        };
        let db = PgTestDb::create(&admin).await;
        let outcome = tokio::spawn(scenario(db.url.clone())).await;
        db.drop().await;
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    /// A database created for one test.
    pub(crate) struct PgTestDb {
        admin: String,
        name: String,
        pub(crate) url: String,
    }

    impl PgTestDb {
        pub(crate) async fn create(admin: &str) -> PgTestDb {
            static SEQ: AtomicU32 = AtomicU32::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .subsec_nanos();
            let name = format!(
                "certbound_t_{}_{}_{}",
                std::process::id(),
                nanos,
                SEQ.fetch_add(1, Ordering::Relaxed)
            );
            let mut conn = PgConnection::connect(admin)
                .await
                .expect("connect to the admin database");
            sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("CREATE DATABASE");
            let _ = conn.close().await;
            let mut url = url::Url::parse(admin).expect("admin URL");
            url.set_path(&format!("/{name}"));
            PgTestDb {
                admin: admin.to_owned(),
                name,
                url: url.to_string(),
            }
        }

        /// Best effort: a leftover database is only clutter.
        pub(crate) async fn drop(self) {
            if let Ok(mut conn) = PgConnection::connect(&self.admin).await {
                let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
                if let Err(e) = sqlx::raw_sql(&sql).execute(&mut conn).await {
                    let _ = writeln!(std::io::stderr(), "could not drop {}: {e}", self.name);
                }
                let _ = conn.close().await;
            }
        }
    }
}

/// Declares `sqlite` and `postgres` test cases for a store test `async fn(Ctx)`.
macro_rules! store_test {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::harness::run_sqlite(super::$name).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::harness::run_postgres(super::$name).await;
            }
        }
    )*};
}

store_test!(
    migrations_idempotent_on_reconnect,
    schema_too_new_is_refused,
    signing_key_lifecycle,
    token_insert_and_find,
    revoke_only_by_owner,
    purge_in_bounded_batches,
    invalid_records_are_refused,
    concurrent_writers,
    client_registry,
    token_batches_answer_each_row,
    a_failing_token_batch_is_written_row_by_row,
);

fn key(kid: &str, created_at: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.to_owned(),
        alg: "ES256".to_owned(),
        // Bytes that break naive text handling: NUL, high bytes, invalid UTF-8.
        private_pkcs8: vec![0x30, 0x00, 0xff, 0xfe, 0x80, kid.len() as u8, 0x00],
        public_jwk: format!(r#"{{"kty":"EC","crv":"P-256","kid":"{kid}","x":"AA","y":"BB"}}"#),
        created_at,
        retired_at: None,
        publish_until: None,
    }
}

fn hash_of(n: u32) -> Vec<u8> {
    let mut h = vec![0u8; 32];
    h[..4].copy_from_slice(&n.to_be_bytes());
    h[31] = 0xff;
    h
}

fn token(n: u32, client_id: &str, issued_at: i64, expires_at: i64) -> TokenRecord {
    TokenRecord {
        hash: hash_of(n),
        jti: format!("jti-{n}"),
        client_id: client_id.to_owned(),
        format: if n.is_multiple_of(2) { "jwt" } else { "opaque" }.to_owned(),
        claims: format!(
            r#"{{"sub":"{client_id}","jti":"jti-{n}","cnf":{{"x5t#S256":"bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}}}}"#
        ),
        issued_at,
        expires_at,
        revoked_at: None,
    }
}

async fn count(store: &Store, table: &str) -> i64 {
    crate::db::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&store.reads)
        .await
        .expect("count")
}

async fn migrations_idempotent_on_reconnect(ctx: Ctx) {
    let Ctx { store, url } = ctx;
    store
        .insert_signing_key(&key("k1", 100))
        .await
        .expect("insert");
    assert_eq!(count(&store, "schema_version").await, SCHEMA_VERSION);

    // A second store on the same database (as a second node, or a restart) migrates nothing
    // and sees the data.
    let again = Store::connect(&url).await.expect("reconnect");
    assert_eq!(count(&again, "schema_version").await, SCHEMA_VERSION);
    let versions: Vec<i64> =
        crate::db::query_scalar("SELECT version FROM schema_version ORDER BY version")
            .fetch_all(&again.reads)
            .await
            .expect("versions");
    assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    assert_eq!(again.signing_keys().await.expect("keys").len(), 1);
    again.close().await;

    // And after the first one went away.
    store.close().await;
    let third = Store::connect(&url).await.expect("reconnect after close");
    assert_eq!(third.signing_keys().await.expect("keys")[0].kid, "k1");
    third.close().await;
}

async fn schema_too_new_is_refused(ctx: Ctx) {
    let Ctx { store, url } = ctx;
    crate::db::query(
        "INSERT INTO schema_version (version, description, applied_at) VALUES ($1, $2, $3)",
    )
    .bind(SCHEMA_VERSION + 41)
    .bind("from the future")
    .bind(0_i64)
    .execute(&store.writes)
    .await
    .expect("bump version");
    store.close().await;

    let err = Store::connect(&url)
        .await
        .expect_err("must refuse a newer schema");
    match &err {
        StoreError::SchemaTooNew { found, supported } => {
            assert_eq!(*found, SCHEMA_VERSION + 41);
            assert_eq!(*supported, SCHEMA_VERSION);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(&format!("version {}", SCHEMA_VERSION + 41)),
        "{message}"
    );
    assert!(message.contains("upgrade certbound"), "{message}");
}

async fn signing_key_lifecycle(ctx: Ctx) {
    let store = ctx.store;
    assert!(store.signing_keys().await.expect("empty list").is_empty());

    // Inserted out of order: listing is by created_at.
    store.insert_signing_key(&key("k2", 200)).await.expect("k2");
    store.insert_signing_key(&key("k1", 100)).await.expect("k1");
    store.insert_signing_key(&key("k3", 200)).await.expect("k3");
    let keys = store.signing_keys().await.expect("list");
    let kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids, ["k1", "k2", "k3"]);
    assert_eq!(keys[0], key("k1", 100), "round trip, bytes included");

    let dup = store.insert_signing_key(&key("k1", 300)).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");

    store
        .retire_signing_key("k1", 300, 400)
        .await
        .expect("retire");
    let k1 = &store.signing_keys().await.expect("list")[0];
    assert_eq!((k1.retired_at, k1.publish_until), (Some(300), Some(400)));
    // Retiring again keeps the first retirement time, moves the publication window.
    store
        .retire_signing_key("k1", 350, 450)
        .await
        .expect("retire again");
    let k1 = &store.signing_keys().await.expect("list")[0];
    assert_eq!((k1.retired_at, k1.publish_until), (Some(300), Some(450)));

    let missing = store.retire_signing_key("nope", 300, 400).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
    let backwards = store.retire_signing_key("k2", 300, 299).await;
    assert!(
        matches!(backwards, Err(StoreError::Invalid(_))),
        "{backwards:?}"
    );

    // Published through 450; active keys are never deleted.
    assert_eq!(store.delete_unpublished_keys(450).await.expect("delete"), 0);
    assert_eq!(
        store.delete_unpublished_keys(10_000).await.expect("delete"),
        1
    );
    let kids: Vec<String> = store
        .signing_keys()
        .await
        .expect("list")
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["k2", "k3"]);
}

async fn token_insert_and_find(ctx: Ctx) {
    let store = ctx.store;
    let opaque = token(1, "client-a", 1_000, 1_600);
    let jwt = token(2, "client-a", 1_000, 1_600);
    store.insert_token(&opaque).await.expect("opaque");
    store.insert_token(&jwt).await.expect("jwt");

    assert_eq!(
        store.find_token_by_hash(&opaque.hash).await.expect("find"),
        Some(opaque.clone())
    );
    assert_eq!(
        store.find_token_by_jti("jti-2").await.expect("find"),
        Some(jwt.clone())
    );
    assert_eq!(
        store.find_token_by_hash(&hash_of(99)).await.expect("find"),
        None
    );
    assert_eq!(store.find_token_by_jti("jti-99").await.expect("find"), None);

    let mut same_hash = token(3, "client-b", 1_000, 1_600);
    same_hash.hash = opaque.hash.clone();
    let dup = store.insert_token(&same_hash).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let mut same_jti = token(4, "client-b", 1_000, 1_600);
    same_jti.jti = "jti-2".to_owned();
    let dup = store.insert_token(&same_jti).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");

    // A token stored already revoked reads back as such.
    let mut revoked = token(5, "client-a", 1_000, 1_600);
    revoked.revoked_at = Some(1_100);
    store.insert_token(&revoked).await.expect("revoked");
    assert_eq!(
        store.find_token_by_hash(&revoked.hash).await.expect("find"),
        Some(revoked)
    );
}

async fn revoke_only_by_owner(ctx: Ctx) {
    let store = ctx.store;
    let opaque = token(1, "owner", 1_000, 1_600);
    let jwt = token(2, "owner", 1_000, 1_600);
    store.insert_token(&opaque).await.expect("opaque");
    store.insert_token(&jwt).await.expect("jwt");

    // Another client: nothing changes, by either lookup.
    for lookup in [TokenLookup::Hash(&opaque.hash), TokenLookup::Jti("jti-2")] {
        assert!(!store
            .revoke_token(lookup, "intruder", 1_200)
            .await
            .expect("revoke"));
    }
    assert_eq!(
        store.find_token_by_hash(&opaque.hash).await.expect("find"),
        Some(opaque.clone())
    );
    assert_eq!(
        store.find_token_by_jti("jti-2").await.expect("find"),
        Some(jwt.clone())
    );

    // Unknown tokens.
    assert!(!store
        .revoke_token(TokenLookup::Hash(&hash_of(9)), "owner", 1_200)
        .await
        .expect("x"));
    assert!(!store
        .revoke_token(TokenLookup::Jti("jti-9"), "owner", 1_200)
        .await
        .expect("x"));

    // The owner, by hash and by jti.
    assert!(store
        .revoke_token(TokenLookup::Hash(&opaque.hash), "owner", 1_200)
        .await
        .expect("r"));
    assert!(store
        .revoke_token(TokenLookup::Jti("jti-2"), "owner", 1_250)
        .await
        .expect("r"));
    let found = store
        .find_token_by_hash(&opaque.hash)
        .await
        .expect("find")
        .expect("present");
    assert_eq!(found.revoked_at, Some(1_200));
    let found = store
        .find_token_by_jti("jti-2")
        .await
        .expect("find")
        .expect("present");
    assert_eq!(found.revoked_at, Some(1_250));

    // Revoking again changes nothing and keeps the first time.
    assert!(!store
        .revoke_token(TokenLookup::Hash(&opaque.hash), "owner", 1_300)
        .await
        .expect("r"));
    let found = store
        .find_token_by_hash(&opaque.hash)
        .await
        .expect("find")
        .expect("present");
    assert_eq!(found.revoked_at, Some(1_200));
}

async fn purge_in_bounded_batches(ctx: Ctx) {
    let store = ctx.store;
    for n in 0..25 {
        store
            .insert_token(&token(n, "c", 0, 500 + i64::from(n)))
            .await
            .expect("expired");
    }
    for n in 100..105 {
        store
            .insert_token(&token(n, "c", 0, 2_000))
            .await
            .expect("live");
    }
    // Expiring exactly at `now` is not "before now".
    store
        .insert_token(&token(200, "c", 0, 1_000))
        .await
        .expect("edge");

    assert_eq!(store.purge_expired(1_000, 0).await.expect("purge"), 0);
    assert_eq!(store.purge_expired(1_000, 10).await.expect("purge"), 10);
    // Oldest first: the first ten are gone.
    assert_eq!(store.find_token_by_jti("jti-9").await.expect("find"), None);
    assert!(store
        .find_token_by_jti("jti-10")
        .await
        .expect("find")
        .is_some());
    assert_eq!(store.purge_expired(1_000, 10).await.expect("purge"), 10);
    assert_eq!(store.purge_expired(1_000, 10).await.expect("purge"), 5);
    assert_eq!(store.purge_expired(1_000, 10).await.expect("purge"), 0);
    assert_eq!(count(&store, "access_tokens").await, 6);
    assert!(store
        .find_token_by_jti("jti-200")
        .await
        .expect("find")
        .is_some());
    assert!(store
        .find_token_by_jti("jti-104")
        .await
        .expect("find")
        .is_some());
}

async fn invalid_records_are_refused(ctx: Ctx) {
    let store = ctx.store;
    let mut t = token(1, "c", 0, 10);
    t.hash = b"the raw opaque token itself".to_vec();
    assert!(matches!(
        store.insert_token(&t).await,
        Err(StoreError::Invalid(_))
    ));
    let mut t = token(1, "c", 0, 10);
    t.format = "saml".to_owned();
    assert!(matches!(
        store.insert_token(&t).await,
        Err(StoreError::Invalid(_))
    ));
    let mut t = token(1, "c", 0, 10);
    t.claims = "not json".to_owned();
    assert!(matches!(
        store.insert_token(&t).await,
        Err(StoreError::Invalid(_))
    ));
    let t = token(1, "c", 10, 0);
    assert!(matches!(
        store.insert_token(&t).await,
        Err(StoreError::Invalid(_))
    ));

    let mut k = key("k", 0);
    k.public_jwk = "[]".to_owned();
    assert!(matches!(
        store.insert_signing_key(&k).await,
        Err(StoreError::Invalid(_))
    ));
    let mut k = key("k", 0);
    k.private_pkcs8.clear();
    assert!(matches!(
        store.insert_signing_key(&k).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.insert_signing_key(&key("", 0)).await,
        Err(StoreError::Invalid(_))
    ));

    // The schema refuses what slips past the checks above (direct SQL).
    let raw = crate::db::query(
        "INSERT INTO access_tokens (hash, jti, client_id, format, claims, issued_at, expires_at) \
         VALUES ($1, 'j', 'c', 'jwt', '{}', 0, 1)",
    )
    .bind(&b"short"[..])
    .execute(&store.writes)
    .await;
    assert!(raw.is_err(), "CHECK (length(hash) = 32) must hold");
    assert_eq!(count(&store, "access_tokens").await, 0);
    assert_eq!(count(&store, "signing_keys").await, 0);
}

async fn concurrent_writers(ctx: Ctx) {
    let store = ctx.store;
    let started = Instant::now();
    let tasks: Vec<_> = (0..50u32)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                store.insert_token(&token(n, "c", 0, 1_000)).await?;
                // Reads interleaved with the writes.
                let found = store.find_token_by_jti(&format!("jti-{n}")).await?;
                assert!(found.is_some());
                store
                    .revoke_token(TokenLookup::Jti(&format!("jti-{n}")), "c", 5)
                    .await
            })
        })
        .collect();
    for task in tasks {
        let revoked = task.await.expect("task").expect("store operation");
        assert!(revoked);
    }
    assert_eq!(count(&store, "access_tokens").await, 50);
    assert!(started.elapsed() < Duration::from_secs(20));
}

// ----- SQLite only -----

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("new.db");
    assert!(!path.exists());
    let store = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect");
    assert!(path.exists(), "file created");

    let mode: String = crate::db::query_scalar("PRAGMA journal_mode")
        .fetch_one(&store.reads)
        .await
        .expect("journal_mode");
    assert_eq!(mode.to_lowercase(), "wal");
    for pool in [&store.reads, &store.writes] {
        let fk: i64 = crate::db::query_scalar("PRAGMA foreign_keys")
            .fetch_one(pool)
            .await
            .expect("fk");
        assert_eq!(fk, 1);
        let busy: i64 = crate::db::query_scalar("PRAGMA busy_timeout")
            .fetch_one(pool)
            .await
            .expect("busy");
        assert_eq!(busy, 5_000);
    }
    store.close().await;

    // Also the `sqlite:` form without slashes, with a relative-looking absolute path.
    let other = dir.path().join("other.db");
    let store = Store::connect(&format!("sqlite:{}", other.display()))
        .await
        .expect("connect");
    assert!(other.exists());
    store.close().await;
}

/// Two stores on one file (as two processes would be): their writers meet in SQLite's lock,
/// where WAL and `busy_timeout` make them wait instead of failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_stores_write_one_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    let a = Store::connect(&url).await.expect("a");
    let b = Store::connect(&url).await.expect("b");
    let tasks: Vec<_> = (0..60u32)
        .map(|n| {
            let store = if n.is_multiple_of(2) {
                a.clone()
            } else {
                b.clone()
            };
            tokio::spawn(async move {
                store.insert_token(&token(n, "c", 0, 10)).await?;
                store.purge_expired(5, 10).await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("task").expect("write"), 0);
    }
    assert_eq!(count(&a, "access_tokens").await, 60);
    assert_eq!(count(&b, "access_tokens").await, 60);
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_memory_is_one_database() {
    let store = Store::connect("sqlite::memory:").await.expect("memory");
    assert_eq!(store.backend(), Backend::Sqlite);
    store.insert_signing_key(&key("k1", 1)).await.expect("key");
    // Many tasks, one connection: everyone sees the same database.
    let tasks: Vec<_> = (0..20u32)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                store.insert_token(&token(n, "c", 0, 10)).await?;
                store.signing_keys().await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("task").expect("ops").len(), 1);
    }
    assert_eq!(count(&store, "access_tokens").await, 20);
    assert_eq!(store.reads.size(), 1);
    store.ping().await.expect("ping");
    store.close().await;
    let closed = store.ping().await;
    assert!(
        matches!(closed, Err(StoreError::Unavailable(_))),
        "{closed:?}"
    );
}

// ----- no database -----

#[tokio::test]
async fn unsupported_urls_are_refused() {
    for url in [
        "mysql://root@localhost/x",
        "certbound.db",
        "sqlite://",
        "sqlite:",
    ] {
        let err = Store::connect(url).await.expect_err(url);
        assert!(
            matches!(err, StoreError::InvalidUrl { .. }),
            "{url}: {err:?}"
        );
    }
}

#[tokio::test]
async fn unusable_sqlite_paths_are_named_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no/such/dir/cb.db");
    let err = Store::connect(&format!("sqlite://{}", missing.display()))
        .await
        .expect_err("missing directory");
    let text = err.to_string();
    assert!(matches!(err, StoreError::SqliteFile { .. }), "{err:?}");
    assert!(
        text.contains("does not exist") && text.contains("mkdir -p"),
        "{text}"
    );
    assert!(text.contains(&missing.display().to_string()), "{text}");

    let file = tmp.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let err = Store::connect(&format!("sqlite://{}/cb.db", file.display()))
        .await
        .expect_err("parent is a file");
    assert!(err.to_string().contains("is not a directory"), "{err}");

    // Permissions: only meaningful when this process is not root (root ignores modes).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let ro = tmp.path().join("read-only");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
        if std::fs::write(ro.join("probe"), b"x").is_err() {
            let err = Store::connect(&format!("sqlite://{}/cb.db", ro.display()))
                .await
                .expect_err("read-only directory");
            let text = err.to_string();
            assert!(text.contains("permission denied"), "{text}");
            assert_eq!(text.matches("permission denied").count(), 1, "{text}");
        }
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
}

#[test]
fn sqlite_urls_are_normalised() {
    let t = parse_url("sqlite://data/cb.db").expect("relative");
    assert_eq!(
        (t.url.as_str(), t.memory),
        ("sqlite://data/cb.db?mode=rwc", false)
    );
    let t = parse_url("sqlite:///var/lib/cb.db?mode=ro").expect("explicit mode");
    assert_eq!(t.url, "sqlite:///var/lib/cb.db?mode=ro");
    for memory in [
        "sqlite::memory:",
        "sqlite://:memory:",
        "sqlite://?mode=memory",
    ] {
        let t = parse_url(memory).expect("memory");
        assert_eq!(
            (t.url.as_str(), t.memory),
            ("sqlite::memory:", true),
            "{memory}"
        );
    }
    assert_eq!(
        parse_url("postgresql://h/db").expect("pg").backend,
        Backend::Postgres
    );
}

#[test]
fn passwords_are_redacted_from_urls() {
    assert_eq!(
        redact_url("postgres://app:s3cret@db:5432/cb?sslmode=require"),
        "postgres://app:***@db:5432/cb?sslmode=require"
    );
    assert_eq!(
        redact_url("postgres://db/cb?user=app&password=s3cret&x=1"),
        "postgres://db/cb?user=app&password=***&x=1"
    );
    assert_eq!(redact_url("postgres://app@db/cb"), "postgres://app@db/cb");
    assert_eq!(redact_url("sqlite://a@b:c.db"), "sqlite://a@b:c.db");
    let err = parse_url("mysql://root:hunter2@h/x")
        .err()
        .expect("refused");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn debug_output_redacts_secrets() {
    let k = key("k1", 1);
    let shown = format!("{k:?}");
    assert!(shown.contains("redacted, 7 bytes"), "{shown}");
    assert!(!shown.contains("255") && !shown.contains("0xff"), "{shown}");

    let mut t = token(1, "c", 0, 1);
    t.hash = (0u8..32)
        .map(|b| b.wrapping_mul(37).wrapping_add(0xa0))
        .collect();
    let full_hex: String = t.hash.iter().map(|b| format!("{b:02x}")).collect();
    for shown in [
        format!("{t:?}"),
        format!("{:?}", TokenLookup::Hash(&t.hash)),
    ] {
        assert!(shown.contains(&full_hex[..8]), "prefix shown: {shown}");
        assert!(
            !shown.contains(&full_hex[..10]),
            "no more than the prefix: {shown}"
        );
        assert!(!shown.contains(&format!("{:?}", t.hash)), "{shown}");
    }
}

#[test]
fn both_backends_know_the_same_versions() {
    let versions = |b| {
        migrate::migrations(b)
            .iter()
            .map(|m| m.version)
            .collect::<Vec<_>>()
    };
    let sqlite = versions(Backend::Sqlite);
    assert_eq!(sqlite, versions(Backend::Postgres));
    assert_eq!(
        sqlite,
        (1..=SCHEMA_VERSION).collect::<Vec<_>>(),
        "consecutive from 1"
    );
}

// ----- PostgreSQL outage -----

/// A TCP forwarder to PostgreSQL that the test can take down (closing every connection and
/// refusing new ones) and bring back on the same port.
struct Proxy {
    addr: std::net::SocketAddr,
    target: String,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let proxy = Proxy {
            addr: "127.0.0.1:0".parse().expect("addr"),
            target,
            tasks: Default::default(),
        };
        proxy.listen().await
    }

    async fn listen(mut self) -> Proxy {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("reuseaddr");
        socket.bind(self.addr).expect("bind");
        let listener = socket.listen(64).expect("listen");
        self.addr = listener.local_addr().expect("local addr");
        let target = self.target.clone();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().expect("lock").push(pipe);
            }
        });
        self.tasks.lock().expect("lock").push(accept);
        self
    }

    /// Closes the listener and every forwarded connection.
    async fn stop(&self) {
        let tasks: Vec<_> = std::mem::take(&mut *self.tasks.lock().expect("lock"));
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
    }
}

/// A transaction whose `begin` is abandoned while `BEGIN` is in flight (a request cancelled at
/// that `.await`) must not leave its pooled connection inside a transaction: sqlx's own `begin`
/// does on PostgreSQL (sqlx issue #4393), and the next statements on that connection would
/// never be committed. One connection in the pool, so the next write gets that connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_begin_cancelled_in_flight_leaves_no_transaction_open() {
    harness::with_postgres_url(cancelled_begin_scenario).await;
}

async fn cancelled_begin_scenario(url: String) {
    let store = Store::connect_with(&url, StoreOptions::new().max_connections(1))
        .await
        .expect("connect");
    for round in 0..20u32 {
        // Dropped after its first poll: `BEGIN` is on its way, its answer not read.
        let abandoned = tokio::time::timeout(Duration::ZERO, store.writes.begin()).await;
        drop(abandoned);
        store
            .insert_token(&token(round, "c", 0, 10))
            .await
            .expect("insert");
        // Seen from another pool: committed, not stuck in a leftover transaction.
        let other = Store::connect(&url).await.expect("second store");
        assert_eq!(
            count(&other, "access_tokens").await,
            i64::from(round) + 1,
            "round {round}: the insert is committed"
        );
        other.close().await;
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_fails_fast_and_recovers() {
    harness::with_postgres_url(outage_scenario).await;
}

async fn outage_scenario(db_url: String) {
    let mut url = url::Url::parse(&db_url).expect("url");
    let target = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port().unwrap_or(5432)
    );
    let proxy = Proxy::start(target).await;
    url.set_host(Some("127.0.0.1")).expect("host");
    url.set_port(Some(proxy.addr.port())).expect("port");
    let options = StoreOptions::new().acquire_timeout(Duration::from_secs(1));
    let store = Store::connect_with(url.as_str(), options)
        .await
        .expect("connect via proxy");
    store
        .insert_token(&token(1, "c", 0, 10))
        .await
        .expect("insert");

    proxy.stop().await;
    let started = Instant::now();
    let down = store.find_token_by_jti("jti-1").await;
    assert!(matches!(down, Err(StoreError::Unavailable(_))), "{down:?}");
    let write = store.insert_token(&token(2, "c", 0, 10)).await;
    assert!(
        matches!(write, Err(StoreError::Unavailable(_))),
        "{write:?}"
    );
    assert!(store.ping().await.is_err_and(|e| e.is_unavailable()));
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "three failures took {:?}",
        started.elapsed()
    );

    let proxy = proxy.listen().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match store.find_token_by_jti("jti-1").await {
            Ok(found) => {
                assert!(found.is_some());
                break;
            }
            Err(e) if e.is_unavailable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("store did not recover: {e:?}"),
        }
    }
    store
        .insert_token(&token(3, "c", 0, 10))
        .await
        .expect("write after recovery");
    store.close().await;
    proxy.stop().await;
}

/// The server spawns store calls on tokio: every public future must be `Send`.
#[allow(dead_code)]
fn public_futures_are_send(store: &Store, key: &SigningKeyRecord, t: &TokenRecord) {
    fn send<T: Send>(_: T) {}
    send(Store::connect("sqlite::memory:"));
    send(Store::connect_with("sqlite::memory:", StoreOptions::new()));
    send(store.ping());
    send(store.close());
    send(store.insert_signing_key(key));
    send(store.signing_keys());
    send(store.retire_signing_key("k", 1, 2));
    send(store.delete_unpublished_keys(1));
    send(store.insert_token(t));
    send(store.find_token_by_hash(&t.hash));
    send(store.find_token_by_jti("j"));
    send(store.revoke_token(TokenLookup::Jti("j"), "c", 1));
    send(store.purge_expired(1, 1));
}

/// Several nodes starting at once on an empty database: all succeed, migrations apply once.
async fn first_connects_race(url: String) {
    let connects: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Store::connect(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for connect in connects {
        stores.push(connect.await.expect("task").expect("connect"));
    }
    for store in &stores {
        assert_eq!(count(store, "schema_version").await, SCHEMA_VERSION);
    }
    for store in stores {
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_connects_race_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    first_connects_race(format!("sqlite://{}", dir.path().join("race.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_connects_race_postgres() {
    harness::with_postgres_url(first_connects_race).await;
}

async fn client_registry(ctx: Ctx) {
    let store = ctx.store;
    assert!(store.clients().await.expect("empty").is_empty());
    store
        .upsert_client("b", r#"{"client_id":"b","v":1}"#, 10)
        .await
        .expect("b");
    store
        .upsert_client("a", r#"{"client_id":"a"}"#, 10)
        .await
        .expect("a");
    store
        .upsert_client("b", r#"{"client_id":"b","v":2}"#, 20)
        .await
        .expect("replace b");
    let all = store.clients().await.expect("list");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].0, "a");
    assert_eq!(
        all[1],
        ("b".to_owned(), r#"{"client_id":"b","v":2}"#.to_owned())
    );
    assert!(matches!(
        store.upsert_client("c", "[]", 1).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(store.delete_client("a").await.expect("delete"));
    assert!(!store.delete_client("a").await.expect("delete again"));
    assert_eq!(store.clients().await.expect("list").len(), 1);
}

/// The permission bits of `path`.
#[cfg(unix)]
fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[cfg(unix)]
fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A new SQLite file holds the signing private keys: it and the `-wal` and `-shm` files SQLite
/// creates beside it are readable by the owner only, whatever the process's umask.
#[cfg(unix)]
#[tokio::test]
async fn new_sqlite_files_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("cb.db");
    let store = Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("connect");
    // A write, so the WAL holds key material too.
    store
        .insert_signing_key(&SigningKeyRecord {
            kid: "k1".into(),
            alg: "ES256".into(),
            private_pkcs8: vec![7; 32],
            public_jwk: r#"{"kty":"EC"}"#.into(),
            created_at: 1,
            retired_at: None,
            publish_until: None,
        })
        .await
        .expect("insert");
    for suffix in ["", "-wal", "-shm"] {
        let file = tmp.path().join(format!("cb.db{suffix}"));
        assert_eq!(mode_of(&file), 0o600, "{}", file.display());
    }
    store.close().await;
}

/// An existing database that other users can read is refused, with the file, its mode, why and
/// the fix; `allow_readable_file` opens it (with a warning). The same for a `-wal` file, and
/// for a read-only URL (the keys are in the file all the same).
#[cfg(unix)]
#[tokio::test]
async fn readable_sqlite_files_are_refused_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("cb.db");
    let url = format!("sqlite://{}", db.display());
    Store::connect(&url).await.expect("create").close().await;

    set_mode(&db, 0o644);
    let err = Store::connect(&url).await.expect_err("world-readable");
    assert!(
        matches!(err, StoreError::ReadableByOthers { mode: 0o644, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    for part in [
        db.display().to_string().as_str(),
        "0644",
        "signing private keys",
        "mint access tokens",
        &format!("chmod 600 {}", db.display()),
        "allow_readable_file = true",
    ] {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
    assert_eq!(
        mode_of(&db),
        0o644,
        "the store never changes the mode itself"
    );

    // Group bits alone are refused too (as OpenSSH does), and so is a read-only URL.
    set_mode(&db, 0o640);
    for url in [url.clone(), format!("{url}?mode=ro")] {
        let err = Store::connect(&url).await.expect_err(&url);
        assert!(
            matches!(err, StoreError::ReadableByOthers { .. }),
            "{err:?}"
        );
    }

    let allowed = Store::connect_with(&url, StoreOptions::new().allow_readable_file(true))
        .await
        .expect("allowed");
    allowed.close().await;

    // A private database with a readable WAL: the WAL is named.
    set_mode(&db, 0o600);
    let wal = tmp.path().join("cb.db-wal");
    std::fs::write(&wal, b"").unwrap();
    set_mode(&wal, 0o604);
    let err = Store::connect(&url).await.expect_err("readable WAL");
    let text = err.to_string();
    assert!(
        text.contains(&format!("{} has mode 0604", wal.display())),
        "{text}"
    );
    set_mode(&wal, 0o600);
    Store::connect(&url)
        .await
        .expect("private again")
        .close()
        .await;
}

#[cfg(unix)]
#[test]
fn chmod_hints_quote_unusual_paths() {
    assert_eq!(shell_word("/var/lib/cb.db"), "/var/lib/cb.db");
    assert_eq!(shell_word("/tmp/my db"), "'/tmp/my db'");
    assert_eq!(shell_word("/tmp/it's"), r"'/tmp/it'\''s'");
}

mod jti;
mod user_flows;

/// Access tokens inserted concurrently go in batches: every good row is written, and a row the
/// database refuses fails alone, for its own caller, with `Conflict`. Rows 1, 13, 113 and 213
/// all carry `jti-1001`: exactly one of them is stored, whichever the database saw first.
async fn token_batches_answer_each_row(ctx: Ctx) {
    let tasks: Vec<_> = (0..300u32)
        .map(|n| {
            let store = ctx.store.clone();
            tokio::spawn(async move {
                let mut t = token(1_000 + n, "client-a", 1_000, 9_000);
                if n % 100 == 13 {
                    t.jti = "jti-1001".to_owned();
                }
                let answer = if n % 100 == 7 {
                    store.insert_token_for_grant(&t, "grant-7").await
                } else {
                    store.insert_token(&t).await
                };
                (n, answer)
            })
        })
        .collect();
    let (mut ok, mut same_jti_stored) = (0, 0);
    for task in tasks {
        let (n, answer) = task.await.expect("task");
        let same_jti = n == 1 || n % 100 == 13;
        match answer {
            Ok(()) => {
                ok += 1;
                same_jti_stored += u32::from(same_jti);
            }
            Err(StoreError::Conflict(_)) if same_jti => {}
            Err(e) => panic!("row {n}: {e}"),
        }
    }
    assert_eq!(same_jti_stored, 1);
    assert_eq!(ok, 297);
    assert_eq!(count(&ctx.store, "access_tokens").await, 297);
}

/// A batch statement the database refuses as a whole is retried row by row, so only the row at
/// fault fails. No row that passes `insert_token`'s checks makes the batch fail, so the batch
/// writer is fed a row that skipped them: a 31-byte hash, refused by the table's `CHECK`.
async fn a_failing_token_batch_is_written_row_by_row(ctx: Ctx) {
    use crate::group_commit::Batched as _;
    use crate::tokens::TokenRow;
    let mut bad = token(2, "client-a", 1_000, 9_000);
    bad.hash.truncate(31);
    let rows = vec![
        TokenRow::unchecked(token(1, "client-a", 1_000, 9_000), None),
        TokenRow::unchecked(bad, None),
        TokenRow::unchecked(token(3, "client-a", 1_000, 9_000), Some("grant-3")),
    ];
    let answers = TokenRow::write(&ctx.store, rows).await;
    assert_eq!(answers.len(), 3);
    assert!(answers[0].is_ok(), "{:?}", answers[0]);
    assert!(answers[1].is_err(), "the row at fault fails");
    assert!(answers[2].is_ok(), "{:?}", answers[2]);
    assert_eq!(count(&ctx.store, "access_tokens").await, 2);
    let third = ctx
        .store
        .find_token_by_hash(&token(3, "client-a", 1_000, 9_000).hash)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(third.jti, "jti-3");
}
