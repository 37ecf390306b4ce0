//! Owners list, change and delete their shares.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, fresh_session, share_key, small_session, spawn_app, spawn_replica,
    stored_record,
};

/// A session of a task of its own, titled and tagged.
fn session_titled(title: &str, tags: &[&str]) -> Vec<u8> {
    let mut doc: Value = serde_json::from_slice(&fresh_session()).unwrap();
    doc["title"] = json!(title);
    doc["tags"] = json!(tags);
    serde_json::to_vec(&doc).unwrap()
}

/// Pages through `key`'s listing `limit` at a time, with `query` added.
async fn pages(app: &TestApp, key: &str, limit: usize, query: &str) -> Vec<Vec<Value>> {
    let (mut pages, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let mut q = format!("?limit={limit}{query}");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={c}"));
        }
        let page: Value = app.list(&q, key).await.json().await.unwrap();
        pages.push(page["items"].as_array().unwrap().clone());
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return pages,
        }
    }
}

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn listing_is_newest_first_paginated_and_only_yours() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for i in 0..5 {
        let tags: &[&str] = if i % 2 == 0 { &["even"] } else { &["odd"] };
        created.push(app.create_id(session_titled(&format!("share number {i}"), tags)).await);
    }
    let bob = app.key_for("bob").await;
    app.share_as(&bob, small_session()).await;

    let pages = pages(&app, &app.api_key, 2, "").await;
    assert!(pages.iter().all(|p| p.len() <= 2));
    let seen: Vec<String> = pages.iter().flat_map(|p| ids(p)).collect();
    for item in pages.iter().flatten() {
        let id = item["id"].as_str().unwrap();
        assert_eq!(item["shareCode"], format!("alice/{id}"));
        assert_eq!(item["url"], format!("{}/session/{id}", app.address));
        assert!(item["size"].as_u64().unwrap() > 3000);
        assert_eq!((item["messageCount"].as_u64(), item["revision"].as_u64()), (Some(8), Some(1)));
        assert_eq!(item["revisionCount"], 1);
    }
    created.reverse();
    assert_eq!(seen, created, "newest first, each once, none of bob's");

    let evens: Value = app.list("?tag=EVEN", &app.api_key).await.json().await.unwrap();
    assert_eq!(evens["items"].as_array().unwrap().len(), 3);
    let found: Value = app.list("?q=NUMBER%203", &app.api_key).await.json().await.unwrap();
    let titles: Vec<&str> =
        found["items"].as_array().unwrap().iter().map(|i| i["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["share number 3"]);
    let by_task: Value = app.list("?q=route%20module", &app.api_key).await.json().await.unwrap();
    assert_eq!(by_task["items"].as_array().unwrap().len(), 5, "q searches the task prompt too");
}

/// The order is when each share was made: changing a share's options, or sharing its task
/// again, neither moves it nor lets a cursor skip or repeat it.
#[tokio::test]
async fn changes_neither_reorder_a_listing_nor_make_a_cursor_skip_or_repeat() {
    let app = spawn_app().await;
    let mut bodies = Vec::new();
    for i in 0..6 {
        let body = session_titled(&format!("share {i}"), &[]);
        bodies.push((app.create_id(body.clone()).await, body));
    }
    let newest_first: Vec<String> = bodies.iter().rev().map(|(id, _)| id.clone()).collect();
    let first: Value = app.list("?limit=2", &app.api_key).await.json().await.unwrap();
    assert_eq!(ids(first["items"].as_array().unwrap()), newest_first[..2]);
    // Between pages: the oldest share is renamed, and the one after the cursor shared again.
    let (oldest, _) = &bodies[0];
    assert_eq!(
        app.patch(oldest, json!({"title": "renamed"}), &app.api_key).await.status(),
        StatusCode::OK
    );
    let (_, third_body) = &bodies[3];
    let again = crate::helpers::with_message(third_body, "later work");
    assert_eq!(app.create(again).await["revision"], 2);
    let cursor = first["nextCursor"].as_str().unwrap();
    let mut seen = ids(first["items"].as_array().unwrap());
    let mut cursor = Some(cursor.to_owned());
    while let Some(c) = cursor {
        let page: Value =
            app.list(&format!("?limit=2&cursor={c}"), &app.api_key).await.json().await.unwrap();
        seen.extend(ids(page["items"].as_array().unwrap()));
        cursor = page["nextCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, newest_first, "each share once, where it was");
}

#[tokio::test]
async fn listing_needs_a_key_and_sane_parameters() {
    let app = spawn_app().await;
    let anonymous = app.get("/api/sessions").await;
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "MISSING_API_KEY").await;
    // Unlike reads of a share, listing needs a key that is valid here.
    let unknown = app.list("", "ssk_unknown").await;
    assert_error(unknown, StatusCode::UNAUTHORIZED, "INVALID_API_KEY").await;
    // Empty parameters are no parameters.
    let empty = app.list("?cursor=&tag=&q=", &app.api_key).await;
    assert_eq!(empty.status(), StatusCode::OK);
    for query in ["?limit=0", "?limit=101", "?cursor=not-a-cursor", "?limit=abc"] {
        let resp = app.list(query, &app.api_key).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    let empty: Value = app.list("", &app.api_key).await.json().await.unwrap();
    assert_eq!(empty, json!({"items": []}));
}

#[tokio::test]
async fn patch_changes_only_the_fields_sent() {
    let app = spawn_app().await;
    let original = session_titled("Before", &["one"]);
    let id = app.create_id(original.clone()).await;
    let in_a_week = (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339();
    let change =
        json!({"title": "After", "description": "d", "isPublic": false, "expiresAt": in_a_week});
    let resp = app.patch(&id, change, &app.api_key).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let updated: Value = resp.json().await.unwrap();
    assert_eq!(
        (updated["title"].as_str(), updated["tags"].clone()),
        (Some("After"), json!(["one"]))
    );
    assert_eq!(updated["isPublic"], false);
    assert!(updated["expiresAt"].is_string());

    let reset = json!({"title": null, "description": null, "expiresAt": null, "tags": []});
    let updated: Value = app.patch(&id, reset, &app.api_key).await.json().await.unwrap();
    assert_eq!(
        updated["title"], "Config route module share path api token server the.",
        "null restores the default"
    );
    assert!(updated["description"].is_null() && updated["expiresAt"].is_null());
    assert_eq!(updated["tags"], json!([]));
    assert_eq!(updated["isPublic"], false, "untouched");

    let read = app.get_as(&format!("/api/sessions/{id}"), &app.api_key).await;
    assert_eq!(read.bytes().await.unwrap(), original, "PATCH never changes the document");
    // The stored file is the same gzip of it; only its header's record changed.
    let stored = app.stored(&share_key("alice", &id)).await;
    assert_eq!(crate::helpers::gunzip(&stored), original);
    assert_eq!(stored_record(&stored)["visibility"], "private");
}

#[tokio::test]
async fn patch_refuses_bad_input_strangers_and_missing_shares() {
    let app = spawn_app().await;
    let bob = app.key_for("bob").await;
    let id = app.create_id(small_session()).await;
    for body in [
        json!({"isPublic": "yes"}),
        json!({"colour": "red"}),
        json!({"tags": ["a,b"]}),
        json!({"title": "x".repeat(201)}),
        json!([1]),
    ] {
        assert_error(
            app.patch(&id, body, &app.api_key).await,
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
        )
        .await;
    }
    let stranger = app.patch(&id, json!({"title": "mine now"}), &bob).await;
    assert_error(stranger, StatusCode::FORBIDDEN, "ACCESS_DENIED").await;
    let missing = app.patch("HzKozOxIxl4dO0YijPu0q", json!({"title": "x"}), &app.api_key).await;
    assert_error(missing, StatusCode::NOT_FOUND, "SESSION_NOT_FOUND").await;
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

/// A field given twice is refused, not read as its last value: which visibility the owner
/// meant is not guessed, and nothing of the PATCH is applied.
#[tokio::test]
async fn a_patch_that_gives_a_field_twice_is_refused_and_changes_nothing() {
    let body = r#"{"visibility": "private", "title": "renamed", "visibility": "public"}"#;
    let error = refused_patch("application/json", body).await;
    assert!(error["error"].as_str().unwrap().contains("duplicate key `visibility`"), "{error}");
}

#[tokio::test]
async fn a_patch_in_latin1_is_refused_naming_the_byte_and_changes_nothing() {
    let body = b"{\"title\": \"caf\xE9\"}".to_vec();
    let error = refused_patch("application/json; charset=iso-8859-1", body).await;
    let message = error["error"].as_str().unwrap();
    assert!(
        message.contains("not UTF-8: byte 0xE9") && message.contains("line 1 column 15"),
        "{error}"
    );
}

/// Sends a PATCH of `body` to a new share, asserts it is refused as 400 `INVALID_REQUEST` and
/// that the share's options are as before; the error's body.
async fn refused_patch(content_type: &str, body: impl Into<reqwest::Body>) -> Value {
    let app = spawn_app().await;
    let id = app.create_id(small_session()).await;
    let before: Value = app.patch(&id, json!({}), &app.api_key).await.json().await.unwrap();
    let refused = app
        .client
        .patch(app.url(&format!("/api/sessions/{id}")))
        .header("Syntx-Api-Key", &app.api_key)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let error = assert_error(refused, StatusCode::BAD_REQUEST, "INVALID_REQUEST").await;
    let after: Value = app.patch(&id, json!({}), &app.api_key).await.json().await.unwrap();
    assert_eq!(after, before);
    error
}

/// Parallel PATCHes, each changing another field, spread over two replicas of the service
/// on the same storage: none may be lost.
#[tokio::test]
async fn parallel_patches_on_two_replicas_do_not_lose_one_another() {
    let first = spawn_app().await;
    let second = spawn_replica(&first, |_| {}).await;
    for round in 0..3 {
        let id = first.create_id(fresh_session()).await;
        let later = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
        let changes = [
            json!({"title": format!("round {round}")}),
            json!({"description": "described"}),
            json!({"tags": ["parallel"]}),
            json!({"isPublic": false}),
            json!({"expiresAt": later}),
        ];
        let patches = changes.into_iter().enumerate().map(|(i, change)| {
            let app = if i % 2 == 0 { &first } else { &second };
            let (id, key) = (id.clone(), first.api_key.clone());
            async move { app.patch(&id, change, &key).await.status() }
        });
        for status in futures::future::join_all(patches).await {
            assert_eq!(status, StatusCode::OK);
        }
        let list: Value = first.list("", &first.api_key).await.json().await.unwrap();
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
    let keep = app.create_id(fresh_session()).await;
    let body = fresh_session();
    let id = app.create_id(body.clone()).await;
    // A second revision, so there is one to delete beside the latest.
    assert_eq!(app.create(crate::helpers::with_message(&body, "more")).await["revision"], 2);

    assert_error(app.delete(&id, &bob).await, StatusCode::FORBIDDEN, "ACCESS_DENIED").await;
    assert_eq!(app.get(&format!("/api/sessions/{id}")).await.status(), StatusCode::OK);

    assert_eq!(app.delete(&id, &app.api_key).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.delete(&id, &app.api_key).await.status(),
        StatusCode::NO_CONTENT,
        "a retried DELETE"
    );
    for path in [
        format!("/api/sessions/{id}"),
        format!("/api/sessions/alice/{id}"),
        format!("/api/sessions/{id}?revision=1"),
        format!("/api/sessions/{id}/revisions"),
    ] {
        assert_error(app.get(&path).await, StatusCode::NOT_FOUND, "SESSION_NOT_FOUND").await;
    }
    // Its revision is gone; a marker of its id stays, holding no session, so the link is
    // never used again.
    assert_eq!(
        app.stored_sessions().await,
        [share_key("alice", &keep), share_key("alice", &id)]
            .iter()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
    assert_eq!(stored_record(&app.stored(&share_key("alice", &id)).await)["kind"], "deleted");
    assert_eq!(app.listed_ids(&app.api_key).await, std::slice::from_ref(&keep));
    // Sharing the same task again makes a new link.
    let again = app.create(body).await;
    assert_ne!(again["id"], id.as_str());
    assert_eq!(again["updated"], false);
    let anonymous =
        app.client.delete(app.url(&format!("/api/sessions/{keep}"))).send().await.unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "MISSING_API_KEY").await;
}
