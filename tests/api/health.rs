use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{eventually, spawn_app};

#[tokio::test]
async fn health_reports_status_timestamp_version_and_storage() {
    let app = spawn_app().await;
    let resp = app.get("/api/health").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).is_ok());
    assert_eq!(body["storage"]["reachable"], true);
}

#[tokio::test]
async fn health_reports_what_the_conditional_write_probe_found() {
    let app = spawn_app().await;
    eventually(Duration::from_secs(10), || async {
        let body: Value = app.get("/api/health").await.json().await.unwrap();
        body["storage"]["conditionalWrites"] != "unknown"
    })
    .await;
    let body: Value = app.get("/api/health").await.json().await.unwrap();
    let found = body["storage"]["conditionalWrites"].as_str().unwrap().to_owned();
    // s3s-fs refuses a second If-None-Match create; other test servers may not.
    if std::env::var("TEST_S3_ENDPOINT").is_err() {
        assert_eq!(found, "supported");
    } else {
        assert!(found == "supported" || found == "unsupported", "{found}");
    }
    // The probe cleans up after itself.
    assert!(app.stored_objects().await.iter().all(|n| !n.starts_with("_probe/")));
}
