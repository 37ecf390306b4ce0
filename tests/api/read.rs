//! Reading a share: by id (older clients), by share code, and the public route.

use reqwest::StatusCode;

use crate::helpers::{assert_error, assert_importable, raw_get, small_session, spawn_app};

#[tokio::test]
async fn older_clients_read_by_id_with_or_without_a_key() {
    let app = spawn_app().await;
    let id = app.create(small_session()).await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/sessions/{id}");

    let anonymous = app.get(&path).await;
    assert_eq!(anonymous.status(), StatusCode::OK);
    assert!(anonymous.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    // A browser never takes the session for anything but JSON.
    assert_eq!(anonymous.headers()["x-content-type-options"], "nosniff");
    let bytes = anonymous.bytes().await.unwrap();
    assert_eq!(bytes, small_session());
    assert_importable(&bytes);

    // Older extensions send the key as a bearer token; newer ones as Syntx-Api-Key.
    let bearer = app.client.get(app.url(&path)).bearer_auth(&app.api_key).send().await.unwrap();
    assert_eq!(bearer.status(), StatusCode::OK);
    let header =
        app.client.get(app.url(&path)).header("Syntx-Api-Key", &app.api_key).send().await.unwrap();
    assert_eq!(header.status(), StatusCode::OK);
}

/// The extension sends the key the Syntx website issued on every import; this service may
/// not know it. Such a key reads as no key: public shares are readable, private ones are not.
#[tokio::test]
async fn an_unknown_or_revoked_key_reads_as_no_key() {
    let app = spawn_app().await;
    let public = app.create(small_session()).await["id"].as_str().unwrap().to_owned();
    let mut doc: serde_json::Value =
        serde_json::from_slice(&crate::helpers::another_task(&small_session())).unwrap();
    doc["isPublic"] = serde_json::json!(false);
    let private = app.create(doc.to_string()).await["id"].as_str().unwrap().to_owned();
    let keys = session_share::storage::KeyStore::new(app.store.clone());
    let alice = session_share::domain::Username::parse("alice").unwrap();
    let (revoked, record) = keys.create(&alice, None).await.unwrap();
    keys.revoke(&record.key_id).await.unwrap();
    let revoked = revoked.expose_secret().to_owned();

    for key in ["ssk_from_the_syntx_website", revoked.as_str()] {
        for path in [
            format!("/api/sessions/{public}"),
            format!("/api/sessions/alice/{public}"),
            format!("/api/public/sessions/{public}"),
        ] {
            let bearer = app.client.get(app.url(&path)).bearer_auth(key).send().await.unwrap();
            assert_eq!(bearer.status(), StatusCode::OK, "{path}");
            assert_eq!(bearer.bytes().await.unwrap(), small_session());
            let header =
                app.client.get(app.url(&path)).header("Syntx-Api-Key", key).send().await.unwrap();
            assert_eq!(header.status(), StatusCode::OK, "{path}");
        }
        // The owner's name on a key that is not valid opens nothing private.
        for path in [format!("/api/sessions/{private}"), format!("/api/sessions/alice/{private}")] {
            let resp = app.client.get(app.url(&path)).bearer_auth(key).send().await.unwrap();
            assert_error(resp, StatusCode::NOT_FOUND, "SESSION_NOT_FOUND").await;
        }
    }
    let owner = app
        .client
        .get(app.url(&format!("/api/sessions/{private}")))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(owner.status(), StatusCode::OK);
}

#[tokio::test]
async fn share_codes_read_directly_and_usernames_are_case_insensitive() {
    let app = spawn_app().await;
    let id = app.create(small_session()).await["id"].as_str().unwrap().to_owned();
    for code in [format!("alice/{id}"), format!("Alice/{id}")] {
        let resp = app.get(&format!("/api/sessions/{code}")).await;
        assert_eq!(resp.status(), StatusCode::OK, "{code}");
        assert_eq!(resp.bytes().await.unwrap(), small_session());
    }
    // Somebody else's name with this id: not found, as if it did not exist.
    let resp = app.get(&format!("/api/sessions/bob/{id}")).await;
    assert_error(resp, StatusCode::NOT_FOUND, "SESSION_NOT_FOUND").await;
}

#[tokio::test]
async fn unknown_ids_are_404_session_not_found_on_every_read_route() {
    let app = spawn_app().await;
    let missing = "HzKozOxIxl4dO0YijPu0q";
    for path in [
        format!("/api/sessions/{missing}"),
        format!("/api/sessions/alice/{missing}"),
        format!("/api/public/sessions/{missing}"),
    ] {
        assert_error(app.get(&path).await, StatusCode::NOT_FOUND, "SESSION_NOT_FOUND").await;
    }
}

#[tokio::test]
async fn etags_let_clients_skip_unchanged_downloads() {
    let app = spawn_app().await;
    let id = app.create(small_session()).await["id"].as_str().unwrap().to_owned();
    for path in [
        format!("/api/sessions/{id}"),
        format!("/api/sessions/alice/{id}"),
        format!("/api/public/sessions/{id}"),
    ] {
        let first = app.get(&path).await;
        let etag = first.headers()["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        let again =
            app.client.get(app.url(&path)).header("If-None-Match", &etag).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.bytes().await.unwrap().is_empty());
        let stale = app
            .client
            .get(app.url(&path))
            .header("If-None-Match", "\"stale\"")
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), StatusCode::OK);
        assert_eq!(stale.headers()["etag"].to_str().unwrap(), etag);
        assert_eq!(stale.bytes().await.unwrap(), small_session());
    }
}

#[tokio::test]
async fn hostile_ids_and_usernames_are_400_and_never_reach_storage() {
    let app = spawn_app().await;
    let id = app.create(small_session()).await["id"].as_str().unwrap().to_owned();
    let before = app.stored_objects().await;
    let long = "a".repeat(65);
    let cases = [
        ("/api/sessions/..%2F..%2Fkeys".to_owned(), "INVALID_PATH"),
        ("/api/sessions/%2E%2E".to_owned(), "INVALID_PATH"),
        ("/api/sessions/%2e".to_owned(), "INVALID_PATH"),
        ("/api/sessions/..".to_owned(), "INVALID_PATH"),
        ("/api/sessions/../../keys".to_owned(), "INVALID_PATH"),
        ("/api/sessions/abc%00def".to_owned(), "INVALID_ID"),
        ("/api/sessions/%C3%A9t%C3%A9".to_owned(), "INVALID_ID"),
        (format!("/api/sessions/{long}"), "INVALID_ID"),
        ("/api/sessions/id.json".to_owned(), "INVALID_ID"),
        (format!("/api/sessions/..%2Fkeys/{id}"), "INVALID_PATH"),
        (format!("/api/sessions/%2E%2E/{id}"), "INVALID_PATH"),
        (format!("/api/sessions/alice%2F..%2F..%2Fkeys/{id}"), "INVALID_PATH"),
        (format!("/api/sessions/alice%2Fx/{id}"), "INVALID_PATH"),
        (format!("/api/sessions/%C3%A1lice/{id}"), "INVALID_USERNAME"),
        (format!("/api/sessions/al%0Aice/{id}"), "INVALID_USERNAME"),
        (format!("/api/sessions/{long}/{id}"), "INVALID_USERNAME"),
        ("/api/sessions/alice/..%2F..%2Fkeys".to_owned(), "INVALID_PATH"),
        ("/api/public/sessions/%2e%2e%2fids".to_owned(), "INVALID_PATH"),
        ("/api/sessions/alice/abc%5C..%5Ckeys".to_owned(), "INVALID_ID"),
    ];
    for (path, code) in cases {
        let (status, body) = raw_get(&app.address, &path).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(body["code"], code, "{path}: {body}");
    }
    // Through the import body too.
    for body in [
        serde_json::json!({"id": "../../keys"}),
        serde_json::json!({"id": id, "username": "../keys"}),
        serde_json::json!({"id": id, "username": "al/ice"}),
        serde_json::json!({"id": "\u{1F600}"}),
    ] {
        let resp = app.post_json("/api/sessions", body.to_string()).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    assert_eq!(app.stored_objects().await, before);
}
