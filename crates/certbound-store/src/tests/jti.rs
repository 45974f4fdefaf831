//! Tests of the used-`jti` table (schema version 4), on SQLite and PostgreSQL like the others.

#[allow(unused_imports)] // used by `store_test!`
use super::harness;
use super::{count, Ctx};
use crate::*;

store_test!(
    jti_first_use_then_replay,
    jti_keyed_by_kind_and_owner,
    jti_reusable_after_expiry,
    jti_invalid_inputs_refused,
    jti_race_has_one_winner_across_instances,
    jti_batches_answer_each_caller,
    jti_purged_after_expiry,
    jti_stored_hashed,
);

const ASSERTION: JtiKind = JtiKind::ClientAssertion;

async fn jti_first_use_then_replay(ctx: Ctx) {
    let store = ctx.store;
    assert!(store
        .record_jti(ASSERTION, "c", "j1", 1_060, 1_000)
        .await
        .expect("first"));
    assert!(!store
        .record_jti(ASSERTION, "c", "j1", 1_060, 1_001)
        .await
        .expect("replay"));
    // A replay with another exp is still a replay.
    assert!(!store
        .record_jti(ASSERTION, "c", "j1", 1_200, 1_002)
        .await
        .expect("replay"));
    assert!(store
        .record_jti(ASSERTION, "c", "j2", 1_060, 1_002)
        .await
        .expect("other jti"));
    assert_eq!(count(&store, "used_jtis").await, 2);
}

async fn jti_keyed_by_kind_and_owner(ctx: Ctx) {
    let store = ctx.store;
    assert!(store
        .record_jti(ASSERTION, "c", "j", 1_060, 1_000)
        .await
        .expect("c"));
    assert!(store
        .record_jti(ASSERTION, "d", "j", 1_060, 1_000)
        .await
        .expect("d"));
    assert!(store
        .record_jti(JtiKind::Dpop, "c", "j", 1_060, 1_000)
        .await
        .expect("dpop"));
    assert!(!store
        .record_jti(JtiKind::Dpop, "c", "j", 1_060, 1_000)
        .await
        .expect("again"));
    // Case matters: "J" is another jti.
    assert!(store
        .record_jti(ASSERTION, "c", "J", 1_060, 1_000)
        .await
        .expect("J"));
}

async fn jti_reusable_after_expiry(ctx: Ctx) {
    let store = ctx.store;
    assert!(store
        .record_jti(ASSERTION, "c", "j", 1_060, 1_000)
        .await
        .expect("first"));
    // Still live at its exp.
    assert!(!store
        .record_jti(ASSERTION, "c", "j", 1_120, 1_060)
        .await
        .expect("at exp"));
    // Past its exp and not yet purged: a new JWT with the same jti is a first use.
    assert!(store
        .record_jti(ASSERTION, "c", "j", 1_180, 1_061)
        .await
        .expect("after exp"));
    assert!(!store
        .record_jti(ASSERTION, "c", "j", 1_180, 1_062)
        .await
        .expect("replay"));
    assert_eq!(count(&store, "used_jtis").await, 1);
}

async fn jti_invalid_inputs_refused(ctx: Ctx) {
    let store = ctx.store;
    let long = "c".repeat(1_025);
    for (owner, jti, exp) in [
        ("", "j", 1_060),
        ("c", "", 1_060),
        ("c", "j", 999),
        (long.as_str(), "j", 1_060),
    ] {
        assert!(
            matches!(
                store.record_jti(ASSERTION, owner, jti, exp, 1_000).await,
                Err(StoreError::Invalid(_))
            ),
            "{owner:.8} {jti} {exp}"
        );
    }
    // A long jti is fine: only its hash is stored.
    let jti = "é".repeat(2_000);
    assert!(store
        .record_jti(ASSERTION, "c", &jti, 1_060, 1_000)
        .await
        .expect("long jti"));
    assert!(!store
        .record_jti(ASSERTION, "c", &jti, 1_060, 1_000)
        .await
        .expect("replay"));
}

async fn jti_race_has_one_winner_across_instances(ctx: Ctx) {
    // Two stores on the same database, as two server instances.
    let other = Store::connect(&ctx.url).await.expect("second instance");
    for round in 0..8 {
        let jti = format!("race-{round}");
        let tasks: Vec<_> = [&ctx.store, &other, &ctx.store, &other]
            .into_iter()
            .map(|store| {
                let store = store.clone();
                let jti = jti.clone();
                tokio::spawn(
                    async move { store.record_jti(ASSERTION, "c", &jti, 1_060, 1_000).await },
                )
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            if task.await.expect("task").expect("record") {
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "round {round}");
    }
    assert_eq!(count(&ctx.store, "used_jtis").await, 8);
    other.close().await;
}

async fn jti_purged_after_expiry(ctx: Ctx) {
    let store = ctx.store;
    store
        .record_jti(ASSERTION, "c", "old", 1_060, 1_000)
        .await
        .expect("old");
    store
        .record_jti(JtiKind::Dpop, "c", "old", 1_010, 1_000)
        .await
        .expect("dpop");
    store
        .record_jti(ASSERTION, "c", "live", 1_200, 1_000)
        .await
        .expect("live");
    // Bounded batches: one row per call.
    assert_eq!(store.purge_expired(1_100, 1).await.expect("purge"), 1);
    assert_eq!(store.purge_expired(1_100, 1).await.expect("purge"), 1);
    assert_eq!(store.purge_expired(1_100, 10).await.expect("purge"), 0);
    assert_eq!(count(&store, "used_jtis").await, 1);
    // The live one still blocks a replay.
    assert!(!store
        .record_jti(ASSERTION, "c", "live", 1_200, 1_100)
        .await
        .expect("replay"));
}

async fn jti_stored_hashed(ctx: Ctx) {
    let store = ctx.store;
    let jti = "plain-jti-value-0123456789";
    store
        .record_jti(ASSERTION, "c", jti, 1_060, 1_000)
        .await
        .expect("record");
    let hash: Vec<u8> = crate::db::query_scalar("SELECT jti_hash FROM used_jtis")
        .fetch_one(&store.reads)
        .await
        .expect("hash");
    assert_eq!(hash, crate::handles::sha256(jti));
    assert!(!hash.windows(jti.len()).any(|w| w == jti.as_bytes()));
}

/// Many concurrent calls (more than one batch of the group commit), each `jti` sent twice: every
/// caller gets its own answer, exactly one `true` per `jti`, and every row is written.
async fn jti_batches_answer_each_caller(ctx: Ctx) {
    let tasks: Vec<_> = (0..600)
        .map(|i| {
            let store = ctx.store.clone();
            let jti = format!("batch-{}", i / 2);
            tokio::spawn(async move {
                (
                    i / 2,
                    store
                        .record_jti(JtiKind::Dpop, "k", &jti, 1_060, 1_000)
                        .await,
                )
            })
        })
        .collect();
    let mut firsts = vec![0u32; 300];
    for task in tasks {
        let (n, first) = task.await.expect("task");
        if first.expect("record") {
            firsts[n] += 1;
        }
    }
    assert!(firsts.iter().all(|&f| f == 1), "{firsts:?}");
    assert_eq!(count(&ctx.store, "used_jtis").await, 300);
}
