//! Byte-exact round trips of every realistic session, the 25 MB one included, through both
//! create routes and every read route.

use reqwest::StatusCode;

use crate::helpers::{assert_importable, fixture, spawn_app};

#[tokio::test]
async fn every_fixture_round_trips_byte_for_byte() {
    let app = spawn_app().await;
    for name in ["small.json", "medium.json", "large.json", "xlarge.json"] {
        let original = fixture(name);
        let created = app.create(original.clone()).await;
        let id = created["id"].as_str().unwrap();
        for path in [
            format!("/api/sessions/{id}"),
            format!("/api/sessions/alice/{id}"),
            format!("/api/public/sessions/{id}"),
        ] {
            let resp = app.get(&path).await;
            assert_eq!(resp.status(), StatusCode::OK, "{name} {path}");
            assert_eq!(
                resp.headers()["content-length"].to_str().unwrap(),
                original.len().to_string()
            );
            let bytes = resp.bytes().await.unwrap();
            assert!(
                bytes == original,
                "{name} via {path}: {} bytes back of {}",
                bytes.len(),
                original.len()
            );
        }
        let imported = app
            .post_json(
                "/api/sessions",
                serde_json::json!({"id": id, "username": "alice"}).to_string(),
            )
            .send()
            .await
            .unwrap();
        let bytes = imported.bytes().await.unwrap();
        assert!(bytes == original, "{name} via import");
        assert_importable(&bytes);
    }
}

#[tokio::test]
async fn the_largest_fixture_also_shares_through_the_older_route() {
    let app = spawn_app().await;
    let original = fixture("xlarge.json");
    let resp = app.post_json("/api/sessions", original.clone()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let id = resp.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let bytes = app.get(&format!("/api/sessions/{id}")).await.bytes().await.unwrap();
    assert!(bytes == original);
}
