//! An owner's listing with many shares: storage requests (from `/metrics`) and time of a page
//! of 20 on a replica that has never listed them with no snapshot, a cold replica (the
//! snapshot is there), a warm replica, a search and a tag filter matching nothing, beside a
//! bare LIST of the owner's folder made in the same run (the floor of any design that lists).
//!
//! `cargo bench --bench listing` (`BENCH_LISTING_SIZES`, default `300,2000,10000`;
//! `BENCH_ITERATIONS` for the warm medians, default 9). Uses the tests' in-process s3s-fs
//! server, or `TEST_S3_ENDPOINT` like the tests (moto, MinIO, Garage).

#[allow(dead_code)]
#[path = "../tests/api/helpers/mod.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../tests/support/sessions.rs"]
mod sessions;

use std::time::{Duration, Instant};

use object_store::{ObjectStore, path::Path};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Reads and listings `app` makes while it answers `query`, and how long that took.
async fn measured(app: &helpers::TestApp, query: &str) -> (f64, f64, Duration) {
    let get = "session_share_storage_requests_total{operation=\"get\"}";
    let list = "session_share_storage_requests_total{operation=\"list\"}";
    let before = (app.metric(get).await, app.metric(list).await);
    let started = Instant::now();
    let resp = app.list(query, &app.api_key).await;
    assert!(resp.status().is_success());
    resp.bytes().await.unwrap();
    let took = started.elapsed();
    (app.metric(get).await - before.0, app.metric(list).await - before.1, took)
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_LISTING_SIZES")
        .unwrap_or_else(|_| "300,2000,10000".into())
        .split(',')
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let iterations: usize =
        std::env::var("BENCH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(9);
    println!(
        "page of 20 per owner: reads / listings / ms (warm: medians of {iterations}); ratio = warm page / bare LIST"
    );
    println!(
        "{:>7} {:>10} {:>22} {:>22} {:>22} {:>22} {:>22} {:>6}",
        "shares", "bare LIST", "first ever", "cold replica", "warm page", "search", "tag", "ratio"
    );
    for n in sizes {
        let a = helpers::spawn_app().await;
        helpers::seed_shares(&a, n).await;
        let first = measured(&a, "?limit=20").await;
        let b = helpers::spawn_replica(&a, |_| {}).await;
        // The warm replica: its key check and index made once, before the measures.
        b.list("?limit=1", &b.api_key).await;
        let c = helpers::spawn_replica(&a, |_| {}).await;
        let cold = measured(&c, "?limit=20").await;
        let folder = Path::from("sessions/alice");
        let mut floor = Vec::new();
        let (mut page, mut search, mut tag) = (Vec::new(), Vec::new(), Vec::new());
        let mut costs = [(0.0, 0.0); 3];
        for _ in 0..iterations {
            let started = Instant::now();
            a.store.list_with_delimiter(Some(&folder)).await.unwrap();
            floor.push(started.elapsed());
            for (i, (query, samples)) in [
                ("?limit=20", &mut page),
                ("?limit=20&q=nothing-matches-this", &mut search),
                ("?limit=20&tag=no-such-tag", &mut tag),
            ]
            .into_iter()
            .enumerate()
            {
                let (gets, lists, took) = measured(&b, query).await;
                samples.push(took);
                costs[i] = (gets, lists);
            }
        }
        let floor = median(floor);
        let cell =
            |(gets, lists, took): (f64, f64, Duration)| format!("{gets}/{lists}/{:.1}", ms(took));
        let warm =
            |i: usize, samples: Vec<Duration>| cell((costs[i].0, costs[i].1, median(samples)));
        let page_ms = median(page.clone());
        println!(
            "{n:>7} {:>10.1} {:>22} {:>22} {:>22} {:>22} {:>22} {:>6.2}",
            ms(floor),
            cell(first),
            cell(cold),
            warm(0, page),
            warm(1, search),
            warm(2, tag),
            ms(page_ms) / ms(floor)
        );
    }
}
