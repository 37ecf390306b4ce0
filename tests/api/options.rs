//! Share options at create time, and reads that honour them: privacy, expiry, metadata headers.

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    assert_error, eventually, fresh_session, raw_get, small_session, spawn_app, spawn_app_with,
};

/// A session of a task of its own, with these share options.
fn with_options(options: Value) -> Vec<u8> {
    let mut doc: Value = serde_json::from_slice(&fresh_session()).unwrap();
    for (k, v) in options.as_object().unwrap() {
        doc[k] = v.clone();
    }
    serde_json::to_vec(&doc).unwrap()
}

#[tokio::test]
async fn defaults_and_explicit_options_are_kept_beside_the_unchanged_document() {
    let app = spawn_app().await;
    let plain = app.create(small_session()).await;
    assert_eq!(plain["title"], "Config route module share path api token server the.");
    assert_eq!(plain["isPublic"], true);
    assert_eq!(plain["tags"], json!([]));
    assert!(plain["expiresAt"].is_null());

    let expires = (Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let body = with_options(json!({"title": "Débogage du cache", "description": "Why, and how",
        "tags": ["Rust", "cache", "rust"], "expiresAt": expires}));
    let created = app.create(body.clone()).await;
    assert_eq!(created["title"], "Débogage du cache");
    assert_eq!(created["tags"], json!(["rust", "cache"]));
    let id = created["id"].as_str().unwrap();

    let resp = app.get(&format!("/api/sessions/{id}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers().clone();
    assert_eq!(h["x-session-title"], "D%C3%A9bogage du cache");
    assert_eq!(h["x-session-description"], "Why%2C and how");
    assert_eq!(h["x-session-tags"], "rust,cache");
    assert_eq!(h["x-session-public"], "true");
    assert_eq!(h["x-session-owner"], "alice");
    assert_eq!(h["x-session-message-count"], "8");
    assert!(h.contains_key("x-session-created-at") && h.contains_key("x-session-expires-at"));
    assert_eq!(resp.bytes().await.unwrap(), body, "the stored document changed");
}

#[tokio::test]
async fn options_that_break_the_rules_are_400_with_their_pointer() {
    let app = spawn_app_with(|s| {
        s.max_ttl = Duration::from_secs(30 * 86400);
    })
    .await;
    let past = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let far = (Utc::now() + chrono::Duration::days(31)).to_rfc3339();
    let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    for (options, pointer) in [
        (json!({"expiresAt": past}), "/expiresAt"),
        (json!({"expiresAt": far}), "/expiresAt"),
        (json!({"expiresAt": "next tuesday"}), "/expiresAt"),
        (json!({"tags": many}), "/tags"),
        (json!({"tags": ["x".repeat(41)]}), "/tags/0"),
        (json!({"title": "t".repeat(201)}), "/title"),
        (json!({"isPublic": "no"}), "/isPublic"),
    ] {
        let resp = app
            .post_json("/api/sessions/create", with_options(options.clone()))
            .send()
            .await
            .unwrap();
        let body = assert_error(resp, StatusCode::BAD_REQUEST, "INVALID_SESSION").await;
        let pointers: Vec<&str> = body["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["pointer"].as_str().unwrap())
            .collect();
        assert!(pointers.contains(&pointer), "{options}: {body}");
    }
    assert!(app.stored_sessions().await.is_empty());
}

#[tokio::test]
async fn a_private_share_is_only_its_owners_to_read() {
    let app = spawn_app().await;
    let bob = app.key_for("bob").await;
    let private = with_options(json!({"isPublic": false}));
    let created = app.create(private.clone()).await;
    assert_eq!(created["isPublic"], false);
    let id = created["id"].as_str().unwrap().to_owned();
    let by_id = format!("/api/sessions/{id}");
    let by_code = format!("/api/sessions/alice/{id}");

    // Anyone else: as if it did not exist, on every read route.
    for path in [&by_id, &by_code, &format!("/api/public/sessions/{id}")] {
        assert_error(app.get(path).await, StatusCode::NOT_FOUND, "SESSION_NOT_FOUND").await;
        let with_bob =
            app.client.get(app.url(path)).header("Syntx-Api-Key", &bob).send().await.unwrap();
        assert_error(with_bob, StatusCode::NOT_FOUND, "SESSION_NOT_FOUND").await;
    }
    let import = app
        .client
        .post(app.url("/api/sessions"))
        .header("Content-Type", "application/json")
        .body(json!({"id": id}).to_string())
        .send()
        .await
        .unwrap();
    assert_error(import, StatusCode::NOT_FOUND, "SESSION_NOT_FOUND").await;

    // The owner, with either header; the public route never looks at keys.
    for path in [&by_id, &by_code] {
        let header = app
            .client
            .get(app.url(path))
            .header("Syntx-Api-Key", &app.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(header.status(), StatusCode::OK, "{path}");
        assert_eq!(header.headers()["x-session-public"], "false");
        let bearer = app.client.get(app.url(path)).bearer_auth(&app.api_key).send().await.unwrap();
        assert_eq!(bearer.bytes().await.unwrap(), private);
    }
    let owner_public = app
        .client
        .get(app.url(&format!("/api/public/sessions/{id}")))
        .header("Syntx-Api-Key", &app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(owner_public.status(), StatusCode::NOT_FOUND);
    let import = app
        .post_json("/api/sessions", json!({"id": id, "username": "alice"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(import.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_expired_share_answers_410_everywhere_and_gc_deletes_it() {
    let app = spawn_app_with(|s| {
        s.metadata_cache_ttl = Duration::from_secs(1);
    })
    .await;
    let soon = (Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let id = app.create_id(with_options(json!({"expiresAt": soon}))).await;
    assert_eq!(app.get(&format!("/api/sessions/{id}")).await.status(), StatusCode::OK);
    eventually(Duration::from_secs(5), || async {
        app.get(&format!("/api/sessions/{id}")).await.status() == StatusCode::GONE
    })
    .await;

    for path in [
        format!("/api/sessions/{id}"),
        format!("/api/sessions/alice/{id}"),
        format!("/api/public/sessions/{id}"),
    ] {
        assert_error(app.get(&path).await, StatusCode::GONE, "SESSION_EXPIRED").await;
        assert_eq!(app.get_as(&path, &app.api_key).await.status(), StatusCode::GONE, "{path}");
    }
    assert_error(app.import(json!({"id": id}), None).await, StatusCode::GONE, "SESSION_EXPIRED")
        .await;
    // Not revivable.
    let far = (Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let patch = app.patch(&id, json!({"expiresAt": far}), &app.api_key).await;
    assert_error(patch, StatusCode::GONE, "SESSION_EXPIRED").await;

    crate::cli::gc(&app.storage_url, "1h").await;
    // What is left keeps the id from being used again, and holds no session.
    let left = app.stored_sessions().await;
    assert_eq!(left, [crate::helpers::share_key("alice", &id)]);
    assert!(app.stored(&left[0]).await.len() < 300);
    // The service may remember the (expired) record for --metadata-cache-ttl; then it is gone.
    eventually(Duration::from_secs(3), || async {
        let (status, body) = raw_get(&app.address, &format!("/api/sessions/{id}")).await;
        (status, body["code"].as_str()) == (404, Some("SESSION_NOT_FOUND"))
    })
    .await;
}
