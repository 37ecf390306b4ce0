//! Storage stopped mid-run: 503s with Retry-After, nothing half-written, and recovery.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{
    S3Target, TcpProxy, assert_error, eventually, fresh_session, small_session, spawn_app_on,
    spawn_app_with,
};

#[tokio::test]
async fn a_storage_outage_gives_503s_and_the_service_recovers() {
    let proxy = TcpProxy::start(&S3Target::get().endpoint).await;
    let app = spawn_app_with(|s| {
        s.s3.endpoint = Some(proxy.endpoint.clone());
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
    let resp = app.post_json("/api/sessions/create", fresh_session()).send().await.unwrap();
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
    let again = app.create(fresh_session()).await;
    assert_ne!(again["id"], id.as_str());
}

/// Storage that refuses the service's credentials is not an outage: retrying cannot help, so
/// the answer is a 500 without `Retry-After` (the log says what to fix), never a 503.
#[tokio::test]
async fn storage_refusing_the_credentials_is_500_not_an_invitation_to_retry() {
    // moto's server accepts any signature; s3s-fs, MinIO and S3 check it.
    let target = S3Target::get();
    let mut wrong = target.options(&target.endpoint);
    wrong.secret_access_key = Some("not-the-secret".into());
    let url = format!("s3://{}", target.bucket).parse().unwrap();
    let probe = session_share::storage::open_store(&url, &wrong).unwrap().store;
    let path = object_store::path::Path::from("_probe/credentials");
    if object_store::ObjectStoreExt::head(probe.as_ref(), &path).await.is_ok()
        || matches!(
            object_store::ObjectStoreExt::head(probe.as_ref(), &path).await,
            Err(object_store::Error::NotFound { .. })
        )
    {
        eprintln!("skipped: this S3 server does not check credentials");
        return;
    }
    let app = spawn_app_with(|s| {
        s.s3.secret_access_key = Some("not-the-secret".into());
    })
    .await;
    let resp = app.post_json("/api/sessions/create", small_session()).send().await.unwrap();
    assert!(resp.headers().get("retry-after").is_none());
    let body = assert_error(resp, StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR").await;
    assert!(!body["error"].as_str().unwrap().contains("secret"), "internals leaked: {body}");
    let resp = app.get("/api/sessions/HzKozOxIxl4dO0YijPu0q").await;
    assert!(resp.headers().get("retry-after").is_none());
    assert_error(resp, StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR").await;
    assert!(app.stored_sessions().await.is_empty());
}

/// A storage server that accepts and never answers: every request is bounded by
/// `--storage-timeout` (here 1 s; retries included) and answers a 503, instead of hanging
/// for the HTTP client's two minutes.
#[tokio::test]
async fn stalled_storage_answers_503_within_the_storage_timeout() {
    let bound = Duration::from_secs(1);
    let stalled = crate::helpers::black_hole().await;
    let app = spawn_app_with(|s| {
        s.s3.endpoint = Some(stalled);
        s.storage.storage_timeout = bound;
    })
    .await;
    for (method, path) in [
        ("GET", "/api/sessions/HzKozOxIxl4dO0YijPu0q"),
        ("GET", "/api/sessions/alice/HzKozOxIxl4dO0YijPu0q"),
        ("POST", "/api/sessions/create"),
    ] {
        let started = std::time::Instant::now();
        let req = match method {
            "GET" => app.client.get(app.url(path)),
            _ => app.post_json(path, small_session()),
        };
        let resp = req.send().await.unwrap();
        let took = started.elapsed();
        assert_eq!(resp.headers()["retry-after"], "5");
        assert_error(resp, StatusCode::SERVICE_UNAVAILABLE, "STORAGE_UNAVAILABLE").await;
        // Generous: the bound, plus a create's second request, plus a slow machine.
        assert!(took < bound * 8, "{method} {path} took {took:?} with a {bound:?} bound");
    }
}

/// A bucket that does not exist is not an outage either: 500 with the log saying so, not a
/// 404 that blames the share or a 401 that blames the key.
#[tokio::test]
async fn a_missing_bucket_is_500_not_not_found() {
    // S3, MinIO and moto answer NoSuchBucket; s3s-fs answers NoSuchKey, as for an object.
    let target = S3Target::get();
    let url = "s3://no-such-bucket-here/x".parse().unwrap();
    let probe =
        session_share::storage::open_store(&url, &target.options(&target.endpoint)).unwrap().store;
    let path = object_store::path::Path::from("anything");
    let answer = object_store::ObjectStoreExt::get(probe.as_ref(), &path).await.err();
    if !answer.is_some_and(|e| e.to_string().contains("NoSuchBucket")) {
        eprintln!("skipped: this S3 server does not say NoSuchBucket");
        return;
    }
    let app = spawn_app_on("s3://no-such-bucket-here/x", |_| {}).await;
    let resp = app
        .client
        .post(app.url("/api/sessions/create"))
        .header("Content-Type", "application/json")
        .header("Syntx-Api-Key", "ssk_any")
        .body(small_session())
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("retry-after").is_none());
    assert_error(resp, StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR").await;
    let resp = app.get("/api/sessions/HzKozOxIxl4dO0YijPu0q").await;
    assert_error(resp, StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR").await;
}
