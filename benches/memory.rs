//! Peak memory of the service while it receives large sessions, against the bytes in flight.
//!
//! Starts the release binary on local-directory storage (`memory://` would keep every object
//! in the service's own memory), sends `BENCH_UPLOADS` (default 8) concurrent creates of a
//! generated ~60 MB session, and reads the process's peak resident set (`VmHWM`) and its
//! resident set afterwards from /proc. The baseline is the idle service in the same run.
//!
//! `cargo bench --bench memory`

#[allow(dead_code)]
#[path = "../tests/support/sessions.rs"]
mod sessions;

use std::{process::Stdio, time::Duration};

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::main]
async fn main() {
    let uploads: usize =
        std::env::var("BENCH_UPLOADS").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
    let binary = env!("CARGO_BIN_EXE_session-share");
    let dir = tempfile::tempdir().unwrap();
    let storage = format!("file://{}", dir.path().display());
    let key = std::process::Command::new(binary)
        .args(["keys", "create", "--username", "bench", "--storage", &storage])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = tokio::process::Command::new(binary)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--storage", &storage])
        .args(["--read-rate", "off", "--write-rate", "off", "--max-body", "128MiB"])
        .args(["--max-inflight-bodies", "2GiB"])
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client.get(format!("{base}/api/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = bytes::Bytes::from(sessions::generate(sessions::Shape {
        seed: 62,
        messages: 48_000,
        images: 1_400,
        image_side: 98,
    }));
    let idle = status_kib(pid, "VmRSS:");
    let sends = (0..uploads).map(|_| {
        client
            .post(format!("{base}/api/sessions/create"))
            .header("Content-Type", "application/json")
            .header("Syntx-Api-Key", &key)
            .body(body.clone())
            .send()
    });
    let statuses: Vec<u16> = futures::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (peak, after) = (status_kib(pid, "VmHWM:"), status_kib(pid, "VmRSS:"));
    child.kill().await.unwrap();
    let in_flight = (body.len() * uploads) as f64 / 1024.0;
    println!(
        "{uploads} concurrent creates of {:.1} MB: {:.0} MB in flight",
        body.len() as f64 / 1e6,
        in_flight / 1024.0
    );
    println!(
        "idle RSS {:.0} MB; peak RSS {:.0} MB; RSS 1 s after {:.0} MB",
        idle as f64 / 1024.0,
        peak as f64 / 1024.0,
        after as f64 / 1024.0
    );
    println!("(peak - idle) / bytes in flight = {:.2}", (peak - idle) as f64 / in_flight);
}
