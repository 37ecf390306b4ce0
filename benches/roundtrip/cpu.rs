//! `BENCH_PART=cpu`: the service's own CPU per request, as a separate process.
//!
//! The release binary runs twice on the same S3 server, with the credential scan on
//! (`--secret-policy redact`, the default) and off. Requests go one at a time on a kept-alive
//! connection; the process's CPU time (`/proc/<pid>/stat`, user + system) over a run of
//! requests, divided by their number, is the cost of one.
//!
//! Yardsticks from the same run: a read of the same share (`Accept-Encoding: gzip`, as the
//! extension and browsers read), and the same bytes through zlib level 1 once (flate2's
//! zlib-rs, in this process, one thread).
//!
//! A shared host's speed drifts by tens of percent within minutes, and it drifts for a create
//! and its yardsticks alike only if they are measured at the same time. So each session is
//! measured in `BENCH_CPU_ROUNDS` rounds (default 3), each round measuring every figure in
//! turn for `BENCH_CPU_SECONDS` / rounds (default 2 s in all, at least 20 requests each); a
//! ratio is its median over the rounds, printed with its lowest and highest.

use std::{
    io::Write,
    process::Stdio,
    time::{Duration, Instant},
};

use bytes::Bytes;

use crate::{helpers, median, ms, sessions::Shape};

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

    /// CPU per call of `call`, called one at a time for at least `seconds` of wall time.
    async fn cpu_per<F, Fut>(&self, seconds: f64, mut call: F) -> Duration
    where
        F: FnMut(usize) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
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

/// One round's figures for a session, CPU per request.
struct Round {
    create: Duration,
    scan_off: Duration,
    read: Duration,
    zlib: Duration,
    /// A create of the session's clean twin (sessions with credentials only).
    twin: Option<Duration>,
}

/// The median of `values` (sorted here), its lowest and its highest.
fn spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (values[values.len() / 2], values[0], values[values.len() - 1])
}

/// `median (low-high)` of a ratio over the rounds.
fn ratio(rounds: &[Round], of: impl Fn(&Round) -> f64) -> String {
    let (median, low, high) = spread(rounds.iter().map(of).collect());
    format!("{median:.2} ({low:.2}-{high:.2})")
}

pub async fn cpu_per_request() {
    let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let storage = format!("s3://{}/cpu-{}", helpers::S3Target::get().bucket, run.as_millis());
    let on = Service::start(&storage, &[]).await;
    let off = Service::start(&storage, &["--secret-policy", "off"]).await;
    let rounds: usize = crate::env_or("BENCH_CPU_ROUNDS", 3).max(1);
    let seconds = crate::env_or("BENCH_CPU_SECONDS", 2.0) / rounds as f64;
    println!(
        "CPU per request of the service process (ms, median of {rounds} interleaved rounds); \
         zlib-1: the same bytes compressed once in this process; ratios: median (lowest-highest)"
    );
    println!(
        "{:<16}{:>9}{:>8}{:>9}{:>7}{:>7}  {:<21}{:<21}on/off",
        "session", "bytes", "create", "scan off", "read", "zlib-1", "c/zlib", "c/read"
    );
    let sessions = sessions();
    let twin = sessions.iter().find(|(name, _)| *name == "medium, 2 more").map(|s| s.1.clone());
    let only = std::env::var("BENCH_FIXTURE").ok();
    for (name, body) in sessions {
        // `small` or `small.json`, as the other parts take it.
        if only.as_deref().is_some_and(|only| !name.starts_with(only.trim_end_matches(".json"))) {
            continue;
        }
        // Each create a task never shared before: a pool reused would make later creates
        // revisions of earlier shares (a read and two writes, not one write).
        let credentials = if name.contains("creds") { 2 } else { 0 };
        let twin = twin.as_ref().filter(|_| credentials > 0);
        // Creates of `body` on the service with the scan or without, for `cpu_per`.
        let creates = |scan: bool, body: &Bytes, expected: Option<usize>| {
            let service = if scan { &on } else { &off };
            let body = body.clone();
            move |_| {
                let body = helpers::another_task(&body);
                async move {
                    let (_, redactions) = service.create(body).await;
                    if let Some(expected) = expected {
                        assert_eq!(redactions, expected);
                    }
                }
            }
        };
        let (id, _) = on.create(helpers::another_task(&body)).await;
        let mut measured = Vec::new();
        for _ in 0..rounds {
            let create = on.cpu_per(seconds, creates(true, &body, Some(credentials))).await;
            let twin = match twin {
                Some(twin) => Some(on.cpu_per(seconds, creates(true, twin, Some(0))).await),
                None => None,
            };
            measured.push(Round {
                create,
                twin,
                scan_off: off.cpu_per(seconds, creates(false, &body, None)).await,
                read: on.cpu_per(seconds, |_| on.read(&id)).await,
                zlib: zlib_level_1(&body),
            });
        }
        let ms_of = |of: fn(&Round) -> Duration| ms(median(measured.iter().map(of).collect()));
        let on_off = match twin {
            Some(_) => format!(
                "{} of its clean twin",
                ratio(&measured, |r| ms(r.create) / ms(r.twin.unwrap()))
            ),
            None => ratio(&measured, |r| ms(r.create) / ms(r.scan_off)),
        };
        println!(
            "{:<16}{:>9}{:>8.3}{:>9.3}{:>7.3}{:>7.3}  {:<21}{:<21}{}",
            name,
            body.len(),
            ms_of(|r| r.create),
            ms_of(|r| r.scan_off),
            ms_of(|r| r.read),
            ms_of(|r| r.zlib),
            ratio(&measured, |r| ms(r.create) / ms(r.zlib)),
            ratio(&measured, |r| ms(r.create) / ms(r.read)),
            on_off
        );
    }
    on.stop().await;
    off.stop().await;
}
