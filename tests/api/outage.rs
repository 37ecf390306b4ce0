//! Storage stopped mid-run: 503s with Retry-After, nothing half-written, and recovery.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{
    AppOptions, S3Target, TcpProxy, assert_error, eventually, small_session, spawn_app_with,
};

#[tokio::test]
async fn a_storage_outage_gives_503s_and_the_service_recovers() {
    let proxy = TcpProxy::start(&S3Target::get().endpoint).await;
    let app = spawn_app_with(AppOptions {
        s3_endpoint: Some(proxy.endpoint.clone()),
        ..Default::default()
    })
    .await;
    let id = app.create(small_session()).await["id"].as_str().unwrap().to_owned();
    let before = app.stored_objects().await;

    proxy.cut();
    let started = std::time::Instant::now();
    let resp = app.get(&format!("/api/sessions/{id}")).await;
    assert_eq!(resp.headers()["retry-after"], "5");
    let body = assert_error(resp, StatusCode::SERVICE_UNAVAILABLE, "STORAGE_UNAVAILABLE").await;
    assert!(!body["error"].as_str().unwrap().contains("127.0.0.1"), "internals leaked: {body}");
    assert!(started.elapsed() < Duration::from_secs(30), "a 503 should come promptly");

    let resp = app.get(&format!("/api/sessions/alice/{id}")).await;
    assert_error(resp, StatusCode::SERVICE_UNAVAILABLE, "STORAGE_UNAVAILABLE").await;

    // Key checks need storage too: a create fails as a whole, with 503, never 201.
    let resp = app.post_json("/api/sessions/create", small_session()).send().await.unwrap();
    assert_eq!(resp.headers()["retry-after"], "5");
    assert_error(resp, StatusCode::SERVICE_UNAVAILABLE, "STORAGE_UNAVAILABLE").await;

    let resp = app.get("/api/health").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let health: Value = resp.json().await.unwrap();
    assert_eq!(health["status"], "unavailable");
    assert_eq!(health["storage"]["reachable"], false);

    proxy.restore();
    eventually(Duration::from_secs(20), || async {
        app.get("/api/health").await.status() == StatusCode::OK
    })
    .await;
    assert_eq!(app.stored_objects().await, before, "the outage changed storage");
    let resp = app.get(&format!("/api/sessions/{id}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap(), small_session());
    let again = app.create(small_session()).await;
    assert_ne!(again["id"], id.as_str());
}
