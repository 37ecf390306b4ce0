//! What caches in front of the service (a proxy, a CDN) are told: an answer that a key may
//! have decided is private and never stored; a public read may be kept but is asked for again
//! (with its `ETag`), so a share made private stops at once; errors are not kept.

use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::{another_task, fixture, fresh_session, spawn_app};

fn header(resp: &Response, name: &str) -> String {
    resp.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// Private, never stored, and varying on both key headers.
fn assert_private(resp: &Response, what: &str) {
    assert_eq!(header(resp, "cache-control"), "private, no-store", "{what}");
    let vary = header(resp, "vary");
    assert!(vary.contains("Syntx-Api-Key") && vary.contains("Authorization"), "{what}: {vary}");
}

/// Kept, but asked for again; varying on both key headers.
fn assert_revalidated(resp: &Response, what: &str) {
    assert_eq!(header(resp, "cache-control"), "no-cache", "{what}");
    let vary = header(resp, "vary");
    assert!(vary.contains("Syntx-Api-Key") && vary.contains("Authorization"), "{what}: {vary}");
}

#[tokio::test]
async fn answers_a_key_decided_are_private_and_public_reads_are_revalidated() {
    let app = spawn_app().await;
    let key = app.api_key.clone();
    let public = app.create_id(fresh_session()).await;
    let private = app.create_id(fresh_session()).await;
    assert_eq!(
        app.patch(&private, json!({"isPublic": false}), &key).await.status(),
        StatusCode::OK
    );

    // With a key, whatever the route.
    let bearer = app
        .client
        .get(app.url(&format!("/api/sessions/{private}")))
        .header("Authorization", format!("Bearer {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), StatusCode::OK);
    assert_private(&bearer, "a private share read with a bearer key");
    for path in [
        format!("/api/sessions/{private}"),
        format!("/api/sessions/{public}"),
        format!("/api/sessions/alice/{private}"),
        format!("/api/sessions/{private}/revisions"),
        "/api/sessions".to_owned(),
    ] {
        let resp = app.get_as(&path, &key).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_private(&resp, &path);
    }
    let json_form = app
        .client
        .get(app.url(&format!("/session/{private}")))
        .header("Accept", "application/json")
        .header("Syntx-Api-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(json_form.status(), StatusCode::OK);
    assert_private(&json_form, "the page's JSON form with a key");
    let import = app.import(json!({"id": private}), Some(&key)).await;
    assert_eq!(import.status(), StatusCode::OK);
    assert_private(&import, "an import with a key");
    let created = app.post_json("/api/sessions/create", fresh_session()).send().await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_private(&created, "a create");
    let patched = app.patch(&public, json!({"title": "t"}), &key).await;
    assert_private(&patched, "a PATCH");

    // Without one: public reads are kept but revalidated, with their ETag.
    let read = app.get(&format!("/api/sessions/{public}")).await;
    assert_eq!(read.status(), StatusCode::OK);
    assert_revalidated(&read, "a public read");
    let etag = header(&read, "etag");
    assert!(!etag.is_empty());
    let again = app
        .client
        .get(app.url(&format!("/api/sessions/{public}")))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_revalidated(&again, "a 304");
    for path in [
        format!("/api/sessions/alice/{public}"),
        format!("/api/public/sessions/{public}"),
        format!("/api/sessions/{public}/revisions"),
        format!("/session/{public}.md"),
    ] {
        let resp = app.get(&path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_revalidated(&resp, &path);
    }
    let page = app.page(&format!("/session/{public}")).await;
    assert_revalidated(&page, "the page");

    // An image: revalidated by its ETag, which a 304 answers.
    let large = another_task(&fixture("large.json"));
    let doc: serde_json::Value = serde_json::from_slice(&large).unwrap();
    let message = doc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .position(|m| m["images"].as_array().is_some_and(|i| !i.is_empty()))
        .unwrap();
    let with_images = app.create_id(large).await;
    let path = format!("/session/{with_images}/images/{message}/0");
    let image = app.page(&path).await;
    assert_eq!(image.status(), StatusCode::OK);
    assert_revalidated(&image, "an image");
    let tag = header(&image, "etag");
    let cached = app.client.get(app.url(&path)).header("If-None-Match", &tag).send().await.unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        app.patch(&with_images, json!({"isPublic": false}), &key).await.status(),
        StatusCode::OK
    );
    let gone = app.client.get(app.url(&path)).header("If-None-Match", &tag).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND, "a cache asking again learns it is private");

    // Errors are not kept; Swagger UI cannot be framed.
    let missing = app.get(&format!("/api/sessions/{private}")).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&missing, "cache-control"), "no-store");
    let docs = app.get("/docs").await;
    assert!(header(&docs, "content-security-policy").contains("frame-ancestors 'none'"));
}
