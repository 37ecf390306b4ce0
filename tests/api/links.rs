//! Signed links and team shares: private shares the right people read. A link opens one
//! share (page, JSON and Markdown forms, images, revisions, API read) while it holds, for
//! whoever has it; a team share opens to the keys of its owner's team.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use session_share::{
    domain::{Team, Username},
    storage::TeamStore,
};

use crate::helpers::{
    TestApp, another_task, assert_error, fixture, fresh_session, spawn_app, spawn_app_with,
    spawn_replica, with_message,
};

/// `POST /api/sessions/{id}/links` with `key`.
async fn make_link(app: &TestApp, id: &str, key: &str, body: Value) -> reqwest::Response {
    app.post_json_as(&format!("/api/sessions/{id}/links"), key, body.to_string())
        .send()
        .await
        .unwrap()
}

/// A large session of its own task (it has screenshots), made private; its id, its bytes and
/// the message that holds an image.
async fn private_share(app: &TestApp) -> (String, bytes::Bytes, usize) {
    let upload = another_task(&fixture("large.json"));
    let doc: Value = serde_json::from_slice(&upload).unwrap();
    let image = doc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .position(|m| m["images"].as_array().is_some_and(|i| !i.is_empty()))
        .unwrap();
    let id = app.create_id(upload.clone()).await;
    let private = app.patch(&id, json!({"isPublic": false}), &app.api_key).await;
    assert_eq!(private.status(), StatusCode::OK);
    (id, upload, image)
}

/// Every way a link reads a share, each as a browser or the older extension asks; the status
/// of each.
async fn through(app: &TestApp, id: &str, token: &str, image: usize) -> Vec<(String, StatusCode)> {
    let mut seen = Vec::new();
    for path in [
        format!("/session/{id}?link={token}"),
        format!("/session/{id}.md?link={token}"),
        format!("/session/{id}/images/{image}/0?link={token}"),
    ] {
        let status = app.page(&path).await.status();
        seen.push((path, status));
    }
    for path in [
        format!("/session/{id}?link={token}"),
        format!("/api/sessions/{id}?link={token}"),
        format!("/api/sessions/{id}/revisions?link={token}"),
    ] {
        let status = app.get(&path).await.status();
        seen.push((format!("{path} (JSON)"), status));
    }
    seen
}

fn token_of(url: &str) -> String {
    url.split_once("?link=").unwrap().1.to_owned()
}

#[tokio::test]
async fn a_signed_link_opens_a_private_share_until_it_expires_or_is_revoked() {
    let app = spawn_app().await;
    let (id, upload, image) = private_share(&app).await;
    assert_eq!(app.page(&format!("/session/{id}")).await.status(), StatusCode::NOT_FOUND);

    let made = make_link(&app, &id, &app.api_key, json!({})).await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let made: Value = made.json().await.unwrap();
    let url = made["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/session/{id}?link=", app.address)), "{url}");
    let expires =
        chrono::DateTime::parse_from_rfc3339(made["expiresAt"].as_str().unwrap()).unwrap();
    let week = chrono::Utc::now() + chrono::Duration::days(7);
    assert!((expires.with_timezone(&chrono::Utc) - week).num_seconds().abs() < 60, "{expires}");
    assert!(!url.contains(&app.api_key), "a link holds no key");
    let token = token_of(url);

    let seen = through(&app, &id, &token, image).await;
    assert!(seen.iter().all(|(_, s)| *s == StatusCode::OK), "{seen:?}");
    // The page shows the session, links its images and pages through the link, and is for
    // its holder alone.
    let page = app.page(&format!("/session/{id}?link={token}")).await;
    assert_eq!(page.headers()["cache-control"], "private, no-store");
    assert_eq!(page.headers()["x-robots-tag"], "noindex");
    let html = page.text().await.unwrap();
    assert!(html.contains("<article"));
    assert!(html.contains(&format!("/images/{image}/0?link={token}")), "images carry the link");
    // The JSON form and the API read, byte for byte; the older extension GETs the pasted URL
    // as it stands with Accept: application/json (and its own key, which reads as none here).
    let older = app
        .client
        .get(url)
        .header("Accept", "application/json")
        .header("Authorization", "Bearer a-website-key-this-service-does-not-know")
        .send()
        .await
        .unwrap();
    assert_eq!(older.status(), StatusCode::OK);
    assert_eq!(older.bytes().await.unwrap(), upload);
    let api = app.get(&format!("/api/sessions/{id}?link={token}")).await;
    assert_eq!(api.bytes().await.unwrap(), upload);
    let markdown = app.page(&format!("/session/{id}.md?link={token}")).await.text().await.unwrap();
    assert!(markdown.starts_with("# "), "{}", &markdown[..80.min(markdown.len())]);
    let image_bytes = app.page(&format!("/session/{id}/images/{image}/0?link={token}")).await;
    assert!(image_bytes.bytes().await.unwrap().starts_with(b"\x89PNG"));

    // Changed by one character, or for another share: as if there were no share.
    let mut forged = token.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let seen = through(&app, &id, &forged, image).await;
    assert!(seen.iter().all(|(_, s)| *s == StatusCode::NOT_FOUND), "{seen:?}");
    let (other, _, _) = private_share(&app).await;
    let seen = through(&app, &other, &token, image).await;
    assert!(seen.iter().all(|(_, s)| *s == StatusCode::NOT_FOUND), "A's link on B: {seen:?}");

    // Revoked: every link of the share, on every replica, at once; a new one works.
    let replica = spawn_replica(&app, |_| {}).await;
    assert!(through(&replica, &id, &token, image).await.iter().all(|(_, s)| *s == StatusCode::OK));
    let revoke = app
        .client
        .delete(app.url(&format!("/api/sessions/{id}/links")))
        .header("Syntx-Api-Key", &app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    for at in [&app, &replica] {
        let seen = through(at, &id, &token, image).await;
        assert!(seen.iter().all(|(_, s)| *s == StatusCode::NOT_FOUND), "revoked: {seen:?}");
    }
    let again: Value = make_link(&app, &id, &app.api_key, json!({})).await.json().await.unwrap();
    let fresh = token_of(again["url"].as_str().unwrap());
    assert!(through(&replica, &id, &fresh, image).await.iter().all(|(_, s)| *s == StatusCode::OK));

    // An expired link is no link.
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let brief: Value = make_link(&app, &id, &app.api_key, json!({"expiresAt": soon.to_rfc3339()}))
        .await
        .json()
        .await
        .unwrap();
    let brief = token_of(brief["url"].as_str().unwrap());
    assert_eq!(app.get(&format!("/api/sessions/{id}?link={brief}")).await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let seen = through(&app, &id, &brief, image).await;
    assert!(seen.iter().all(|(_, s)| *s == StatusCode::NOT_FOUND), "expired: {seen:?}");

    // A deleted share is never readable through a link.
    assert_eq!(app.delete(&id, &app.api_key).await.status(), StatusCode::NO_CONTENT);
    let seen = through(&app, &id, &fresh, image).await;
    assert!(seen.iter().all(|(_, s)| *s == StatusCode::NOT_FOUND), "deleted: {seen:?}");
}

#[tokio::test]
async fn links_are_their_owners_to_make_within_the_limits() {
    let app = spawn_app_with(|s| s.max_ttl = Duration::from_secs(30 * 24 * 3600)).await;
    let id = app.create_id(fresh_session()).await;
    let bob = app.key_for("bob").await;
    assert_error(
        make_link(&app, &id, &bob, json!({})).await,
        StatusCode::FORBIDDEN,
        "ACCESS_DENIED",
    )
    .await;
    let keyless = app
        .client
        .post(app.url(&format!("/api/sessions/{id}/links")))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(keyless.status(), StatusCode::UNAUTHORIZED);
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let far = (chrono::Utc::now() + chrono::Duration::days(60)).to_rfc3339();
    for at in [&past, &far] {
        let resp = make_link(&app, &id, &app.api_key, json!({"expiresAt": at})).await;
        assert_error(resp, StatusCode::BAD_REQUEST, "INVALID_REQUEST").await;
    }
    // Given twice, an expiry is refused rather than read as the last one.
    let within = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let twice = format!(r#"{{"expiresAt": "{past}", "expiresAt": "{within}"}}"#);
    let path = format!("/api/sessions/{id}/links");
    let resp = app.post_json_as(&path, &app.api_key, twice).send().await.unwrap();
    let error = assert_error(resp, StatusCode::BAD_REQUEST, "INVALID_REQUEST").await;
    assert!(error["error"].as_str().unwrap().contains("duplicate key `expiresAt`"), "{error}");
    let missing = make_link(&app, "K9gGyX8OAAAAAAAAAAAAA", &app.api_key, json!({})).await;
    assert_error(missing, StatusCode::NOT_FOUND, "SESSION_NOT_FOUND").await;
    // A link's default expiry is within --max-ttl, and never past it.
    let short = spawn_app_with(|s| s.max_ttl = Duration::from_secs(3600)).await;
    let id = short.create_id(fresh_session()).await;
    let made: Value = make_link(&short, &id, &short.api_key, json!({})).await.json().await.unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(made["expiresAt"].as_str().unwrap()).unwrap();
    assert!(expires.with_timezone(&chrono::Utc) <= chrono::Utc::now() + chrono::Duration::hours(1));
}

/// The page routes read a key as the API does: an agent holding the owner's key reads the
/// Markdown (and the page) of a private share.
#[tokio::test]
async fn page_routes_honour_the_key_header() {
    let app = spawn_app().await;
    let (id, _, _) = private_share(&app).await;
    for path in [format!("/session/{id}.md"), format!("/session/{id}")] {
        assert_eq!(app.get_as(&path, &app.api_key).await.status(), StatusCode::OK, "{path}");
        assert_eq!(app.page(&path).await.status(), StatusCode::NOT_FOUND, "{path} without a key");
    }
    let bob = app.key_for("bob").await;
    assert_eq!(
        app.get_as(&format!("/session/{id}.md"), &bob).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_team_share_is_read_by_its_owners_team_only() {
    let app = spawn_app_with(|s| s.metadata_cache_ttl = Duration::from_secs(1)).await;
    let teams = TeamStore::new(app.store.clone());
    let acme = Team::parse("acme").unwrap();
    for user in ["alice", "bob"] {
        teams.set(&Username::parse(user).unwrap(), Some(&acme)).await.unwrap();
    }
    let (bob, carol) = (app.key_for("bob").await, app.key_for("carol").await);
    let mut doc: Value = serde_json::from_slice(&fresh_session()).unwrap();
    doc["visibility"] = json!("team");
    let body = serde_json::to_vec(&doc).unwrap();
    let created = app.create(body.clone()).await;
    assert_eq!(
        (created["visibility"].as_str(), created["isPublic"].as_bool()),
        (Some("team"), Some(false))
    );
    let id = created["id"].as_str().unwrap().to_owned();

    // bob, as the newer extension imports (POST, its key) and the older one (GET, bearer).
    let newer = app.import(json!({"id": id}), Some(&bob)).await;
    assert_eq!(newer.status(), StatusCode::OK);
    assert_eq!(newer.bytes().await.unwrap(), body);
    let older = app
        .client
        .get(app.url(&format!("/api/sessions/{id}")))
        .header("Authorization", format!("Bearer {bob}"))
        .send()
        .await
        .unwrap();
    assert_eq!(older.status(), StatusCode::OK);
    for path in [format!("/api/sessions/alice/{id}"), format!("/api/sessions/{id}/revisions")] {
        assert_eq!(app.get_as(&path, &bob).await.status(), StatusCode::OK, "{path}");
    }
    // carol (no team) and anyone else: as if there were no share.
    for who in [Some(carol.as_str()), None] {
        let import = app.import(json!({"id": id}), who).await;
        assert_error(import, StatusCode::NOT_FOUND, "SESSION_NOT_FOUND").await;
    }
    assert_eq!(app.page(&format!("/session/{id}")).await.status(), StatusCode::NOT_FOUND);

    // bob's team list has it, with a link a browser opens; carol's is empty.
    let listed: Value = app.get_as("/api/team/sessions", &bob).await.json().await.unwrap();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["id"], id.as_str());
    let open = items[0]["linkUrl"].as_str().unwrap();
    assert_eq!(app.page(open.trim_start_matches(&app.address)).await.status(), StatusCode::OK);
    let empty: Value = app.get_as("/api/team/sessions", &carol).await.json().await.unwrap();
    assert_eq!(empty["items"], json!([]));
    // A public share of alice's is not a team share.
    app.create_id(with_message(&fresh_session(), "public")).await;
    let listed: Value = app.get_as("/api/team/sessions", &bob).await.json().await.unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);

    // bob moved out of the team: within the key cache bound, his key reads as no one's.
    teams.set(&Username::parse("bob").unwrap(), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let gone = app.import(json!({"id": id}), Some(&bob)).await;
    assert_error(gone, StatusCode::NOT_FOUND, "SESSION_NOT_FOUND").await;
    // visibility and isPublic: either says it, both must agree.
    let both =
        app.patch(&id, json!({"visibility": "public", "isPublic": false}), &app.api_key).await;
    assert_error(both, StatusCode::BAD_REQUEST, "INVALID_REQUEST").await;
    let public = app.patch(&id, json!({"visibility": "public"}), &app.api_key).await;
    let public: Value = public.json().await.unwrap();
    assert_eq!(
        (public["visibility"].as_str(), public["isPublic"].as_bool()),
        (Some("public"), Some(true))
    );
}
