//! What storing sessions gzip-compressed saves and costs, per fixture: bytes stored, the time
//! to compress (on the create's path, beside validation) and to decompress (for clients that
//! do not accept gzip), and the transfer time saved at a given link speed.
//!
//! `cargo bench --bench compression` (`BENCH_LINK_MBIT`, default 100: a client's link).

#[allow(dead_code)]
#[path = "../tests/api/helpers/mod.rs"]
mod helpers;
#[path = "../tests/support/sessions.rs"]
mod sessions;

use std::time::{Duration, Instant};

use session_share::compression::{gunzip, gzip};

fn best<T>(runs: usize, mut work: impl FnMut() -> T) -> (T, Duration) {
    let mut fastest = Duration::MAX;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        out = Some(work());
        fastest = fastest.min(t.elapsed());
    }
    (out.unwrap(), fastest)
}

fn main() {
    let mbit: f64 =
        std::env::var("BENCH_LINK_MBIT").ok().and_then(|v| v.parse().ok()).unwrap_or(100.0);
    println!(
        "gzip (libdeflate level 1; zlib-rs level 2, screenshots Huffman-coded, when they are an \
         eighth of a session); best of 5; transfer at {mbit} Mbit/s"
    );
    println!(
        "{:<12}{:>12}{:>12}{:>8}{:>14}{:>15}{:>14}{:>18}",
        "fixture",
        "bytes",
        "stored",
        "ratio",
        "compress ms",
        "decompress ms",
        "transfer ms",
        "gzip transfer ms"
    );
    for name in ["small.json", "medium.json", "large.json", "xlarge.json"] {
        let body = helpers::fixture(name);
        let (packed, packing) = best(5, || gzip(&body));
        let (plain, unpacking) = best(5, || gunzip(&packed, body.len() as u64).unwrap());
        assert!(plain == body);
        let at_link = |bytes: usize| bytes as f64 * 8.0 / (mbit * 1e6) * 1000.0;
        println!(
            "{:<12}{:>12}{:>12}{:>8.2}{:>14.2}{:>15.2}{:>14.1}{:>18.1}",
            name,
            body.len(),
            packed.len(),
            body.len() as f64 / packed.len() as f64,
            packing.as_secs_f64() * 1000.0,
            unpacking.as_secs_f64() * 1000.0,
            at_link(body.len()),
            at_link(packed.len()),
        );
    }
}
