//! Creates under storage faults (connections reset, stalled, cut, replies lost), seeded and
//! bounded: every 201 reads back byte for byte, nothing answers 500, no share exists that no
//! client was told about, and no request outlives the storage bound by much.

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use futures::StreamExt;
use reqwest::StatusCode;

use crate::helpers::{AppOptions, Fault, FaultyProxy, S3Target, fixture, spawn_app_with};

const CREATES: usize = 60;
const SEED: u64 = 20261122;

#[tokio::test]
async fn creates_under_storage_faults_keep_every_promise() {
    let bound = Duration::from_secs(2);
    let proxy = FaultyProxy::start(&S3Target::get().endpoint, SEED, 0.25).await;
    let app = spawn_app_with(AppOptions {
        s3_endpoint: Some(proxy.endpoint.clone()),
        storage_timeout: Some(bound),
        ..Default::default()
    })
    .await;
    // A replica on the same storage, without the faults, to look at what was stored.
    let reader = spawn_app_with(AppOptions {
        storage_url: Some(app.storage_url.clone()),
        ..Default::default()
    })
    .await;
    let bodies = [fixture("small.json"), fixture("medium.json")];
    let results: Vec<(StatusCode, serde_json::Value, Duration, usize)> =
        futures::stream::iter(0..CREATES)
            .map(|i| {
                let (app, body) = (&app, bodies[i % 2].clone());
                async move {
                    let started = Instant::now();
                    let resp = app.post_json("/api/sessions/create", body).send().await.unwrap();
                    let status = resp.status();
                    let json = resp.json().await.unwrap_or_default();
                    (status, json, started.elapsed(), i % 2)
                }
            })
            .buffer_unordered(4)
            .collect()
            .await;

    let faults = proxy.faults.lock().unwrap().clone();
    let broken = faults.iter().filter(|f| **f != Fault::None).count();
    assert!(broken >= 3, "only {broken} of {} connections were broken", faults.len());
    let mut told = BTreeSet::new();
    let mut failed = 0;
    for (status, json, took, which) in &results {
        assert_ne!(*status, StatusCode::INTERNAL_SERVER_ERROR, "{json}");
        // Generous: a key lookup and two writes, each under the bound, on a busy machine.
        assert!(*took < bound * 3 + Duration::from_secs(5), "a create took {took:?}");
        match *status {
            StatusCode::CREATED => {
                let id = json["id"].as_str().unwrap().to_owned();
                let back = reader.get(&format!("/api/sessions/{id}")).await;
                assert_eq!(back.status(), StatusCode::OK, "share {id} was promised");
                assert!(back.bytes().await.unwrap() == bodies[*which], "share {id} changed");
                told.insert(id);
            }
            StatusCode::SERVICE_UNAVAILABLE => failed += 1,
            other => panic!("unexpected {other}: {json}"),
        }
    }
    // Every share stored is one a client was told about (a share is one object: there are no
    // halves).
    let stored: BTreeSet<String> = reader
        .stored_sessions()
        .await
        .iter()
        .map(|p| p.rsplit('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(stored, told, "shares exist that no client was told about");
    eprintln!(
        "{} connections, {broken} broken; {} created, {failed} answered 503",
        faults.len(),
        told.len()
    );
}
