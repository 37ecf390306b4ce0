//! Slow, idle and many clients, with raw sockets: none of them can hold the service.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

use session_share::configuration::Settings;

use crate::helpers::{TestApp, black_hole, eventually, spawn_app, spawn_app_with};

fn server(app: &TestApp) -> SocketAddr {
    app.address.trim_start_matches("http://").parse().unwrap()
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(server(app)).await.unwrap()
}

/// A connection from `from` (a loopback address: 127.0.0.2, 127.0.0.3, ...).
async fn connect_from(app: &TestApp, from: Ipv4Addr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0))?;
    socket.connect(server(app)).await
}

/// Reads until the server closes the connection; answers what it sent and how long it took,
/// or `None` if it is still open after `within`.
async fn closed_within(socket: &mut TcpStream, within: Duration) -> Option<(String, Duration)> {
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + within).into(), socket.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => {
                return Some((String::from_utf8_lossy(&seen).into_owned(), started.elapsed()));
            }
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends a health request and reads its answer's status line.
async fn probe(socket: &mut TcpStream) -> String {
    socket.write_all(b"GET /api/health HTTP/1.1\r\nHost: test\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = socket.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_owned()
}

/// `--header-timeout` and `--idle-timeout`, in seconds.
fn options(header: u64, idle: u64) -> impl FnOnce(&mut Settings) {
    move |s| {
        s.header_timeout = Duration::from_secs(header);
        s.idle_timeout = Duration::from_secs(idle);
    }
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_at_the_header_timeout() {
    let app = spawn_app_with(options(1, 30)).await;
    let mut silent = connect(&app).await;
    let (_, after) =
        closed_within(&mut silent, Duration::from_secs(5)).await.expect("still open after 5 s");
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_secs(3),
        "closed after {after:?}"
    );
}

#[tokio::test]
async fn headers_dribbled_a_byte_at_a_time_are_cut_off() {
    let app = spawn_app_with(options(1, 30)).await;
    let mut socket = connect(&app).await;
    socket.write_all(b"GET /api/health HTTP/1.1\r\nHost: test\r\n").await.unwrap();
    // A byte every 200 ms keeps the connection busy but never finishes the headers.
    let dribble = async {
        for _ in 0..50 {
            if socket.write_all(b"X").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(3), dribble).await;
    let closed = closed_within(&mut socket, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "a request whose headers never end is still open after 8 s");
}

/// Between requests a kept-alive connection may idle for `--idle-timeout`, which is longer than
/// the time a request's head may take.
#[tokio::test]
async fn a_kept_alive_connection_idles_for_the_idle_timeout() {
    let app = spawn_app_with(options(1, 3)).await;
    let mut socket = connect(&app).await;
    assert!(probe(&mut socket).await.starts_with("HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(probe(&mut socket).await.starts_with("HTTP/1.1 200"), "closed before the idle timeout");
    let (_, after) = closed_within(&mut socket, Duration::from_secs(6))
        .await
        .expect("still open after the idle timeout");
    assert!(after >= Duration::from_millis(2900), "closed after {after:?}");
}

#[tokio::test]
async fn a_stalled_upload_is_closed() {
    let app = spawn_app_with(options(10, 1)).await;
    let mut stalled = connect(&app).await;
    stalled
        .write_all(
            format!(
                "POST /api/sessions/create HTTP/1.1\r\nHost: test\r\nContent-Type: \
                 application/json\r\nSyntx-Api-Key: {}\r\nContent-Length: 100000\r\n\r\n{{\"ver",
                app.api_key
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let (answer, after) = closed_within(&mut stalled, Duration::from_secs(10))
        .await
        .expect("a stalled upload is still open after 10 s");
    assert!(after >= Duration::from_millis(900), "closed before the idle timeout: {after:?}");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(app.stored_sessions().await.is_empty());
}

/// A body that keeps coming, a byte at a time, is cut once the grace period (10 s) is over:
/// it is far below `--min-body-rate`.
#[tokio::test]
async fn a_trickled_upload_is_cut_after_the_grace_period() {
    let app = spawn_app_with(options(10, 30)).await;
    let mut socket = connect(&app).await;
    let head = format!(
        "POST /api/sessions/create HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Syntx-Api-Key: {}\r\nContent-Length: 100000\r\n\r\n",
        app.api_key
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut reader, mut writer) = socket.into_split();
    tokio::spawn(async move {
        while writer.write_all(b" ").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(20), reader.read(&mut answer))
        .await
        .expect("no answer in 20 s")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 400") && answer.contains("more slowly"), "{answer}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(14),
        "cut after {took:?}"
    );
}

/// While the service works on a request nothing moves on the connection; that is not idling.
#[tokio::test]
async fn a_slow_answer_is_not_mistaken_for_an_idle_connection() {
    let stalled = black_hole().await;
    let app = spawn_app_with(|s| {
        s.idle_timeout = Duration::from_secs(1);
        s.s3.endpoint = Some(stalled);
        s.storage.storage_timeout = Duration::from_secs(3);
    })
    .await;
    let resp = app.get("/api/sessions/HzKozOxIxl4dO0YijPu0q").await;
    assert_eq!(resp.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn connections_past_the_cap_wait_for_a_free_one() {
    let app = spawn_app_with(|s| {
        options(30, 30)(s);
        s.max_connections = 2;
    })
    .await;
    let mut held = vec![connect(&app).await, connect(&app).await];
    for socket in &mut held {
        socket.write_all(b"GET /api/health HTTP/1.1\r\nHost: test\r\n").await.unwrap();
    }
    // Connections are accepted in the order they were made: the two hold the places.
    let mut third = connect(&app).await;
    third
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut third, Duration::from_millis(700)).await.is_none(),
        "a third connection was served while two held the cap"
    );
    drop(held.pop());
    let (answer, _) = closed_within(&mut third, Duration::from_secs(5))
        .await
        .expect("the waiting connection was not served once a slot was free");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// One address holds at most its cap of connections; four times as many more wait their turn
/// (served as places free), and past those each is answered 503 and closed. Other addresses
/// are served.
#[tokio::test]
async fn one_address_holds_at_most_its_share_of_connections() {
    let app = spawn_app_with(|s| {
        options(30, 30)(s);
        s.max_connections_per_address = 3;
    })
    .await;
    let from = Ipv4Addr::new(127, 0, 0, 3);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from(&app, from).await.unwrap());
    }
    let mut waiting = Vec::new();
    for _ in 0..12 {
        waiting.push(connect_from(&app, from).await.unwrap());
    }
    eventually(Duration::from_secs(5), || async {
        app.metric("session_share_connections{state=\"waiting\"}").await == 12.0
    })
    .await;
    // Refused: a whole answer, read to its end (the connection closes after it).
    let mut refused = connect_from(&app, from).await.unwrap();
    let (answer, _) = closed_within(&mut refused, Duration::from_secs(2))
        .await
        .expect("the refused connection is closed promptly");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    assert!(head.contains("Connection: close") && head.contains("Retry-After: 5"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("a Content-Length")
        .parse()
        .unwrap();
    assert_eq!(length, body.len(), "the declared length is what was sent");
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["code"], "SERVER_BUSY");
    let mut other = connect_from(&app, Ipv4Addr::new(127, 0, 0, 2)).await.unwrap();
    assert!(probe(&mut other).await.starts_with("HTTP/1.1 200"));
    // While the first three are open the others wait; once they close, all are served.
    let waited = tokio::time::timeout(Duration::from_millis(500), probe(&mut waiting[0])).await;
    assert!(waited.is_err(), "a fourth connection was served beside three: {waited:?}");
    // The others go; whichever waiters get the places first, those left are served in turn.
    drop(held);
    waiting.truncate(3);
    for socket in &mut waiting[1..] {
        let answered =
            tokio::time::timeout(Duration::from_secs(3), probe(socket)).await.expect("not served");
        assert!(answered.starts_with("HTTP/1.1 200"));
    }
    let mut first = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(2), waiting[0].read(&mut first))
        .await
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"),
        "the first one's request was answered"
    );
}

/// Behind a proxy every connection is the proxy's: the cap is on one client's requests in
/// flight, by the address the proxy names.
#[tokio::test]
async fn behind_a_proxy_one_client_holds_at_most_its_share_of_requests() {
    let app = spawn_app_with(|s| {
        options(30, 30)(s);
        s.client_ip_header = Some("X-Forwarded-For".into());
        s.max_connections_per_address = 2;
    })
    .await;
    let stalled = |client: &'static str| {
        let address = server(&app);
        let key = app.api_key.clone();
        async move {
            let mut socket = TcpStream::connect(address).await.unwrap();
            let head = format!(
                "POST /api/sessions/create HTTP/1.1\r\nHost: test\r\nX-Forwarded-For: {client}\r\n\
                 Content-Type: application/json\r\nSyntx-Api-Key: {key}\r\nContent-Length: 100\r\n\r\n{{"
            );
            socket.write_all(head.as_bytes()).await.unwrap();
            socket
        }
    };
    let _held = (stalled("203.0.113.7").await, stalled("203.0.113.7").await);
    eventually(Duration::from_secs(5), || async {
        app.metric("session_share_uploads_in_flight").await == 2.0
    })
    .await;
    let third = app
        .client
        .get(app.url("/api/health"))
        .header("X-Forwarded-For", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(third.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
    let other = app
        .client
        .get(app.url("/api/health"))
        .header("X-Forwarded-For", "203.0.113.8")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), reqwest::StatusCode::OK);
}

/// The attack the limits are for, with the defaults (512 connections, 64 per address, 10 s for
/// a head), from a client that reconnects at once: 1,100 connections from 127.0.0.3 for 60 s, a third silent, a third
/// sending a head that never ends, a third closing as soon as the server answers anything; each
/// opened again at once when it ends. The attacker runs on threads of its own and the probe
/// with blocking sockets, so the probe measures what a client elsewhere would see: every
/// request from 127.0.0.2 is answered within a second, and none is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_flood_from_one_address_never_reaches_another() {
    rlimit::increase_nofile_limit(u64::MAX).unwrap();
    let app = spawn_app().await;
    let target = server(&app);
    let attack_for = Duration::from_secs(60);
    let until = Instant::now() + attack_for;
    let attacker = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let tasks: Vec<_> = (0..1100)
                .map(|i| {
                    tokio::spawn(async move {
                        let mut opened = 0u32;
                        while Instant::now() < until {
                            // Closed with a reset (no TIME_WAIT): the attacker never runs
                            // out of ports.
                            let Ok(socket) = TcpSocket::new_v4() else {
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                continue;
                            };
                            let _ = socket.set_zero_linger();
                            let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)), 0);
                            if socket.bind(from).is_err() {
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                continue;
                            }
                            let Ok(Ok(mut stream)) = tokio::time::timeout(
                                Duration::from_secs(5),
                                socket.connect(target),
                            )
                            .await
                            else {
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                continue;
                            };
                            opened += 1;
                            if i % 3 == 1 {
                                let _ = stream
                                    .write_all(b"POST /api/sessions/create HTTP/1.1\r\nHost: x\r\n")
                                    .await;
                            }
                            let mut buf = [0u8; 512];
                            let _ = tokio::time::timeout_at(until.into(), async {
                                while let Ok(n) = stream.read(&mut buf).await {
                                    if n == 0 || i % 3 == 2 {
                                        break;
                                    }
                                }
                            })
                            .await;
                        }
                        opened
                    })
                })
                .collect();
            let mut opened = 0;
            for task in tasks {
                opened += task.await.unwrap();
            }
            opened
        })
    });
    // The probe: a client elsewhere, on a thread and runtime of its own.
    let prober = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let mut took = Vec::new();
            let mut answers = std::collections::BTreeMap::<String, usize>::new();
            tokio::time::sleep(Duration::from_secs(1)).await;
            while Instant::now() < until {
                let started = Instant::now();
                let answer = tokio::time::timeout(Duration::from_secs(10), async {
                    let socket = TcpSocket::new_v4()?;
                    socket.bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 0))?;
                    let mut stream = socket.connect(target).await?;
                    stream
                        .write_all(
                            b"GET /api/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                        )
                        .await?;
                    let mut all = Vec::new();
                    stream.read_to_end(&mut all).await?;
                    Ok::<_, std::io::Error>(
                        String::from_utf8_lossy(&all).lines().next().unwrap_or_default().to_owned(),
                    )
                })
                .await;
                let answer = match answer {
                    Ok(Ok(line)) => line,
                    Ok(Err(e)) => format!("error: {e}"),
                    Err(_) => "no answer in 10 s".to_owned(),
                };
                took.push(started.elapsed());
                *answers.entry(answer).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (took, answers)
        })
    });
    let (mut took, answers) = prober.join().unwrap();
    let opened = attacker.join().unwrap();
    took.sort();
    let worst = *took.last().unwrap();
    eprintln!(
        "reconnecting flood: {} probes, worst {worst:?}, median {:?}, answers {answers:?}; the attacker opened {opened} connections",
        took.len(),
        took[took.len() / 2]
    );
    assert_eq!(answers.keys().collect::<Vec<_>>(), ["HTTP/1.1 200 OK"], "{answers:?}");
    assert!(worst < Duration::from_secs(1), "a probe took {worst:?}");
}
