//! Byte-exact round trips of every realistic session, the 25 MB one included, through both
//! create routes and every read route.

use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    helpers::{assert_importable, fixture, spawn_app},
    sessions,
};

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

/// The large sessions are generated, not committed: they must be the same bytes on every
/// machine (a benchmark or a failure elsewhere must be reproducible) and as big, as varied and
/// as image-heavy as real ones.
#[test]
fn generated_sessions_are_reproducible_and_realistic() {
    for (name, shape, min_mb, max_mb) in
        [("large.json", sessions::LARGE, 2.5, 3.5), ("xlarge.json", sessions::XLARGE, 22.0, 28.0)]
    {
        let bytes = fixture(name);
        assert!(sessions::generate(shape) == bytes, "{name} differs between two generations");
        let mb = bytes.len() as f64 / 1e6;
        assert!((min_mb..max_mb).contains(&mb), "{name}: {mb} MB");
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        let messages = doc["messages"].as_array().unwrap();
        assert_eq!(messages.len(), shape.messages);
        let images: Vec<&str> = messages
            .iter()
            .filter_map(|m| m["images"].as_array())
            .flatten()
            .map(|i| i.as_str().unwrap())
            .collect();
        assert_eq!(images.len(), shape.images, "{name}");
        assert!(images.iter().all(|i| i.starts_with("data:image/png;base64,iVBORw0KGgo")));
        let kinds: std::collections::BTreeSet<&str> =
            messages.iter().filter_map(|m| m["say"].as_str().or(m["ask"].as_str())).collect();
        for kind in [
            "text",
            "reasoning",
            "api_req_started",
            "tool",
            "command",
            "command_output",
            "checkpoint_saved",
            "followup",
            "user_feedback",
            "completion_result",
        ] {
            assert!(kinds.contains(kind), "{name} has no {kind} message");
        }
    }
}
