//! `GET /metrics`, and what it shows of the storage round trips each request makes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{AppOptions, TestApp, eventually, small_session, spawn_app, spawn_app_with};

async fn metrics(app: &TestApp) -> String {
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    resp.text().await.unwrap()
}

/// The value of the series whose line starts with `series` (0 when absent).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

fn storage(text: &str, operation: &str) -> f64 {
    value(text, &format!("session_share_storage_requests_total{{operation=\"{operation}\"}}"))
}

#[tokio::test]
async fn requests_storage_bytes_and_caches_are_counted() {
    let app = spawn_app().await;
    let body = small_session();
    let id = app.create(body.clone()).await["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&format!("/api/sessions/{id}")).await.status(), StatusCode::OK);
    assert_eq!(
        app.get("/api/sessions/HzKozOxIxl4dO0YijPu0q").await.status(),
        StatusCode::NOT_FOUND
    );

    let text = metrics(&app).await;
    for series in [
        r#"session_share_http_requests_total{method="POST",route="createSession",status="201"}"#,
        r#"session_share_http_requests_total{method="GET",route="getSession",status="200"}"#,
        r#"session_share_http_requests_total{method="GET",route="getSession",status="404"}"#,
        r#"session_share_http_request_duration_seconds_count{method="GET",route="getSession"}"#,
        r#"session_share_cache_lookups_total{cache="keys",result="miss"}"#,
    ] {
        assert!(value(&text, series) >= 1.0, "{series} in\n{text}");
    }
    assert!(value(&text, "session_share_request_body_bytes_total") >= body.len() as f64);
    assert!(value(&text, "session_share_response_body_bytes_total") > 0.0);
    assert_eq!(value(&text, "session_share_uploads_in_flight"), 0.0);
    assert!(storage(&text, "put") >= 2.0 && storage(&text, "get") >= 2.0, "{text}");
    assert!(text.ends_with("# EOF\n"));
}

/// With the key remembered, a create is one storage write (record and document are one
/// object), and a read by id or by share code one storage read.
#[tokio::test]
async fn a_warm_create_writes_once_and_a_read_reads_once() {
    let app = spawn_app().await;
    let id = app.create(small_session()).await["id"].as_str().unwrap().to_owned();
    app.get(&format!("/api/sessions/{id}")).await.bytes().await.unwrap();

    let before = metrics(&app).await;
    app.create(small_session()).await;
    let after = metrics(&app).await;
    assert_eq!(storage(&after, "put") - storage(&before, "put"), 1.0, "{after}");
    assert_eq!(storage(&after, "get") - storage(&before, "get"), 0.0, "the key was remembered");
    assert_eq!(storage(&after, "head"), storage(&before, "head"));

    for path in [format!("/api/sessions/{id}"), format!("/api/sessions/alice/{id}")] {
        let before = metrics(&app).await;
        let resp = app.get(&path).await;
        assert_eq!(resp.status(), StatusCode::OK);
        resp.bytes().await.unwrap();
        let after = metrics(&app).await;
        assert_eq!(storage(&after, "get") - storage(&before, "get"), 1.0, "{path}");
    }
    let text = metrics(&app).await;
    assert!(value(&text, r#"session_share_cache_lookups_total{cache="keys",result="hit"}"#) >= 1.0);
}

/// A share made private through one replica stops being readable through another within
/// `--metadata-cache-ttl`, and at once through the one that changed it.
#[tokio::test]
async fn changes_through_another_replica_take_effect_within_the_cache_bound() {
    let ttl = Duration::from_secs(1);
    let first =
        spawn_app_with(AppOptions { metadata_cache_ttl: Some(ttl), ..Default::default() }).await;
    let second = spawn_app_with(AppOptions {
        storage_url: Some(first.storage_url.clone()),
        metadata_cache_ttl: Some(ttl),
        ..Default::default()
    })
    .await;
    let id = first.create(small_session()).await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/sessions/{id}");
    assert_eq!(second.get(&path).await.status(), StatusCode::OK, "now remembered by the second");

    let patch = first
        .client
        .patch(first.url(&path))
        .header("Content-Type", "application/json")
        .header("Syntx-Api-Key", &first.api_key)
        .body(json!({"isPublic": false}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), StatusCode::OK);
    assert_eq!(first.get(&path).await.status(), StatusCode::NOT_FOUND, "at once where changed");
    let changed = std::time::Instant::now();
    eventually(Duration::from_secs(3), || async {
        second.get(&path).await.status() == StatusCode::NOT_FOUND
    })
    .await;
    assert!(changed.elapsed() < ttl + Duration::from_millis(500), "{:?}", changed.elapsed());
}

/// A share stored by an earlier version (record and document apart) costs one extra storage
/// read the first time a replica meets it (the look in `shares/`), then one read like any
/// other; an id that does not exist, two (both layouts).
#[tokio::test]
async fn older_shares_cost_an_extra_read_only_once_and_missing_ids_two() {
    let app = spawn_app().await;
    let id = "HzKozOxIxl4dO0YijPu0q";
    let record = json!({"username": "alice", "createdAt": "2026-10-01T12:00:00Z"});
    app.put_older_share(id, &record, small_session()).await;
    for (round, expected) in [(1, 3.0), (2, 1.0), (3, 1.0)] {
        let before = metrics(&app).await;
        let resp = app.get(&format!("/api/sessions/{id}")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.bytes().await.unwrap(), small_session());
        let after = metrics(&app).await;
        assert_eq!(storage(&after, "get") - storage(&before, "get"), expected, "read {round}");
    }
    let before = metrics(&app).await;
    let resp = app.get("/api/sessions/NoSuchShareAnywhere01").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let after = metrics(&app).await;
    assert_eq!(storage(&after, "get") - storage(&before, "get"), 2.0);
}
