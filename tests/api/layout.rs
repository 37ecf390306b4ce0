//! How shares are kept in storage: one object each, under the owner's id prefix; and shares
//! stored by earlier versions (a record and a document) keep working through every route.

use std::sync::Arc;

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use session_share::domain::{ShareId, Username};

use crate::helpers::{
    AppOptions, TestApp, assert_error, share_path, small_session, spawn_app, spawn_app_with,
};

const OLDER_ID: &str = "HzKozOxIxl4dO0YijPu0q";

async fn with_key(app: &TestApp, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    app.client.request(method, app.url(path)).header("Syntx-Api-Key", &app.api_key)
}

async fn listed_ids(app: &TestApp, key: &str) -> Vec<String> {
    let resp =
        app.client.get(app.url("/api/sessions")).header("Syntx-Api-Key", key).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let list: Value = resp.json().await.unwrap();
    let mut ids: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().into())
        .collect();
    ids.sort();
    ids
}

/// A share written by a version before one-object shares, exactly as that version wrote it
/// (gzip document, `Content-Encoding` on S3 does not matter here), used through every route.
#[tokio::test]
async fn a_share_stored_by_an_earlier_version_works_through_every_route() {
    let app = spawn_app().await;
    let document = small_session();
    let record = json!({
        "username": "alice", "createdAt": "2026-10-01T12:00:00Z", "title": "From before",
        "tags": ["old"], "isPublic": true, "size": document.len(), "messageCount": 2
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &document).unwrap();
    app.put_older_share(OLDER_ID, &record, gz.finish().unwrap().into()).await;
    let newer = app.create(small_session()).await["id"].as_str().unwrap().to_owned();

    // Read by id and by share code, plain and gzip; the page; a tag answers 304.
    for path in [format!("/api/sessions/{OLDER_ID}"), format!("/api/sessions/alice/{OLDER_ID}")] {
        let resp = app.get(&path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(resp.headers()["x-session-title"], "From before");
        let etag = resp.headers()[header::ETAG].clone();
        assert_eq!(resp.bytes().await.unwrap(), document, "{path}");
        let again = app.client.get(app.url(&path)).header(header::IF_NONE_MATCH, etag);
        assert_eq!(again.send().await.unwrap().status(), StatusCode::NOT_MODIFIED, "{path}");
    }
    assert_error(
        app.get(&format!("/api/sessions/bob/{OLDER_ID}")).await,
        StatusCode::NOT_FOUND,
        "SESSION_NOT_FOUND",
    )
    .await;
    assert_eq!(app.get(&format!("/session/{OLDER_ID}")).await.status(), StatusCode::OK);

    // Listed beside a share made now.
    let mut both = vec![OLDER_ID.to_owned(), newer.clone()];
    both.sort();
    assert_eq!(listed_ids(&app, &app.api_key).await, both);

    // Changed: private now, so anonymous readers get 404; the document is untouched.
    let resp = with_key(&app, reqwest::Method::PATCH, &format!("/api/sessions/{OLDER_ID}"))
        .await
        .header("Content-Type", "application/json")
        .body(json!({"isPublic": false, "title": "Renamed"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["title"], "Renamed");
    let anonymous = app.client.get(app.url(&format!("/api/sessions/{OLDER_ID}"))).send();
    assert_error(anonymous.await.unwrap(), StatusCode::NOT_FOUND, "SESSION_NOT_FOUND").await;
    let owner = with_key(&app, reqwest::Method::GET, &format!("/api/sessions/{OLDER_ID}")).await;
    assert_eq!(owner.send().await.unwrap().bytes().await.unwrap(), document);

    // Deleted: both of its objects go; the newer share stays.
    let resp = with_key(&app, reqwest::Method::DELETE, &format!("/api/sessions/{OLDER_ID}")).await;
    assert_eq!(resp.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(app.stored_sessions().await, [share_path("alice", &newer).to_string()]);
    assert_eq!(listed_ids(&app, &app.api_key).await, [newer]);
}

/// Two owners whose names hash to the same id prefix share a storage prefix: a listing shows
/// only the owner's shares. (A real collision takes about 2^24 names; here every id is drawn
/// with alice's prefix.)
#[tokio::test]
async fn owners_sharing_an_id_prefix_list_only_their_own() {
    let alice = Username::parse("alice").unwrap();
    // Every id is drawn with alice's prefix, whoever shares.
    let ids = Arc::new(move |_: &Username| {
        let random = ShareId::generate_for(&alice);
        let own = format!("{}{}", alice.id_prefix(), &random.as_str()[ShareId::OWNER_PREFIX_LEN..]);
        ShareId::parse(&own).unwrap()
    });
    let app = spawn_app_with(AppOptions { id_source: Some(ids), ..Default::default() }).await;
    let mine = app.create(small_session()).await["id"].as_str().unwrap().to_owned();
    let carol = app.key_for("carol").await;
    let resp = app.share_as(&carol, small_session()).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let theirs = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(mine[..8], theirs[..8], "one prefix");

    // Alice's listing reads the prefix, finds carol's share there too, and leaves it out.
    // (Carol's own listing would read the same prefix had her name really hashed to it.)
    assert_eq!(listed_ids(&app, &app.api_key).await, std::slice::from_ref(&mine));
    // Both read back by id, each its owner's.
    for (id, owner) in [(&mine, "alice"), (&theirs, "carol")] {
        let resp = app.get(&format!("/api/sessions/{id}")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["x-session-owner"], owner);
    }
}
