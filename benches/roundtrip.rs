//! Share and read each fixture through the service, against a baseline measured in the same
//! run: the same bytes put to and got from the same S3 server directly with object_store.
//! The ratio is what the service adds (HTTP, key check, JSON parse, schema validation, id
//! claim) on top of the storage round trip that any design must pay.
//!
//! `cargo bench --bench roundtrip` (env `BENCH_ITERATIONS`, default 15). Uses the tests'
//! in-process s3s-fs server, or `TEST_S3_ENDPOINT` like the tests.

#[allow(dead_code)]
#[path = "../tests/api/helpers.rs"]
mod helpers;
#[path = "../tests/support/sessions.rs"]
mod sessions;

use std::time::{Duration, Instant};

use object_store::{ObjectStoreExt, PutPayload, path::Path};
use session_share::validation::SessionValidator;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let iterations: usize =
        std::env::var("BENCH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(15);
    let app = helpers::spawn_app().await;
    let validator = SessionValidator::new().unwrap();
    println!("{iterations} iterations each; medians in ms; ratio = service / direct object_store");
    println!(
        "{:<12}{:>10}{:>12}{:>12}{:>8}{:>12}{:>12}{:>8}{:>14}",
        "fixture",
        "bytes",
        "put direct",
        "create",
        "ratio",
        "get direct",
        "GET",
        "ratio",
        "validate only"
    );
    for name in ["small.json", "medium.json", "large.json", "xlarge.json"] {
        let body = helpers::fixture(name);
        let (mut put, mut create, mut get, mut read, mut validate) =
            (vec![], vec![], vec![], vec![], vec![]);
        let mut ids = Vec::new();
        for i in 0..iterations {
            // Interleave baseline and service so that machine noise hits both alike.
            let path = Path::from(format!("bench/{name}/{i}"));
            let t = Instant::now();
            app.store.put(&path, PutPayload::from_bytes(body.clone())).await.unwrap();
            put.push(t.elapsed());

            let t = Instant::now();
            let created = app.create(body.clone()).await;
            create.push(t.elapsed());
            let id = created["id"].as_str().unwrap().to_owned();

            let t = Instant::now();
            let got = app.store.get(&path).await.unwrap().bytes().await.unwrap();
            get.push(t.elapsed());
            assert_eq!(got.len(), body.len());

            let t = Instant::now();
            let served = app.get(&format!("/api/sessions/alice/{id}")).await.bytes().await.unwrap();
            read.push(t.elapsed());
            assert_eq!(served.len(), body.len());

            let t = Instant::now();
            let doc = SessionValidator::parse_json(&body).unwrap();
            validator.check(&doc).unwrap();
            drop(doc);
            validate.push(t.elapsed());
            ids.push(id);
        }
        let (put, create, get, read, validate) =
            (median(put), median(create), median(get), median(read), median(validate));
        println!(
            "{:<12}{:>10}{:>12.2}{:>12.2}{:>8.2}{:>12.2}{:>12.2}{:>8.2}{:>14.2}",
            name,
            body.len(),
            ms(put),
            ms(create),
            ms(create) / ms(put),
            ms(get),
            ms(read),
            ms(read) / ms(get),
            ms(validate)
        );
    }
}
