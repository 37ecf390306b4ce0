//! Owners list, change and delete their shares.

use std::collections::HashSet;

use object_store::ObjectStoreExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    AppOptions, TestApp, assert_error, document_part, share_path, small_session, spawn_app,
    spawn_app_with,
};

fn session_titled(title: &str, tags: &[&str]) -> Vec<u8> {
    let mut doc: Value = serde_json::from_slice(&small_session()).unwrap();
    doc["title"] = json!(title);
    doc["tags"] = json!(tags);
    serde_json::to_vec(&doc).unwrap()
}

async fn list(app: &TestApp, query: &str, key: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/api/sessions{query}")))
        .header("Syntx-Api-Key", key)
        .send()
        .await
        .unwrap()
}

async fn patch(app: &TestApp, id: &str, body: Value, key: &str) -> reqwest::Response {
    app.client
        .patch(app.url(&format!("/api/sessions/{id}")))
        .header("Content-Type", "application/json")
        .header("Syntx-Api-Key", key)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn delete(app: &TestApp, id: &str, key: &str) -> reqwest::Response {
    app.client
        .delete(app.url(&format!("/api/sessions/{id}")))
        .header("Syntx-Api-Key", key)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn listing_is_newest_first_paginated_and_only_yours() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for i in 0..5 {
        let tags: &[&str] = if i % 2 == 0 { &["even"] } else { &["odd"] };
        created.push(
            app.create(session_titled(&format!("share number {i}"), tags)).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // distinct S3 timestamps
    }
    let bob = app.key_for("bob").await;
    app.share_as(&bob, small_session()).await;

    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".into(),
        };
        let page: Value = list(&app, &query, &app.api_key).await.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        for item in items {
            seen.push(item["id"].as_str().unwrap().to_owned());
            assert_eq!(item["shareCode"], format!("alice/{}", item["id"].as_str().unwrap()));
            assert_eq!(
                item["url"],
                format!("{}/session/{}", app.address, item["id"].as_str().unwrap())
            );
            assert!(item["size"].as_u64().unwrap() > 3000);
            assert_eq!(item["messageCount"], 8);
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    created.reverse();
    assert_eq!(seen, created, "newest first, each once, none of bob's");

    let evens: Value = list(&app, "?tag=EVEN", &app.api_key).await.json().await.unwrap();
    assert_eq!(evens["items"].as_array().unwrap().len(), 3);
    let found: Value = list(&app, "?q=NUMBER%203", &app.api_key).await.json().await.unwrap();
    let titles: Vec<&str> =
        found["items"].as_array().unwrap().iter().map(|i| i["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["share number 3"]);
    let by_task: Value = list(&app, "?q=route%20module", &app.api_key).await.json().await.unwrap();
    assert_eq!(by_task["items"].as_array().unwrap().len(), 5, "q searches the task prompt too");
}

#[tokio::test]
async fn listing_needs_a_key_and_sane_parameters() {
    let app = spawn_app().await;
    let anonymous = app.get("/api/sessions").await;
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "MISSING_API_KEY").await;
    // Unlike reads of a share, listing needs a key that is valid here.
    let unknown = list(&app, "", "ssk_unknown").await;
    assert_error(unknown, StatusCode::UNAUTHORIZED, "INVALID_API_KEY").await;
    // Empty parameters are no parameters.
    let empty = list(&app, "?cursor=&tag=&q=", &app.api_key).await;
    assert_eq!(empty.status(), StatusCode::OK);
    for query in ["?limit=0", "?limit=101", "?cursor=not-a-cursor", "?limit=abc"] {
        let resp = list(&app, query, &app.api_key).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    let empty: Value = list(&app, "", &app.api_key).await.json().await.unwrap();
    assert_eq!(empty, json!({"items": []}));
}

#[tokio::test]
async fn patch_changes_only_the_fields_sent() {
    let app = spawn_app().await;
    let original = session_titled("Before", &["one"]);
    let id = app.create(original.clone()).await["id"].as_str().unwrap().to_owned();
    let in_a_week = (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339();
    let resp = patch(
        &app,
        &id,
        json!({"title": "After", "description": "d", "isPublic": false, "expiresAt": in_a_week}),
        &app.api_key,
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let updated: Value = resp.json().await.unwrap();
    assert_eq!(
        (updated["title"].as_str(), updated["tags"].clone()),
        (Some("After"), json!(["one"]))
    );
    assert_eq!(updated["isPublic"], false);
    assert!(updated["expiresAt"].is_string());

    let resp = patch(
        &app,
        &id,
        json!({"title": null, "description": null, "expiresAt": null, "tags": []}),
        &app.api_key,
    )
    .await;
    let updated: Value = resp.json().await.unwrap();
    assert_eq!(
        updated["title"], "Config route module share path api token server the.",
        "null restores the default"
    );
    assert!(updated["description"].is_null() && updated["expiresAt"].is_null());
    assert_eq!(updated["tags"], json!([]));
    assert_eq!(updated["isPublic"], false, "untouched");

    let read = app
        .client
        .get(app.url(&format!("/api/sessions/{id}")))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(read.bytes().await.unwrap(), original, "PATCH never changes the document");
    // Nor how it is stored: the rewritten record still says so.
    let object = app.store.get(&share_path("alice", &id)).await.unwrap().bytes().await.unwrap();
    let line = &object[..object.len() - document_part(&object).len()];
    let record: Value = serde_json::from_slice(line).unwrap();
    assert_eq!(record["encoding"], "gzip", "{record}");
}

#[tokio::test]
async fn patch_refuses_bad_input_strangers_and_missing_shares() {
    let app = spawn_app().await;
    let bob = app.key_for("bob").await;
    let id = app.create(small_session()).await["id"].as_str().unwrap().to_owned();
    for body in [
        json!({"isPublic": "yes"}),
        json!({"colour": "red"}),
        json!({"tags": ["a,b"]}),
        json!({"title": "x".repeat(201)}),
        json!([1]),
    ] {
        let resp = patch(&app, &id, body.clone(), &app.api_key).await;
        assert_error(resp, StatusCode::BAD_REQUEST, "INVALID_REQUEST").await;
    }
    assert_error(
        patch(&app, &id, json!({"title": "mine now"}), &bob).await,
        StatusCode::FORBIDDEN,
        "ACCESS_DENIED",
    )
    .await;
    assert_error(
        patch(&app, "HzKozOxIxl4dO0YijPu0q", json!({"title": "x"}), &app.api_key).await,
        StatusCode::NOT_FOUND,
        "SESSION_NOT_FOUND",
    )
    .await;
    let anonymous = app
        .client
        .patch(app.url(&format!("/api/sessions/{id}")))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "MISSING_API_KEY").await;
    let text = app
        .client
        .patch(app.url(&format!("/api/sessions/{id}")))
        .header("Syntx-Api-Key", &app.api_key)
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_error(text, StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE").await;
}

/// Parallel PATCHes, each changing another field, spread over two replicas of the service
/// on the same storage: none may be lost.
#[tokio::test]
async fn parallel_patches_on_two_replicas_do_not_lose_one_another() {
    let first = spawn_app().await;
    let second = spawn_app_with(AppOptions {
        storage_url: Some(first.storage_url.clone()),
        ..Default::default()
    })
    .await;
    for round in 0..3 {
        let id = first.create(small_session()).await["id"].as_str().unwrap().to_owned();
        let later = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
        let changes = [
            json!({"title": format!("round {round}")}),
            json!({"description": "described"}),
            json!({"tags": ["parallel"]}),
            json!({"isPublic": false}),
            json!({"expiresAt": later}),
        ];
        let tasks: Vec<_> = changes
            .into_iter()
            .enumerate()
            .map(|(i, change)| {
                let app = if i % 2 == 0 { &first } else { &second };
                let (client, url, key) = (
                    app.client.clone(),
                    app.url(&format!("/api/sessions/{id}")),
                    first.api_key.clone(),
                );
                tokio::spawn(async move {
                    client
                        .patch(url)
                        .header("Content-Type", "application/json")
                        .header("Syntx-Api-Key", key)
                        .body(change.to_string())
                        .send()
                        .await
                        .unwrap()
                        .status()
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), StatusCode::OK);
        }
        let list: Value = list(&first, "", &first.api_key).await.json().await.unwrap();
        let item = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id.as_str())
            .unwrap()
            .clone();
        assert_eq!(item["title"], format!("round {round}"), "{item}");
        assert_eq!(item["description"], "described", "{item}");
        assert_eq!(item["tags"], json!(["parallel"]), "{item}");
        assert_eq!(item["isPublic"], false, "{item}");
        assert!(item["expiresAt"].is_string(), "{item}");
    }
}

#[tokio::test]
async fn delete_removes_everything_and_is_safe_to_retry() {
    let app = spawn_app().await;
    let bob = app.key_for("bob").await;
    let keep = app.create(small_session()).await["id"].as_str().unwrap().to_owned();
    let id = app.create(small_session()).await["id"].as_str().unwrap().to_owned();

    assert_error(delete(&app, &id, &bob).await, StatusCode::FORBIDDEN, "ACCESS_DENIED").await;
    assert_eq!(app.get(&format!("/api/sessions/{id}")).await.status(), StatusCode::OK);

    assert_eq!(delete(&app, &id, &app.api_key).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        delete(&app, &id, &app.api_key).await.status(),
        StatusCode::NO_CONTENT,
        "a retried DELETE"
    );
    for path in [format!("/api/sessions/{id}"), format!("/api/sessions/alice/{id}")] {
        assert_error(app.get(&path).await, StatusCode::NOT_FOUND, "SESSION_NOT_FOUND").await;
    }
    let left: HashSet<String> = app.stored_sessions().await.into_iter().collect();
    let expected: HashSet<String> = [crate::helpers::share_path("alice", &keep).to_string()].into();
    assert_eq!(left, expected);
    let anonymous =
        app.client.delete(app.url(&format!("/api/sessions/{keep}"))).send().await.unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "MISSING_API_KEY").await;
}
