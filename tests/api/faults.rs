//! Creates under storage faults (connections reset, stalled, cut, replies lost), seeded and
//! bounded: every 201 reads back byte for byte, nothing answers 500, no share exists that no
//! client was told about, and no request outlives the storage bound by much.

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use futures::StreamExt;
use reqwest::StatusCode;

use crate::helpers::{
    AppOptions, Fault, FaultyProxy, S3Target, another_task, fixture, spawn_app_with,
};

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
    // Sixty tasks, each shared once.
    let bases = [fixture("small.json"), fixture("medium.json")];
    let bodies: Vec<bytes::Bytes> = (0..CREATES).map(|i| another_task(&bases[i % 2])).collect();
    let results: Vec<(StatusCode, serde_json::Value, Duration, usize)> =
        futures::stream::iter(0..CREATES)
            .map(|i| {
                let (app, body) = (&app, bodies[i].clone());
                async move {
                    let started = Instant::now();
                    let resp = app.post_json("/api/sessions/create", body).send().await.unwrap();
                    let status = resp.status();
                    let json = resp.json().await.unwrap_or_default();
                    (status, json, started.elapsed(), i)
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
        // Bounded: a key check and the first create's id key and owner entry, the write, and
        // for a write that failed its settling (a marker, the wait past the write's deadline,
        // three read-backs), each within the storage bound; plus a busy machine.
        assert!(*took < bound * 10 + Duration::from_secs(5), "a create took {took:?}");
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
    // Every share that can be read is one a client was told about, and the other way round
    // (a share is one object: there are no halves). What failed creates left is not a share.
    let readable: BTreeSet<String> = reader.listed_ids(&app.api_key).await.into_iter().collect();
    assert_eq!(readable, told, "shares exist that no client was told about");
    for key in reader.stored_sessions().await {
        let id = key.trim_start_matches("sessions/alice/").trim_end_matches(".json.gz");
        if !told.contains(id) {
            let status = reader.get(&format!("/api/sessions/{id}")).await.status();
            assert_eq!(status, StatusCode::NOT_FOUND, "{key} is readable");
        }
    }
    eprintln!(
        "{} connections, {broken} broken; {} created, {failed} answered 503",
        faults.len(),
        told.len()
    );
}
