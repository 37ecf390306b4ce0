//! Share and read each fixture through the service, against a baseline measured in the same
//! run: the same bytes put to and got from the same S3 server directly with object_store.
//! The ratio is what the service adds (HTTP, key check, JSON parse, schema validation, id
//! claim) on top of the storage round trip that any design must pay.
//!
//! Two parts:
//! - latency: one request at a time, medians (`BENCH_ITERATIONS`, default 15);
//! - throughput: `BENCH_CLIENTS` (default 16) concurrent clients for small and medium
//!   sessions, requests per second, direct and service alternated in rounds
//!   (`BENCH_ROUNDS`, default 3) and the best round of each kept.
//!
//! `cargo bench --bench roundtrip` (`BENCH_SECRET_POLICY=off` for a service that does not
//! look for credentials). Uses the tests' in-process s3s-fs server, or
//! `TEST_S3_ENDPOINT` like the tests. `BENCH_PART=secrets` compares creates with and without
//! the credential scan, `BENCH_PART=reshare` a re-share with a create (neither runs by
//! default). `BENCH_PART=cpu` measures the service process's CPU per create and per read
//! (see `roundtrip/cpu.rs`). `BENCH_PART=latency|throughput|page|trivial` runs one
//! part; `BENCH_FIXTURE=small.json` (etc.) one fixture; for profiling, `BENCH_CREATE_ONLY=1`
//! or `BENCH_READ_ONLY=1` with `BENCH_PART=throughput`.

#[path = "roundtrip/cpu.rs"]
mod cpu;
#[allow(dead_code)]
#[path = "../tests/api/helpers/mod.rs"]
mod helpers;
#[path = "../tests/support/sessions.rs"]
mod sessions;

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, path::Path};
use session_share::validation::SessionValidator;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    // BENCH_LOG=1: logs as `serve` writes them (JSON on stderr, RUST_LOG or `info`), to
    // measure what logging costs a trivial route (BENCH_PART=trivial).
    if std::env::var("BENCH_LOG").is_ok() {
        session_share::telemetry::init(session_share::configuration::LogFormat::Json);
    }
    if std::env::var("BENCH_PART").is_ok_and(|p| p == "cpu") {
        cpu::cpu_per_request().await;
        return;
    }
    // BENCH_SECRET_POLICY=off: the service without the credential scan, to tell its cost apart.
    let policy = std::env::var("BENCH_SECRET_POLICY").ok().map(|p| {
        <session_share::secrets::SecretPolicy as clap::ValueEnum>::from_str(&p, true).unwrap()
    });
    let app = Arc::new(
        helpers::spawn_app_with(|s| {
            if let Some(policy) = policy {
                s.secret_policy = policy;
            }
        })
        .await,
    );
    let part = std::env::var("BENCH_PART").unwrap_or_default();
    if part == "trivial" {
        let clients: usize = env_or("BENCH_CLIENTS", 16);
        let mut best = 0f64;
        for _ in 0..5 {
            let a = app.clone();
            best = best.max(
                rate(clients, 10_000, move |_| {
                    let a = a.clone();
                    async move {
                        a.get("/assets/page.css").await.bytes().await.unwrap();
                    }
                })
                .await,
            );
        }
        println!("trivial route (a static asset), {clients} clients: {best:.0} requests/s");
        return;
    }
    if part == "secrets" {
        secrets_cost().await;
        return;
    }
    if part == "reshare" {
        reshare_cost(&app).await;
        return;
    }
    if part != "throughput" {
        latency(&app).await;
    }
    if part.is_empty() || part == "throughput" {
        throughput(&app).await;
    }
    if part.is_empty() || part == "page" {
        pages(&app).await;
    }
}

/// A warm share page (its session parsed and rendered before) against a static asset of the
/// same service: what a view costs beyond serving bytes.
async fn pages(app: &Arc<helpers::TestApp>) {
    let clients: usize = env_or("BENCH_CLIENTS", 16);
    let total = 4000;
    println!(
        "\nshare page, warm: {clients} clients, requests/s; ratio = page / static asset; then one \
         at a time, medians in ms: the asset, the page, and the conditional GET of the share's \
         object that each view makes to confirm its record (storage answers 304)"
    );
    println!(
        "{:<12}{:>12}{:>12}{:>8}{:>14}{:>10}{:>10}{:>10}",
        "fixture", "asset", "page", "ratio", "page bytes", "asset ms", "page ms", "304 ms"
    );
    for name in ["medium.json", "large.json"] {
        let id = app.create(helpers::fixture(name)).await["id"].as_str().unwrap().to_owned();
        let page = Arc::new(format!("/session/{id}"));
        let size = app.page(&page).await.bytes().await.unwrap().len();
        let (mut asset, mut view) = (0f64, 0f64);
        for _ in 0..3 {
            let a = app.clone();
            asset = asset.max(
                rate(clients, total, move |_| {
                    let a = a.clone();
                    async move {
                        let resp = a.get("/assets/page.css").await;
                        assert_eq!(resp.status(), 200);
                        resp.bytes().await.unwrap();
                    }
                })
                .await,
            );
            let (a, p) = (app.clone(), page.clone());
            view = view.max(
                rate(clients, total, move |_| {
                    let (a, p) = (a.clone(), p.clone());
                    async move {
                        let resp = a.page(&p).await;
                        assert_eq!(resp.status(), 200);
                        resp.bytes().await.unwrap();
                    }
                })
                .await,
            );
        }
        let object = Path::from(helpers::share_key("alice", &id));
        let etag = app.store.head(&object).await.unwrap().e_tag.unwrap();
        let (mut asset_ms, mut page_ms, mut confirm_ms) = (vec![], vec![], vec![]);
        for _ in 0..51 {
            let t = Instant::now();
            app.get("/assets/page.css").await.bytes().await.unwrap();
            asset_ms.push(t.elapsed());
            let t = Instant::now();
            app.page(&page).await.bytes().await.unwrap();
            page_ms.push(t.elapsed());
            let t = Instant::now();
            let options = object_store::GetOptions {
                if_none_match: Some(etag.clone()),
                ..Default::default()
            };
            let answer = app.store.get_opts(&object, options).await;
            assert!(matches!(answer, Err(object_store::Error::NotModified { .. })));
            confirm_ms.push(t.elapsed());
        }
        println!(
            "{:<12}{:>12.0}{:>12.0}{:>8.2}{:>14}{:>10.2}{:>10.2}{:>10.2}",
            name,
            asset,
            view,
            view / asset,
            size,
            ms(median(asset_ms)),
            ms(median(page_ms)),
            ms(median(confirm_ms))
        );
    }
}

async fn latency(app: &helpers::TestApp) {
    let iterations: usize = env_or("BENCH_ITERATIONS", 15);
    let validator = SessionValidator::new().unwrap();
    println!("latency: {iterations} iterations each; medians in ms; ratio = service / direct");
    println!(
        "{:<12}{:>10}{:>12}{:>12}{:>8}{:>12}{:>12}{:>8}{:>12}{:>8}{:>14}",
        "fixture",
        "bytes",
        "put direct",
        "create",
        "ratio",
        "get direct",
        "GET id",
        "ratio",
        "GET gzip",
        "ratio",
        "validate only"
    );
    let only = std::env::var("BENCH_FIXTURE").ok();
    for name in ["small.json", "medium.json", "large.json", "xlarge.json"] {
        if only.as_deref().is_some_and(|only| only != name) {
            continue;
        }
        let body = helpers::fixture(name);
        let (mut put, mut create, mut get, mut read, mut gzip, mut validate) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for i in 0..iterations {
            // Interleave baseline and service so that machine noise hits both alike.
            let path = Path::from(format!("bench/{name}/{i}"));
            let t = Instant::now();
            app.store.put(&path, PutPayload::from_bytes(body.clone())).await.unwrap();
            put.push(t.elapsed());

            // A task of its own each time: a share of the same task again is a re-share.
            let fresh = helpers::another_task(&body);
            let fresh_len = fresh.len();
            let t = Instant::now();
            let created = app.create(fresh).await;
            create.push(t.elapsed());
            let id = created["id"].as_str().unwrap().to_owned();

            let t = Instant::now();
            let got = app.store.get(&path).await.unwrap().bytes().await.unwrap();
            get.push(t.elapsed());
            assert_eq!(got.len(), body.len());

            let t = Instant::now();
            let served = app.get(&format!("/api/sessions/{id}")).await.bytes().await.unwrap();
            read.push(t.elapsed());
            assert_eq!(served.len(), fresh_len);

            // As the extension reads (Node's fetch asks for gzip), left encoded.
            let t = Instant::now();
            let served = app
                .client
                .get(app.url(&format!("/api/sessions/{id}")))
                .header("Accept-Encoding", "gzip")
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            gzip.push(t.elapsed());
            assert!(!served.is_empty());

            let t = Instant::now();
            let doc = SessionValidator::parse_json(&body).unwrap();
            validator.check(&doc).unwrap();
            drop(doc);
            validate.push(t.elapsed());
        }
        let (put, create, get, read, gzip, validate) = (
            median(put),
            median(create),
            median(get),
            median(read),
            median(gzip),
            median(validate),
        );
        println!(
            "{:<12}{:>10}{:>12.2}{:>12.2}{:>8.2}{:>12.2}{:>12.2}{:>8.2}{:>12.2}{:>8.2}{:>14.2}",
            name,
            body.len(),
            ms(put),
            ms(create),
            ms(create) / ms(put),
            ms(get),
            ms(read),
            ms(read) / ms(get),
            ms(gzip),
            ms(gzip) / ms(get),
            ms(validate)
        );
    }
}

/// Creates with `--secret-policy redact` (the default) against `off`, one of each in turn on
/// two services of the same storage: what looking for credentials adds to a create.
async fn secrets_cost() {
    use session_share::secrets::SecretPolicy;
    let iterations: usize = env_or("BENCH_ITERATIONS", 15);
    let on = helpers::spawn_app().await;
    let off = helpers::spawn_app_with(|s| s.secret_policy = SecretPolicy::Off).await;
    println!("create with --secret-policy redact and off: medians of {iterations} in ms");
    println!("{:<12}{:>10}{:>10}{:>10}{:>8}", "fixture", "bytes", "off", "redact", "ratio");
    for name in ["small.json", "medium.json", "large.json", "xlarge.json"] {
        let body = helpers::fixture(name);
        let (mut with, mut without) = (vec![], vec![]);
        for i in 0..iterations {
            for (app, times) in if i % 2 == 0 {
                [(&on, &mut with), (&off, &mut without)]
            } else {
                [(&off, &mut without), (&on, &mut with)]
            } {
                let fresh = helpers::another_task(&body);
                let t = Instant::now();
                let created = app.create(fresh).await;
                times.push(t.elapsed());
                assert_eq!(created["redactions"], serde_json::json!([]));
            }
        }
        let (with, without) = (median(with), median(without));
        println!(
            "{:<12}{:>10}{:>10.2}{:>10.2}{:>8.3}",
            name,
            body.len(),
            ms(without),
            ms(with),
            with.as_secs_f64() / without.as_secs_f64()
        );
    }
}

/// Sharing a task again (a new revision: the old one kept, the share rewritten) against
/// sharing a new task, in turn.
async fn reshare_cost(app: &helpers::TestApp) {
    let iterations: usize = env_or("BENCH_ITERATIONS", 15);
    println!("re-share (new revision) and create (new task): medians of {iterations} in ms");
    println!("{:<12}{:>10}{:>10}{:>10}{:>8}", "fixture", "bytes", "create", "re-share", "ratio");
    for name in ["small.json", "medium.json", "large.json"] {
        let body = helpers::another_task(&helpers::fixture(name));
        app.create(body.clone()).await;
        let (mut creates, mut reshares) = (vec![], vec![]);
        for i in 0..iterations {
            let next = helpers::with_message(&body, &format!("step {i}"));
            let t = Instant::now();
            let revised = app.create(next).await;
            reshares.push(t.elapsed());
            assert_eq!(revised["updated"], true);
            let fresh = helpers::another_task(&body);
            let t = Instant::now();
            app.create(fresh).await;
            creates.push(t.elapsed());
        }
        let (creates, reshares) = (median(creates), median(reshares));
        println!(
            "{:<12}{:>10}{:>10.2}{:>10.2}{:>8.2}",
            name,
            body.len(),
            ms(creates),
            ms(reshares),
            reshares.as_secs_f64() / creates.as_secs_f64()
        );
    }
}

/// Requests per second of `clients` tasks doing `total` calls of `call(i)` between them.
async fn rate<F, Fut>(clients: usize, total: usize, call: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (call, next) = (call.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    call(i).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    total as f64 / t.elapsed().as_secs_f64()
}

async fn throughput(app: &Arc<helpers::TestApp>) {
    let clients: usize = env_or("BENCH_CLIENTS", 16);
    let rounds: usize = env_or("BENCH_ROUNDS", 3);
    println!(
        "\nthroughput: {clients} clients, requests/s, best of {rounds} alternated rounds; \
         ratio = service / direct"
    );
    println!(
        "{:<12}{:>12}{:>10}{:>10}{:>8}{:>8}{:>12}{:>10}{:>8}{:>10}{:>8}{:>10}{:>8}",
        "fixture",
        "put direct",
        "cond put",
        "create",
        "ratio",
        "/cond",
        "get direct",
        "GET id",
        "ratio",
        "GET code",
        "ratio",
        "GET gzip",
        "ratio"
    );
    let only = std::env::var("BENCH_FIXTURE").ok();
    for (name, total) in [("small.json", 1600), ("medium.json", 800)] {
        if only.as_deref().is_some_and(|only| only != name) {
            continue;
        }
        let body = helpers::fixture(name);
        let (mut put, mut claims, mut create, mut get, mut by_id, mut by_code, mut gzip) =
            (0f64, 0f64, 0f64, 0f64, 0f64, 0f64, 0f64);
        let ids: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        for round in 0..rounds {
            let (a, b) = (app.clone(), body.clone());
            put = put.max(
                rate(clients, total, move |i| {
                    let (a, b) = (a.clone(), b.clone());
                    async move {
                        let path = Path::from(format!("bench-t/{name}/{round}/{i}"));
                        a.store.put(&path, PutPayload::from_bytes(b)).await.unwrap();
                    }
                })
                .await,
            );
            // The storage floor of a create that never overwrites: one conditional PUT
            // (`If-None-Match: *`) of the same bytes.
            let (a, b) = (app.clone(), body.clone());
            claims = claims.max(
                rate(clients, total, move |i| {
                    let (a, b) = (a.clone(), b.clone());
                    async move {
                        let create = PutOptions { mode: PutMode::Create, ..Default::default() };
                        let doc = Path::from(format!("bench-c/{name}/{round}/{i}"));
                        a.store.put_opts(&doc, PutPayload::from_bytes(b), create).await.unwrap();
                    }
                })
                .await,
            );
            // Each create a task of its own: a share of the same task again is a re-share.
            let only = std::env::var("BENCH_CREATE_ONLY").is_ok();
            let fresh: Arc<Vec<Bytes>> = Arc::new(
                (0..if only { total * 4 } else { total })
                    .map(|_| helpers::another_task(&body))
                    .collect(),
            );
            let (a, b, kept) = (app.clone(), fresh.clone(), ids.clone());
            if only {
                // For profiling: creates alone, nothing else in the profile.
                create = create.max(
                    rate(clients, total * 4, move |i| {
                        let (a, b) = (a.clone(), b[i].clone());
                        async move {
                            a.create(b).await;
                        }
                    })
                    .await,
                );
                println!("creates alone: {create:.0}/s");
                return;
            }
            create = create.max(
                rate(clients, total, move |i| {
                    let (a, b, kept) = (a.clone(), b[i].clone(), kept.clone());
                    async move {
                        let created = a.create(b).await;
                        kept.lock().unwrap().push(created["id"].as_str().unwrap().to_owned());
                    }
                })
                .await,
            );
            let a = app.clone();
            get = get.max(
                rate(clients, total, move |i| {
                    let a = a.clone();
                    async move {
                        let path = Path::from(format!("bench-t/{name}/{round}/{i}"));
                        let got: Bytes = a.store.get(&path).await.unwrap().bytes().await.unwrap();
                        assert!(!got.is_empty());
                    }
                })
                .await,
            );
            if std::env::var("BENCH_READ_ONLY").is_ok() {
                // For profiling: reads by id alone, over and over.
                let (a, kept) = (app.clone(), ids.clone());
                let n = kept.lock().unwrap().len();
                let r = rate(clients, total * 10, move |i| {
                    let (a, kept) = (a.clone(), kept.clone());
                    async move {
                        let id = kept.lock().unwrap()[i % n].clone();
                        let resp = a.get(&format!("/api/sessions/{id}")).await;
                        assert_eq!(resp.status(), 200);
                        resp.bytes().await.unwrap();
                    }
                })
                .await;
                println!("reads by id alone: {r:.0}/s");
                return;
            }
            for (route, best, gzipped) in [
                ("id", &mut by_id, false),
                ("code", &mut by_code, false),
                ("gzip", &mut gzip, true),
            ] {
                let (a, kept) = (app.clone(), ids.clone());
                *best = best.max(
                    rate(clients, total, move |i| {
                        let (a, kept) = (a.clone(), kept.clone());
                        async move {
                            let id = {
                                let kept = kept.lock().unwrap();
                                kept[kept.len() - 1 - i].clone()
                            };
                            let path = match route {
                                "code" => format!("/api/sessions/alice/{id}"),
                                _ => format!("/api/sessions/{id}"),
                            };
                            let mut req = a.client.get(a.url(&path));
                            if gzipped {
                                req = req.header("Accept-Encoding", "gzip");
                            }
                            let resp = req.send().await.unwrap();
                            assert_eq!(resp.status(), 200);
                            assert!(!resp.bytes().await.unwrap().is_empty());
                        }
                    })
                    .await,
                );
            }
        }
        println!(
            "{:<12}{:>12.0}{:>10.0}{:>10.0}{:>8.2}{:>8.2}{:>12.0}{:>10.0}{:>8.2}{:>10.0}{:>8.2}{:>10.0}{:>8.2}",
            name,
            put,
            claims,
            create,
            create / put,
            create / claims,
            get,
            by_id,
            by_id / get,
            by_code,
            by_code / get,
            gzip,
            gzip / get
        );
    }
}
