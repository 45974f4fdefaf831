//! Tests of the user-flow tables (schema version 3), on SQLite and PostgreSQL like the others.

use std::sync::OnceLock;

#[allow(unused_imports)] // used by `store_test!`
use super::harness;
use super::{count, token, Ctx};
use crate::*;

store_test!(
    user_lifecycle,
    password_check_hides_unknown_users,
    par_request_single_use,
    code_issue_consumes_par_and_redeems_once,
    code_redeem_race_has_one_winner,
    code_exchange_is_all_or_nothing,
    par_consume_race_has_one_winner,
    grant_revocation_cascades,
    refresh_tokens_without_rotation,
    refresh_rotation_and_reuse,
    refresh_rotation_race_has_one_winner,
    login_sessions,
    consents_per_user_and_client,
    interactions_bound_to_the_browser,
    purge_covers_user_flow_tables,
    remove_user_revokes_everything,
    secrets_are_stored_hashed,
);

const PASSWORD: &str = "correct horse battery";

/// One real argon2id hash for all tests (hashing costs tens of milliseconds).
fn password_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        certbound_core::secret::hash_password(PASSWORD)
            .expect("hash")
            .phc()
            .to_owned()
    })
    .clone()
}

fn new_user(username: &str) -> NewUser {
    NewUser {
        username: username.to_owned(),
        email: Some(format!("{username}@example.com")),
        name: Some("Alice Example".to_owned()),
        claims: r#"{"locale":"de-CH"}"#.to_owned(),
        password_hash: password_hash(),
    }
}

async fn add(store: &Store, username: &str) -> User {
    store.add_user(&new_user(username), 100).await.expect("add")
}

fn code_for(user: &User, client_id: &str, expires_at: i64) -> NewAuthorizationCode {
    NewAuthorizationCode {
        client_id: client_id.to_owned(),
        user_id: user.id.clone(),
        redirect_uri: "https://app.example/cb".to_owned(),
        scope: "openid accounts".to_owned(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
        code_challenge_method: "S256".to_owned(),
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        auth_time: 900,
        sid: Some("sid-1".to_owned()),
        x5t_s256: Some("bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2".to_owned()),
        dpop_jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".to_owned()),
        expires_at,
    }
}

/// A user with a grant (through an issued code) for client `c`.
async fn granted(store: &Store, username: &str) -> (User, IssuedCode) {
    let user = add(store, username).await;
    let issued = store
        .issue_authorization_code(&code_for(&user, "c", 1_060), None, 1_000)
        .await
        .expect("code");
    (user, issued)
}

fn refresh_for(grant_id: &str, expires_at: i64) -> NewRefreshToken {
    NewRefreshToken {
        grant_id: grant_id.to_owned(),
        client_id: "c".to_owned(),
        x5t_s256: None,
        expires_at,
    }
}

async fn user_lifecycle(ctx: Ctx) {
    let store = ctx.store;
    assert!(store.users().await.expect("empty").is_empty());
    let bob = add(&store, "bob").await;
    let alice = add(&store, "alice").await;
    assert_eq!(alice.id.len(), 32);
    assert_ne!(alice.id, bob.id);
    assert!(!alice.disabled);
    assert_eq!((alice.created_at, alice.password_changed_at), (100, 100));
    assert_eq!(
        store.user_by_username("alice").await.expect("by name"),
        Some(alice.clone())
    );
    assert_eq!(
        store.user_by_id(&alice.id).await.expect("by id"),
        Some(alice.clone())
    );
    assert_eq!(store.user_by_username("carol").await.expect("none"), None);
    let names: Vec<String> = store
        .users()
        .await
        .expect("list")
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    assert!(
        !format!("{alice:?}").contains("argon2"),
        "Debug hides the hash"
    );

    let dup = store.add_user(&new_user("alice"), 200).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    for bad in ["", "al ice", "ålice", &"x".repeat(65)] {
        let r = store.add_user(&new_user(bad), 200).await;
        assert!(matches!(r, Err(StoreError::Invalid(_))), "{bad:?}: {r:?}");
    }
    let mut plain = new_user("carol");
    plain.password_hash = PASSWORD.to_owned();
    assert!(matches!(
        store.add_user(&plain, 200).await,
        Err(StoreError::Invalid(_))
    ));
    let mut claims = new_user("carol");
    claims.claims = "[]".to_owned();
    assert!(matches!(
        store.add_user(&claims, 200).await,
        Err(StoreError::Invalid(_))
    ));

    // A new password ends the user's sessions.
    let session = store
        .create_login_session(&alice.id, 150, 10_000)
        .await
        .expect("session");
    let other = certbound_core::secret::hash_password("another password")
        .expect("hash")
        .phc()
        .to_owned();
    assert!(store
        .set_user_password("alice", &other, 300)
        .await
        .expect("passwd"));
    assert!(!store
        .set_user_password("nobody", &other, 300)
        .await
        .expect("passwd"));
    assert!(matches!(
        store.set_user_password("alice", "plain", 300).await,
        Err(StoreError::Invalid(_))
    ));
    let alice = store
        .user_by_username("alice")
        .await
        .expect("read")
        .expect("alice");
    assert_eq!(alice.password_changed_at, 300);
    assert_eq!(alice.password_hash, other);
    let ended = store
        .login_session(&session.secret)
        .await
        .expect("read")
        .expect("present");
    assert_eq!(ended.ended_at, Some(300));

    assert!(store
        .set_user_disabled("bob", true, 400)
        .await
        .expect("disable"));
    assert!(
        store
            .user_by_username("bob")
            .await
            .expect("read")
            .expect("bob")
            .disabled
    );
    assert!(!store
        .set_user_disabled("nobody", true, 400)
        .await
        .expect("disable"));

    assert!(store.remove_user("bob", 500).await.expect("remove"));
    assert!(!store.remove_user("bob", 500).await.expect("remove again"));
    assert_eq!(store.users().await.expect("list").len(), 1);
}

async fn password_check_hides_unknown_users(ctx: Ctx) {
    let store = ctx.store;
    let alice = add(&store, "alice").await;
    let found = store
        .verify_user_password("alice", PASSWORD)
        .await
        .expect("verify");
    assert_eq!(found.map(|u| u.id), Some(alice.id.clone()));
    for (user, pass) in [
        ("alice", "wrong password"),
        ("alice", ""),
        ("nobody", PASSWORD),
        ("", PASSWORD),
        ("al ice", PASSWORD),
    ] {
        assert_eq!(
            store
                .verify_user_password(user, pass)
                .await
                .expect("verify"),
            None,
            "{user:?}"
        );
    }
    // The unknown user costs an argon2 verification like a wrong password: within a wide factor
    // (not a timing test, a guard against the check being skipped, which would make the unknown
    // user thousands of times faster; the factor leaves room for a loaded CI machine).
    let time = |user: &'static str| {
        let store = store.clone();
        async move {
            let start = std::time::Instant::now();
            for _ in 0..3 {
                let _ = store.verify_user_password(user, "wrong password").await;
            }
            start.elapsed()
        }
    };
    let known = time("alice").await;
    let unknown = time("nobody").await;
    assert!(
        unknown * 10 > known && known * 10 > unknown,
        "known {known:?} vs unknown {unknown:?}"
    );

    assert!(store
        .set_user_disabled("alice", true, 200)
        .await
        .expect("disable"));
    assert_eq!(
        store
            .verify_user_password("alice", PASSWORD)
            .await
            .expect("verify"),
        None,
        "a disabled user cannot sign in"
    );
}

async fn par_request_single_use(ctx: Ctx) {
    let store = ctx.store;
    let params = r#"{"response_type":"code","redirect_uri":"https://app.example/cb"}"#;
    let uri = store
        .push_authorization_request("c", params, 1_000, 1_060)
        .await
        .expect("push");
    assert!(uri.starts_with(REQUEST_URI_PREFIX));
    assert!(uri.len() >= REQUEST_URI_PREFIX.len() + 43);
    let other = store
        .push_authorization_request("c", params, 1_000, 1_060)
        .await
        .expect("push");
    assert_ne!(uri, other);

    let found = store.par_request(&uri).await.expect("read").expect("found");
    assert_eq!(found.client_id, "c");
    assert_eq!(found.params, params);
    assert!(found.is_usable_by("c", 1_060));
    assert!(!found.is_usable_by("d", 1_000));
    assert!(!found.is_usable_by("c", 1_061));

    for unknown in [
        "urn:ietf:params:oauth:request_uri:nope",
        "urn:ietf:params:oauth:request_uri:",
        "https://attacker.example/req",
        "",
    ] {
        assert_eq!(store.par_request(unknown).await.expect("read"), None);
        assert!(!store
            .consume_par_request(unknown, "c", 1_000)
            .await
            .expect("consume"));
    }
    // Only its client, once, before it expires.
    assert!(!store
        .consume_par_request(&uri, "d", 1_010)
        .await
        .expect("consume"));
    assert!(!store
        .consume_par_request(&other, "c", 1_061)
        .await
        .expect("consume"));
    assert!(store
        .consume_par_request(&uri, "c", 1_010)
        .await
        .expect("consume"));
    assert!(!store
        .consume_par_request(&uri, "c", 1_011)
        .await
        .expect("consume"));
    let used = store.par_request(&uri).await.expect("read").expect("found");
    assert_eq!(used.consumed_at, Some(1_010));
    assert!(!used.is_usable_by("c", 1_011));

    assert!(matches!(
        store.push_authorization_request("c", "[]", 1, 2).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.push_authorization_request("c", "{}", 2, 1).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.push_authorization_request("", "{}", 1, 2).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn code_issue_consumes_par_and_redeems_once(ctx: Ctx) {
    let store = ctx.store;
    let user = add(&store, "alice").await;
    let uri = store
        .push_authorization_request("c", "{}", 1_000, 1_060)
        .await
        .expect("push");
    let new = code_for(&user, "c", 1_060);

    // Another client's request_uri issues nothing.
    let mut theirs = new.clone();
    theirs.client_id = "d".to_owned();
    let r = store
        .issue_authorization_code(&theirs, Some(&uri), 1_010)
        .await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    assert_eq!(count(&store, "grants").await, 0);

    let issued = store
        .issue_authorization_code(&new, Some(&uri), 1_010)
        .await
        .expect("issue");
    assert_eq!(issued.code.len(), 43);
    assert!(!format!("{issued:?}").contains(&issued.code));
    let par = store.par_request(&uri).await.expect("read").expect("par");
    assert_eq!(par.consumed_at, Some(1_010), "consumed with the code");
    // The request_uri cannot mint a second code; nothing is left behind by the failure.
    let again = store
        .issue_authorization_code(&new, Some(&uri), 1_011)
        .await;
    assert!(matches!(again, Err(StoreError::NotFound(_))), "{again:?}");
    assert_eq!(count(&store, "authorization_codes").await, 1);
    assert_eq!(count(&store, "grants").await, 1);
    let grant = store
        .grant(&issued.grant_id)
        .await
        .expect("grant")
        .expect("present");
    assert_eq!(
        (
            grant.client_id.as_str(),
            grant.user_id.as_str(),
            grant.scope.as_str()
        ),
        ("c", user.id.as_str(), "openid accounts")
    );
    assert_eq!((grant.created_at, grant.revoked_at), (1_010, None));

    // Looking does not consume.
    let peek = store
        .authorization_code(&issued.code)
        .await
        .expect("peek")
        .expect("present");
    let expected = AuthorizationCode {
        grant_id: issued.grant_id.clone(),
        client_id: new.client_id.clone(),
        user_id: new.user_id.clone(),
        redirect_uri: new.redirect_uri.clone(),
        scope: new.scope.clone(),
        code_challenge: new.code_challenge.clone(),
        code_challenge_method: new.code_challenge_method.clone(),
        nonce: new.nonce.clone(),
        auth_time: new.auth_time,
        sid: new.sid.clone(),
        x5t_s256: new.x5t_s256.clone(),
        dpop_jkt: new.dpop_jkt.clone(),
        issued_at: 1_010,
        expires_at: 1_060,
        consumed_at: None,
    };
    assert_eq!(peek, expected);
    // The token endpoint's read: the same code and its user, in one query.
    let (with_user, code_user) = store
        .authorization_code_and_user(&issued.code)
        .await
        .expect("code and user")
        .expect("present");
    assert_eq!(with_user, expected);
    assert_eq!(code_user.as_ref(), Some(&user));
    assert_eq!(
        store
            .authorization_code_and_user("not-a-code")
            .await
            .expect("unknown"),
        None
    );

    let first = store
        .redeem_authorization_code(&issued.code, 1_020)
        .await
        .expect("redeem");
    assert_eq!(
        first,
        CodeRedemption::Redeemed(AuthorizationCode {
            consumed_at: Some(1_020),
            ..expected.clone()
        })
    );
    match store
        .redeem_authorization_code(&issued.code, 1_021)
        .await
        .expect("replay")
    {
        CodeRedemption::Replayed(c) => assert_eq!(c.grant_id, issued.grant_id),
        other => panic!("expected Replayed, got {other:?}"),
    }
    assert_eq!(
        store
            .redeem_authorization_code("no-such-code", 1_020)
            .await
            .expect("unknown"),
        CodeRedemption::Unknown
    );

    // Expiry is checked in the same update: a code at its expiry second still works, not after.
    let late = store
        .issue_authorization_code(&code_for(&user, "c", 1_060), None, 1_000)
        .await
        .expect("issue");
    assert!(matches!(
        store.redeem_authorization_code(&late.code, 1_061).await,
        Ok(CodeRedemption::Expired(_))
    ));
    let edge = store
        .issue_authorization_code(&code_for(&user, "c", 1_060), None, 1_000)
        .await
        .expect("issue");
    assert!(matches!(
        store.redeem_authorization_code(&edge.code, 1_060).await,
        Ok(CodeRedemption::Redeemed(_))
    ));

    let mut no_pkce = code_for(&user, "c", 1_060);
    no_pkce.code_challenge.clear();
    assert!(matches!(
        store.issue_authorization_code(&no_pkce, None, 1_000).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store
            .issue_authorization_code(&code_for(&user, "c", 999), None, 1_000)
            .await,
        Err(StoreError::Invalid(_))
    ));
}

/// The token endpoint's exchange: the code is redeemed, the access token recorded under its
/// grant and the refresh token issued in one transaction, or none of it.
async fn code_exchange_is_all_or_nothing(ctx: Ctx) {
    let store = ctx.store;
    let (_, issued) = granted(&store, "alice").await;
    let refresh = NewRefreshToken {
        grant_id: issued.grant_id.clone(),
        client_id: "c".to_owned(),
        x5t_s256: None,
        expires_at: 5_000,
    };
    let exchange = |access: &TokenRecord, refresh: &NewRefreshToken| {
        let (store, code) = (store.clone(), issued.code.clone());
        let (access, refresh) = (access.clone(), refresh.clone());
        async move {
            store
                .exchange_authorization_code(
                    &code,
                    1_010,
                    &ExchangeRecords {
                        access_token: Some(&access),
                        refresh_token: Some(&refresh),
                    },
                )
                .await
        }
    };
    let unredeemed = || async {
        store
            .authorization_code(&issued.code)
            .await
            .expect("read")
            .expect("present")
            .consumed_at
            .is_none()
    };

    // The access token's jti is taken: the statement fails inside the transaction, after the
    // code's update, and the whole exchange is rolled back.
    let taken = token(1, "c", 1_000, 2_000);
    store.insert_token(&taken).await.expect("first token");
    let mut clash = token(2, "c", 1_000, 2_000);
    clash.jti = taken.jti.clone();
    let failed = exchange(&clash, &refresh).await;
    assert!(matches!(failed, Err(StoreError::Conflict(_))), "{failed:?}");
    assert!(
        unredeemed().await,
        "a failed exchange leaves the code usable"
    );
    assert_eq!(count(&store, "refresh_tokens").await, 0);
    // A refresh token for another grant is refused, after the code's update too.
    let mut elsewhere = refresh.clone();
    elsewhere.grant_id = "another-grant".to_owned();
    let failed = exchange(&token(3, "c", 1_000, 2_000), &elsewhere).await;
    assert!(matches!(failed, Err(StoreError::Invalid(_))), "{failed:?}");
    assert!(unredeemed().await);
    let mut elsewhere = refresh.clone();
    elsewhere.client_id = "d".to_owned();
    let failed = exchange(&token(3, "c", 1_000, 2_000), &elsewhere).await;
    assert!(matches!(failed, Err(StoreError::NotFound(_))), "{failed:?}");
    assert!(unredeemed().await);
    // A refresh token expiring before the exchange is refused before anything is written.
    let mut stale = refresh.clone();
    stale.expires_at = 1_009;
    let failed = exchange(&token(3, "c", 1_000, 2_000), &stale).await;
    assert!(matches!(failed, Err(StoreError::Invalid(_))), "{failed:?}");
    assert!(unredeemed().await);
    assert!(store
        .find_token_by_hash(&token(3, "c", 1_000, 2_000).hash)
        .await
        .expect("read")
        .is_none());

    // Now all three at once.
    let access = token(4, "c", 1_010, 2_000);
    let done = exchange(&access, &refresh).await.expect("exchange");
    match &done.redemption {
        CodeRedemption::Redeemed(code) => assert_eq!(code.consumed_at, Some(1_010)),
        other => panic!("expected Redeemed, got {other:?}"),
    }
    let refresh_token = done.refresh_token.clone().expect("a refresh token");
    let stored = store
        .refresh_token(&refresh_token)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.grant_id, issued.grant_id);
    assert!(!format!("{done:?}").contains(&refresh_token), "redacted");
    // The access token is recorded under the grant: revoking the grant revokes it.
    assert!(store
        .revoke_grant(&issued.grant_id, 1_020)
        .await
        .expect("revoke"));
    let recorded = store
        .find_token_by_hash(&access.hash)
        .await
        .expect("read")
        .expect("recorded");
    assert_eq!(recorded.revoked_at, Some(1_020));

    // A replay writes nothing.
    let again = token(6, "c", 1_030, 2_000);
    let replay = exchange(&again, &refresh).await.expect("replay");
    assert!(matches!(replay.redemption, CodeRedemption::Replayed(_)));
    assert_eq!(replay.refresh_token, None);
    assert!(store
        .find_token_by_hash(&again.hash)
        .await
        .expect("read")
        .is_none());
    assert_eq!(count(&store, "refresh_tokens").await, 1);
}

async fn code_redeem_race_has_one_winner(ctx: Ctx) {
    let store = ctx.store;
    let (_, issued) = granted(&store, "alice").await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let code = issued.code.clone();
            tokio::spawn(async move { store.redeem_authorization_code(&code, 1_010).await })
        })
        .collect();
    let mut redeemed = 0;
    let mut replayed = 0;
    for task in tasks {
        match task.await.expect("task").expect("redeem") {
            CodeRedemption::Redeemed(_) => redeemed += 1,
            CodeRedemption::Replayed(_) => replayed += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((redeemed, replayed), (1, 7));
}

async fn par_consume_race_has_one_winner(ctx: Ctx) {
    let store = ctx.store;
    let user = add(&store, "alice").await;
    let uri = store
        .push_authorization_request("c", "{}", 1_000, 1_060)
        .await
        .expect("push");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let uri = uri.clone();
            let new = code_for(&user, "c", 1_060);
            tokio::spawn(async move {
                store
                    .issue_authorization_code(&new, Some(&uri), 1_010)
                    .await
            })
        })
        .collect();
    let mut issued = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => issued += 1,
            Err(StoreError::NotFound(_)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(issued, 1);
    assert_eq!(count(&store, "authorization_codes").await, 1);
    assert_eq!(count(&store, "grants").await, 1);
}

async fn grant_revocation_cascades(ctx: Ctx) {
    let store = ctx.store;
    let (_, issued) = granted(&store, "alice").await;
    let (_, other) = granted(&store, "bob").await;
    let at = token(1, "c", 1_000, 2_000);
    store
        .insert_token_for_grant(&at, &issued.grant_id)
        .await
        .expect("at");
    let unrelated = token(2, "c", 1_000, 2_000);
    store.insert_token(&unrelated).await.expect("plain at");
    let rt = store
        .issue_refresh_token(&refresh_for(&issued.grant_id, 5_000), 1_000)
        .await
        .expect("rt");
    let other_rt = store
        .issue_refresh_token(&refresh_for(&other.grant_id, 5_000), 1_000)
        .await
        .expect("rt");

    assert!(store
        .revoke_grant(&issued.grant_id, 1_100)
        .await
        .expect("revoke"));
    assert!(!store
        .revoke_grant(&issued.grant_id, 1_200)
        .await
        .expect("again"));
    assert!(!store.revoke_grant("unknown", 1_200).await.expect("unknown"));
    let grant = store
        .grant(&issued.grant_id)
        .await
        .expect("grant")
        .expect("present");
    assert_eq!(grant.revoked_at, Some(1_100));
    assert_eq!(
        store
            .find_token_by_jti("jti-1")
            .await
            .expect("at")
            .expect("present")
            .revoked_at,
        Some(1_100)
    );
    assert_eq!(
        store
            .refresh_token(&rt)
            .await
            .expect("rt")
            .expect("present")
            .revoked_at,
        Some(1_100)
    );
    // The unredeemed code of a revoked grant cannot be redeemed.
    assert!(matches!(
        store.redeem_authorization_code(&issued.code, 1_101).await,
        Ok(CodeRedemption::Replayed(_))
    ));
    // A revoked grant gets no new refresh token.
    assert!(matches!(
        store
            .issue_refresh_token(&refresh_for(&issued.grant_id, 5_000), 1_100)
            .await,
        Err(StoreError::NotFound(_))
    ));
    // Others are untouched.
    assert_eq!(
        store
            .find_token_by_jti("jti-2")
            .await
            .expect("at")
            .expect("present")
            .revoked_at,
        None
    );
    assert_eq!(
        store
            .refresh_token(&other_rt)
            .await
            .expect("rt")
            .expect("present")
            .revoked_at,
        None
    );
    assert!(matches!(
        store.redeem_authorization_code(&other.code, 1_010).await,
        Ok(CodeRedemption::Redeemed(_))
    ));
}

async fn refresh_tokens_without_rotation(ctx: Ctx) {
    let store = ctx.store;
    let (user, issued) = granted(&store, "alice").await;
    let mut new = refresh_for(&issued.grant_id, 5_000);
    new.x5t_s256 = Some("thumb".to_owned());
    let rt = store.issue_refresh_token(&new, 1_000).await.expect("issue");
    assert_eq!(rt.len(), 43);
    let record = store
        .refresh_token(&rt)
        .await
        .expect("read")
        .expect("present");
    assert_eq!(
        record,
        RefreshTokenRecord {
            grant_id: issued.grant_id.clone(),
            client_id: "c".to_owned(),
            user_id: user.id.clone(),
            scope: "openid accounts".to_owned(),
            x5t_s256: Some("thumb".to_owned()),
            issued_at: 1_000,
            expires_at: 5_000,
            rotated_at: None,
            revoked_at: None,
        }
    );
    assert!(record.is_active_for("c", 5_000));
    assert!(!record.is_active_for("c", 5_001));
    assert!(!record.is_active_for("d", 1_000));
    // Used as often as needed: looking up does not use it up.
    assert!(store.refresh_token(&rt).await.expect("read").is_some());
    assert_eq!(store.refresh_token("nope").await.expect("read"), None);
    // The refresh grant's read: the same record and the grant's user, in one query.
    assert_eq!(
        store.refresh_token_and_user(&rt).await.expect("read"),
        Some((record.clone(), Some(user.clone())))
    );
    assert_eq!(
        store.refresh_token_and_user("nope").await.expect("read"),
        None
    );

    let mut wrong_client = refresh_for(&issued.grant_id, 5_000);
    wrong_client.client_id = "d".to_owned();
    assert!(matches!(
        store.issue_refresh_token(&wrong_client, 1_000).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .issue_refresh_token(&refresh_for("no-grant", 5_000), 1_000)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .issue_refresh_token(&refresh_for(&issued.grant_id, 999), 1_000)
            .await,
        Err(StoreError::Invalid(_))
    ));

    // Revocation: only by its client; it takes the grant with it.
    assert!(!store
        .revoke_refresh_token(&rt, "d", 1_100)
        .await
        .expect("revoke"));
    assert!(!store
        .revoke_refresh_token("nope", "c", 1_100)
        .await
        .expect("revoke"));
    assert!(store
        .revoke_refresh_token(&rt, "c", 1_100)
        .await
        .expect("revoke"));
    assert_eq!(
        store
            .grant(&issued.grant_id)
            .await
            .expect("grant")
            .expect("present")
            .revoked_at,
        Some(1_100)
    );
    assert_eq!(
        store
            .rotate_refresh_token(&rt, 1_200, 6_000, 0)
            .await
            .expect("rotate"),
        RefreshRotation::Unusable
    );
}

async fn refresh_rotation_and_reuse(ctx: Ctx) {
    let store = ctx.store;
    let (_, issued) = granted(&store, "alice").await;
    let mut new = refresh_for(&issued.grant_id, 5_000);
    new.x5t_s256 = Some("thumb".to_owned());
    let first = store.issue_refresh_token(&new, 1_000).await.expect("issue");

    let RefreshRotation::Rotated { token: second } = store
        .rotate_refresh_token(&first, 1_100, 6_000, 30)
        .await
        .expect("rotate")
    else {
        panic!("expected a rotation");
    };
    assert_ne!(first, second);
    let successor = store
        .refresh_token(&second)
        .await
        .expect("read")
        .expect("present");
    assert_eq!(
        (
            successor.issued_at,
            successor.expires_at,
            successor.x5t_s256.as_deref()
        ),
        (1_100, 6_000, Some("thumb")),
        "the binding carries over"
    );
    assert_eq!(successor.grant_id, issued.grant_id);
    let old = store
        .refresh_token(&first)
        .await
        .expect("read")
        .expect("present");
    assert_eq!(old.rotated_at, Some(1_100));

    // Within the grace window the old token is replaced again (a lost answer, retried).
    let retry = store
        .rotate_refresh_token(&first, 1_120, 6_000, 30)
        .await
        .expect("retry");
    assert!(matches!(retry, RefreshRotation::Rotated { .. }));
    assert!(!format!("{retry:?}").contains(&second));

    // After it, reuse is reported; the caller revokes the grant.
    match store
        .rotate_refresh_token(&first, 1_130, 6_000, 30)
        .await
        .expect("reuse")
    {
        RefreshRotation::Reused(r) => assert_eq!(r.grant_id, issued.grant_id),
        other => panic!("expected Reused, got {other:?}"),
    }
    assert!(store
        .revoke_grant(&issued.grant_id, 1_130)
        .await
        .expect("revoke"));
    assert_eq!(
        store
            .rotate_refresh_token(&second, 1_140, 6_000, 30)
            .await
            .expect("rotate"),
        RefreshRotation::Unusable
    );

    // Expired and unknown tokens are unusable.
    let (_, other) = granted(&store, "bob").await;
    let short = store
        .issue_refresh_token(&refresh_for(&other.grant_id, 1_050), 1_000)
        .await
        .expect("issue");
    assert_eq!(
        store
            .rotate_refresh_token(&short, 1_051, 6_000, 30)
            .await
            .expect("rotate"),
        RefreshRotation::Unusable
    );
    assert_eq!(
        store
            .rotate_refresh_token("nope", 1_000, 6_000, 30)
            .await
            .expect("rotate"),
        RefreshRotation::Unusable
    );
}

async fn refresh_rotation_race_has_one_winner(ctx: Ctx) {
    let store = ctx.store;
    let (_, issued) = granted(&store, "alice").await;
    let rt = store
        .issue_refresh_token(&refresh_for(&issued.grant_id, 5_000), 1_000)
        .await
        .expect("issue");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let rt = rt.clone();
            tokio::spawn(async move { store.rotate_refresh_token(&rt, 1_100, 6_000, 0).await })
        })
        .collect();
    let mut rotated = 0;
    for task in tasks {
        match task.await.expect("task").expect("rotate") {
            RefreshRotation::Rotated { .. } => rotated += 1,
            RefreshRotation::Reused(_) => {}
            RefreshRotation::Unusable => panic!("the token is valid"),
        }
    }
    assert_eq!(rotated, 1);
    assert_eq!(count(&store, "refresh_tokens").await, 2);
}

async fn login_sessions(ctx: Ctx) {
    let store = ctx.store;
    let alice = add(&store, "alice").await;
    let a = store
        .create_login_session(&alice.id, 1_000, 2_000)
        .await
        .expect("session");
    let b = store
        .create_login_session(&alice.id, 1_000, 2_000)
        .await
        .expect("session");
    assert_ne!(a.secret, b.secret);
    assert_ne!(a.session.sid, b.session.sid);
    assert_ne!(a.secret, a.session.sid);
    assert!(!format!("{a:?}").contains(&a.secret));
    let found = store
        .login_session(&a.secret)
        .await
        .expect("read")
        .expect("present");
    assert_eq!(found, a.session);
    assert!(found.is_active(2_000));
    assert!(!found.is_active(2_001));
    assert_eq!(
        store.login_session(&a.session.sid).await.expect("read"),
        None,
        "the public sid does not open the session"
    );

    assert!(store
        .end_login_session(&a.secret, 1_500)
        .await
        .expect("end"));
    assert!(!store
        .end_login_session(&a.secret, 1_600)
        .await
        .expect("end"));
    let ended = store
        .login_session(&a.secret)
        .await
        .expect("read")
        .expect("present");
    assert_eq!(ended.ended_at, Some(1_500));
    assert!(!ended.is_active(1_501));
    assert!(store
        .end_login_session_by_sid(&b.session.sid, 1_500)
        .await
        .expect("end"));
    assert!(!store
        .end_login_session_by_sid("nope", 1_500)
        .await
        .expect("end"));

    assert!(store
        .create_login_session("no-such-user", 1_000, 2_000)
        .await
        .is_err());
    assert!(matches!(
        store.create_login_session(&alice.id, 2_000, 1_000).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn consents_per_user_and_client(ctx: Ctx) {
    let store = ctx.store;
    let alice = add(&store, "alice").await;
    let bob = add(&store, "bob").await;
    assert_eq!(store.consent(&alice.id, "c").await.expect("none"), None);
    store
        .save_consent(&alice.id, "c", "openid", 1_000)
        .await
        .expect("save");
    store
        .save_consent(&alice.id, "c", "openid accounts", 1_100)
        .await
        .expect("replace");
    store
        .save_consent(&bob.id, "c", "openid", 1_000)
        .await
        .expect("save");
    assert_eq!(
        store.consent(&alice.id, "c").await.expect("read"),
        Some(Consent {
            user_id: alice.id.clone(),
            client_id: "c".to_owned(),
            scope: "openid accounts".to_owned(),
            granted_at: 1_100,
        })
    );
    assert_eq!(store.consent(&alice.id, "d").await.expect("read"), None);
    assert_eq!(count(&store, "consents").await, 2);
    assert!(store.revoke_consent(&alice.id, "c").await.expect("revoke"));
    assert!(!store.revoke_consent(&alice.id, "c").await.expect("again"));
    assert!(store.consent(&bob.id, "c").await.expect("read").is_some());
}

async fn interactions_bound_to_the_browser(ctx: Ctx) {
    let store = ctx.store;
    let request = r#"{"client_id":"c","request_uri":"urn:x"}"#;
    let started = store
        .create_interaction(request, 1_000, 1_600)
        .await
        .expect("create");
    assert_ne!(started.id, started.browser_secret);
    assert!(!format!("{started:?}").contains(&started.id));
    let found = store
        .interaction(&started.id, &started.browser_secret, 1_600)
        .await
        .expect("read")
        .expect("present");
    assert_eq!(
        found,
        Interaction {
            request: request.to_owned(),
            created_at: 1_000,
            expires_at: 1_600,
        }
    );
    // Another browser, a swapped pair, or too late: nothing.
    for (id, browser, now) in [
        (started.id.as_str(), "another browser", 1_100),
        (started.browser_secret.as_str(), started.id.as_str(), 1_100),
        (started.id.as_str(), started.browser_secret.as_str(), 1_601),
        ("nope", started.browser_secret.as_str(), 1_100),
    ] {
        assert_eq!(
            store.interaction(id, browser, now).await.expect("read"),
            None
        );
    }
    let after_login = r#"{"client_id":"c","user_id":"u1"}"#;
    assert!(store
        .update_interaction(&started.id, after_login)
        .await
        .expect("update"));
    assert!(matches!(
        store.update_interaction(&started.id, "nope").await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        store
            .interaction(&started.id, &started.browser_secret, 1_100)
            .await
            .expect("read")
            .expect("present")
            .request,
        after_login
    );
    // Finished once.
    assert!(store.finish_interaction(&started.id).await.expect("finish"));
    assert!(!store.finish_interaction(&started.id).await.expect("again"));
    assert!(!store
        .update_interaction(&started.id, after_login)
        .await
        .expect("update"));
    assert!(matches!(
        store.create_interaction("[]", 1, 2).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn purge_covers_user_flow_tables(ctx: Ctx) {
    let store = ctx.store;
    let alice = add(&store, "alice").await;
    // Expired at 2_000: one row in each table, plus live ones.
    store
        .push_authorization_request("c", "{}", 1_000, 1_060)
        .await
        .expect("par");
    store
        .push_authorization_request("c", "{}", 1_000, 9_000)
        .await
        .expect("live par");
    let old = store
        .issue_authorization_code(&code_for(&alice, "c", 1_060), None, 1_000)
        .await
        .expect("code");
    let live = store
        .issue_authorization_code(&code_for(&alice, "c", 9_000), None, 1_000)
        .await
        .expect("live code");
    store
        .issue_refresh_token(&refresh_for(&live.grant_id, 1_500), 1_000)
        .await
        .expect("rt");
    store
        .issue_refresh_token(&refresh_for(&live.grant_id, 9_000), 1_000)
        .await
        .expect("live rt");
    store
        .create_login_session(&alice.id, 1_000, 1_500)
        .await
        .expect("session");
    let ended = store
        .create_login_session(&alice.id, 1_000, 9_000)
        .await
        .expect("ended session");
    store
        .end_login_session(&ended.secret, 1_100)
        .await
        .expect("end");
    store
        .create_login_session(&alice.id, 1_000, 9_000)
        .await
        .expect("live session");
    store
        .create_interaction("{}", 1_000, 1_600)
        .await
        .expect("interaction");
    store
        .create_interaction("{}", 1_000, 9_000)
        .await
        .expect("live interaction");

    // 6 dead rows plus the old code's grant (empty once its code is gone, and older than
    // EMPTY_GRANT_KEEP_SECONDS at 10_000); budgeted across tables.
    assert_eq!(store.purge_expired(2_000, 3).await.expect("purge"), 3);
    assert_eq!(store.purge_expired(2_000, 10).await.expect("purge"), 3);
    assert_eq!(store.purge_expired(2_000, 10).await.expect("purge"), 0);
    for (table, left) in [
        ("par_requests", 1),
        ("authorization_codes", 1),
        ("refresh_tokens", 1),
        ("login_sessions", 1),
        ("interactions", 1),
        ("grants", 2),
    ] {
        assert_eq!(count(&store, table).await, left, "{table}");
    }
    let keep = 1_000 + crate::purge::EMPTY_GRANT_KEEP_SECONDS;
    assert_eq!(store.purge_expired(keep + 1, 10).await.expect("purge"), 1);
    assert_eq!(store.grant(&old.grant_id).await.expect("grant"), None);
    assert!(store.grant(&live.grant_id).await.expect("grant").is_some());
}

async fn remove_user_revokes_everything(ctx: Ctx) {
    let store = ctx.store;
    let (alice, issued) = granted(&store, "alice").await;
    let (bob, _) = granted(&store, "bob").await;
    store
        .insert_token_for_grant(&token(1, "c", 1_000, 9_000), &issued.grant_id)
        .await
        .expect("at");
    store
        .issue_refresh_token(&refresh_for(&issued.grant_id, 9_000), 1_000)
        .await
        .expect("rt");
    store
        .create_login_session(&alice.id, 1_000, 9_000)
        .await
        .expect("session");
    store
        .save_consent(&alice.id, "c", "openid", 1_000)
        .await
        .expect("consent");
    store
        .save_consent(&bob.id, "c", "openid", 1_000)
        .await
        .expect("consent");

    assert!(store.remove_user("alice", 2_000).await.expect("remove"));
    assert_eq!(
        store
            .authorization_code_and_user(&issued.code)
            .await
            .expect("read"),
        None,
        "a removed user's codes go with them"
    );
    assert_eq!(
        store
            .find_token_by_jti("jti-1")
            .await
            .expect("at")
            .expect("kept as a revocation record")
            .revoked_at,
        Some(2_000)
    );
    for (table, left) in [
        ("users", 1),
        ("grants", 1),
        ("authorization_codes", 1),
        ("refresh_tokens", 0),
        ("login_sessions", 0),
        ("consents", 1),
    ] {
        assert_eq!(count(&store, table).await, left, "{table}");
    }
}

async fn secrets_are_stored_hashed(ctx: Ctx) {
    let store = ctx.store;
    let (alice, issued) = granted(&store, "alice").await;
    let uri = store
        .push_authorization_request("c", "{}", 1_000, 1_060)
        .await
        .expect("push");
    let rt = store
        .issue_refresh_token(&refresh_for(&issued.grant_id, 9_000), 1_000)
        .await
        .expect("rt");
    let session = store
        .create_login_session(&alice.id, 1_000, 9_000)
        .await
        .expect("session");
    let interaction = store
        .create_interaction("{}", 1_000, 9_000)
        .await
        .expect("interaction");
    let handle = uri
        .strip_prefix(REQUEST_URI_PREFIX)
        .expect("prefix")
        .to_owned();
    for (table, column, secret) in [
        ("authorization_codes", "code_hash", issued.code.as_str()),
        ("par_requests", "handle_hash", handle.as_str()),
        ("refresh_tokens", "token_hash", rt.as_str()),
        ("login_sessions", "session_hash", session.secret.as_str()),
        ("interactions", "id_hash", interaction.id.as_str()),
        (
            "interactions",
            "browser_hash",
            interaction.browser_secret.as_str(),
        ),
    ] {
        let n: i64 =
            crate::db::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {column} = $1"))
                .bind(crate::handles::sha256(secret))
                .fetch_one(&store.reads)
                .await
                .expect("count");
        assert_eq!(n, 1, "{table}.{column} holds the SHA-256");
    }
    // And no text column holds a plaintext: dump every row as text and search.
    for table in [
        "authorization_codes",
        "par_requests",
        "refresh_tokens",
        "login_sessions",
        "interactions",
        "grants",
    ] {
        let rows = crate::db::query(&format!("SELECT * FROM {table}"))
            .fetch_all(&store.reads)
            .await
            .expect("rows");
        for row in rows {
            for i in 0..row.len() {
                if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i) {
                    for secret in [
                        &issued.code,
                        &handle,
                        &rt,
                        &session.secret,
                        &interaction.id,
                        &interaction.browser_secret,
                    ] {
                        assert!(!text.contains(secret.as_str()), "{table} column {i}");
                    }
                }
            }
        }
    }
}
