//! What looking for credentials costs a create: the scan alone per fixture, beside the two
//! things a create does with every upload anyway (schema validation and compression), measured
//! in the same run so the ratios hold on a noisy machine.
//!
//! `cargo bench --bench secrets` (`BENCH_SESSIONS_DIR`: scan the `*.json` there too;
//! `BENCH_PROFILE_SCAN=medium.json`: only scan that one, for ten seconds, for a profiler).

#[allow(dead_code)]
#[path = "../tests/api/helpers/mod.rs"]
mod helpers;
#[path = "../tests/support/sessions.rs"]
mod sessions;

use std::time::{Duration, Instant};

use session_share::{compression::gzip, secrets::SecretScanner, validation::SessionValidator};

fn median<T>(runs: usize, mut work: impl FnMut() -> T) -> (T, Duration) {
    let mut times = Vec::with_capacity(runs);
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        out = Some(work());
        times.push(t.elapsed());
    }
    times.sort();
    (out.unwrap(), times[runs / 2])
}

fn main() {
    let scanner = SecretScanner::embedded();
    let validator = SessionValidator::new().expect("the schema compiles");
    let mut sessions: Vec<(String, Vec<u8>)> =
        ["small.json", "medium.json", "large.json", "xlarge.json"]
            .map(|name| (name.to_owned(), helpers::fixture(name).to_vec()))
            .into();
    if let Ok(dir) = std::env::var("BENCH_SESSIONS_DIR") {
        let mut more: Vec<_> = std::fs::read_dir(&dir)
            .expect("BENCH_SESSIONS_DIR is a directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        more.sort();
        for path in more {
            let name = format!("{dir}/{}", path.file_name().unwrap().to_string_lossy());
            sessions.push((name, std::fs::read(&path).unwrap()));
        }
    }
    if let Ok(name) = std::env::var("BENCH_PROFILE_SCAN") {
        // For a profiler: the scan of one session, over and over for ten seconds.
        let body = &sessions.iter().find(|(n, _)| *n == name).expect("a session's name").1;
        let (t, mut n) = (Instant::now(), 0u32);
        while t.elapsed() < Duration::from_secs(10) {
            std::hint::black_box(scanner.scan_document(body));
            n += 1;
        }
        println!("{name}: {:.3} ms per scan", t.elapsed().as_secs_f64() * 1000.0 / f64::from(n));
        return;
    }
    println!("{} rules; medians of 7 runs", scanner.rule_count());
    println!(
        "{:<28}{:>12}{:>10}{:>10}{:>14}{:>14}{:>12}{:>12}",
        "session",
        "bytes",
        "findings",
        "scan ms",
        "validate ms",
        "compress ms",
        "scan/val",
        "scan/gzip"
    );
    for (name, body) in sessions {
        let (findings, scan) = median(7, || scanner.scan_document(&body));
        let (_, validate) = median(7, || {
            let document = SessionValidator::parse_json(&body).unwrap();
            validator.check(&document).unwrap();
        });
        let (_, compress) = median(7, || gzip(&body));
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{:<28}{:>12}{:>10}{:>10.2}{:>14.2}{:>14.2}{:>12.2}{:>12.2}",
            name,
            body.len(),
            findings.len(),
            ms(scan),
            ms(validate),
            ms(compress),
            scan.as_secs_f64() / validate.as_secs_f64(),
            scan.as_secs_f64() / compress.as_secs_f64(),
        );
        for f in findings.iter().take(5) {
            println!("    {} at {}", f.rule, f.place());
        }
    }
}
