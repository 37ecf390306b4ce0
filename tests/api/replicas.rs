//! Replicas on one bucket: a privacy change made through one (private, deleted, an expiry
//! brought forward) holds on the other at once, for the page, its JSON and Markdown forms, its
//! images and revisions, and the API. A replica may keep parsed sessions and records, never a
//! permission storage no longer gives.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, another_task, fixture, spawn_app, spawn_replica, with_message};

/// Every way a share is read through a replica, with the status each answers.
async fn reads(app: &TestApp, id: &str, image: usize) -> Vec<(String, StatusCode)> {
    let mut seen = Vec::new();
    for path in [
        format!("/session/{id}"),
        format!("/session/{id}?revision=1"),
        format!("/session/{id}.md"),
        format!("/session/{id}/images/{image}/0"),
    ] {
        let status = app.page(&path).await.status();
        seen.push((path, status));
    }
    for path in [
        format!("/session/{id}"),
        format!("/api/sessions/{id}"),
        format!("/api/sessions/{id}?revision=1"),
        format!("/api/sessions/{id}/revisions"),
    ] {
        let status = app.get(&path).await.status();
        seen.push((format!("{path} (JSON)"), status));
    }
    seen
}

fn all(seen: &[(String, StatusCode)], status: StatusCode) -> bool {
    seen.iter().all(|(_, s)| *s == status)
}

#[tokio::test]
async fn privacy_changes_through_one_replica_hold_on_the_other_at_once() {
    // The default --metadata-cache-ttl (10 s): what is remembered must not decide.
    let a = spawn_app().await;
    let b = spawn_replica(&a, |_| {}).await;
    let medium = another_task(&fixture("large.json"));
    let doc: Value = serde_json::from_slice(&medium).unwrap();
    let image = doc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .position(|m| m["images"].as_array().is_some_and(|i| !i.is_empty()))
        .expect("the large session has screenshots");
    let id = a.create_id(medium.clone()).await;
    a.create(with_message(&medium, "more")).await;
    // B has read everything once: parsed, rendered and remembered.
    let warm = reads(&b, &id, image).await;
    assert!(all(&warm, StatusCode::OK), "{warm:?}");

    let private = a.patch(&id, json!({"isPublic": false}), &a.api_key).await;
    assert_eq!(private.status(), StatusCode::OK);
    let seen = reads(&b, &id, image).await;
    assert!(all(&seen, StatusCode::NOT_FOUND), "private, through the other replica: {seen:?}");

    let public = a.patch(&id, json!({"isPublic": true}), &a.api_key).await;
    assert_eq!(public.status(), StatusCode::OK);
    let seen = reads(&b, &id, image).await;
    assert!(all(&seen, StatusCode::OK), "public again: {seen:?}");

    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let expiring = a.patch(&id, json!({"expiresAt": soon.to_rfc3339()}), &a.api_key).await;
    assert_eq!(expiring.status(), StatusCode::OK);
    assert!(all(&reads(&b, &id, image).await, StatusCode::OK));
    tokio::time::sleep_until(tokio::time::Instant::now() + Duration::from_millis(1600)).await;
    let seen = reads(&b, &id, image).await;
    assert!(all(&seen, StatusCode::GONE), "expired, brought forward elsewhere: {seen:?}");

    let other = a.create_id(another_task(&medium)).await;
    assert!(all(&reads(&b, &other, image).await, StatusCode::OK));
    assert_eq!(a.delete(&other, &a.api_key).await.status(), StatusCode::NO_CONTENT);
    let seen = reads(&b, &other, image).await;
    assert!(all(&seen, StatusCode::NOT_FOUND), "deleted through the other replica: {seen:?}");
}
