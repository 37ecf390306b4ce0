//! `BENCH_PART=cpu`: the service's own CPU per request, as a separate process.
//!
//! The release binary runs twice on the same S3 server, with the credential scan on
//! (`--secret-policy redact`, the default) and off. Requests go one at a time on a kept-alive
//! connection; the process's CPU time (`/proc/<pid>/stat`, user + system) over a run of
//! requests, divided by their number, is the cost of one. Each run lasts at least
//! `BENCH_CPU_SECONDS` (default 2) of wall time, so the 10 ms clock tick is under 1% of it.
//!
//! Yardsticks from the same run: a read of the same share (`Accept-Encoding: gzip`, as the
//! extension and browsers read), and the same bytes through zlib level 1 once (flate2's
//! zlib-rs, in this process, one thread).

use std::{
    io::Write,
    process::Stdio,
    time::{Duration, Instant},
};

use bytes::Bytes;

use crate::{helpers, sessions::Shape};

/// About 420 KB: a short task with a few screenshots, so compression meets PNG bytes too.
const MEDIUM_WITH_SCREENS: Shape = Shape { seed: 4, messages: 300, images: 11, image_side: 96 };

/// `session-share serve` as a child process, on the tests' S3 server.
struct Service {
    child: tokio::process::Child,
    base: String,
    key: String,
    client: reqwest::Client,
}

impl Service {
    async fn start(storage: &str, flags: &[&str]) -> Service {
        let binary = env!("CARGO_BIN_EXE_session-share");
        let target = helpers::S3Target::get();
        let key = std::process::Command::new(binary)
            .args(["keys", "create", "--username", "bench", "--storage", storage])
            .envs(target.env())
            .stderr(Stdio::null())
            .output()
            .unwrap();
        let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
        assert!(!key.is_empty(), "keys create printed no key");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = tokio::process::Command::new(binary)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--storage", storage])
            .args(["--read-rate", "off", "--write-rate", "off"])
            .args(flags)
            .envs(target.env())
            .env("RUST_LOG", "info")
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client.get(format!("{base}/api/health")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Service { child, base, key, client }
    }

    /// Stops the process and waits for it: dropping the handle alone leaves it running.
    async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }

    /// The process's CPU time so far (user + system, all its threads, living or not).
    fn cpu(&self) -> Duration {
        let pid = self.child.id().unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        // The fields after the command name (which may hold spaces) in parentheses.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Duration::from_secs_f64(ticks as f64 / 100.0)
    }

    async fn create(&self, body: Bytes) -> (String, usize) {
        let resp = self
            .client
            .post(format!("{}/api/sessions/create", self.base))
            .header("Content-Type", "application/json")
            .header("Syntx-Api-Key", &self.key)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let created: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(created["updated"], false, "a create measured is a new share, not a revision");
        let redactions = created["redactions"].as_array().unwrap().len();
        (created["id"].as_str().unwrap().to_owned(), redactions)
    }

    async fn read(&self, id: &str) {
        let resp = self
            .client
            .get(format!("{}/api/sessions/{id}", self.base))
            .header("Accept-Encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap();
    }

    /// CPU per call of `call`, called one at a time for at least the run's wall time.
    async fn cpu_per<F, Fut>(&self, mut call: F) -> Duration
    where
        F: FnMut(usize) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let seconds: f64 = crate::env_or("BENCH_CPU_SECONDS", 2.0);
        for i in 0..3 {
            call(i).await; // warm: connection, caches, blocking threads
        }
        let (started, before) = (Instant::now(), self.cpu());
        let mut n = 0;
        while started.elapsed().as_secs_f64() < seconds || n < 20 {
            call(n + 3).await;
            n += 1;
        }
        // Let the last request's logging and bookkeeping land in the count.
        tokio::time::sleep(Duration::from_millis(50)).await;
        (self.cpu() - before) / n as u32
    }
}

/// One zlib level-1 compression of `body` (median of 15), in this process.
fn zlib_level_1(body: &[u8]) -> Duration {
    let mut times: Vec<Duration> = (0..15)
        .map(|_| {
            let t = Instant::now();
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(1));
            z.write_all(body).unwrap();
            std::hint::black_box(z.finish().unwrap());
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// The sessions measured: the committed ones, a medium one with screenshots, and the
/// medium one with two credentials added, beside its twin with two messages as long that hold
/// none (the two are re-serialised alike, so their bytes differ only there).
fn sessions() -> Vec<(&'static str, Bytes)> {
    let medium = helpers::fixture("medium.json");
    let two = |first: &str, second: &str| {
        helpers::with_message(&helpers::with_message(&medium, first), second)
    };
    vec![
        ("small", helpers::fixture("small.json")),
        ("medium", medium.clone()),
        ("medium+screens", crate::sessions::generate(MEDIUM_WITH_SCREENS).into()),
        (
            "medium, 2 more",
            two(
                "export GITHUB_HOST=github.example.com/acme/api-gateway-infra && gh auth status",
                "AWS_DEFAULT_REGION=eu-west-1 and the\nregion=eu-west-1",
            ),
        ),
        (
            "medium+2 creds",
            two(
                "export GITHUB_TOKEN=ghp_Qm8sT3vX9aB2cD4eF6gH8iJ0kL2mN4oP6qR8 && gh auth status",
                "AWS_ACCESS_KEY_ID=AKIAZ7QW3ERT5YU6IOPL\nregion=eu-west-1",
            ),
        ),
        ("large", helpers::fixture("large.json")),
    ]
}

pub async fn cpu_per_request() {
    let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let storage = format!("s3://{}/cpu-{}", helpers::S3Target::get().bucket, run.as_millis());
    let on = Service::start(&storage, &[]).await;
    let off = Service::start(&storage, &["--secret-policy", "off"]).await;
    println!(
        "CPU per request of the service process (ms), one at a time; zlib-1: the same bytes \
         compressed once in this process"
    );
    println!(
        "{:<16}{:>10}{:>9}{:>9}{:>9}{:>9}{:>10}{:>10}  on/off",
        "session", "bytes", "create", "scan off", "read", "zlib-1", "c/zlib", "c/read"
    );
    let only = std::env::var("BENCH_FIXTURE").ok();
    let mut clean = None;
    for (name, body) in sessions() {
        if only.as_deref().is_some_and(|only| !name.starts_with(only)) {
            continue;
        }
        // Each create a task never shared before: a pool reused would make later creates
        // revisions of earlier shares (a read and two writes, not one write).
        let credentials = if name.contains("creds") { 2 } else { 0 };
        let take = || helpers::another_task(&body);
        let create = on
            .cpu_per(|_| {
                let body = take();
                let on = &on;
                async move {
                    assert_eq!(on.create(body).await.1, credentials);
                }
            })
            .await;
        let scan_off = off
            .cpu_per(|_| {
                let body = take();
                let off = &off;
                async move {
                    off.create(body).await;
                }
            })
            .await;
        let (id, _) = on.create(take()).await;
        let read = on.cpu_per(|_| on.read(&id)).await;
        let zlib = zlib_level_1(&body);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        if name == "medium, 2 more" {
            clean = Some(create);
        }
        let against_clean = match (name.contains("creds"), clean) {
            (true, Some(clean)) => format!("{:.2} of its clean twin", ms(create) / ms(clean)),
            _ => format!("{:.2}", ms(create) / ms(scan_off)),
        };
        println!(
            "{:<16}{:>10}{:>9.3}{:>9.3}{:>9.3}{:>9.3}{:>10.2}{:>10.2}  {}",
            name,
            body.len(),
            ms(create),
            ms(scan_off),
            ms(read),
            ms(zlib),
            ms(create) / ms(zlib),
            ms(create) / ms(read),
            against_clean
        );
    }
    on.stop().await;
    off.stop().await;
}
