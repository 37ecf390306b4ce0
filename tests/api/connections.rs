//! Slow and idle clients, with raw sockets: none of them can hold the service.

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{AppOptions, TestApp, black_hole, spawn_app_with};

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap()
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

fn options(header: u64, idle: u64) -> AppOptions {
    AppOptions {
        header_timeout: Some(Duration::from_secs(header)),
        idle_timeout: Some(Duration::from_secs(idle)),
        ..Default::default()
    }
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

#[tokio::test]
async fn a_stalled_upload_and_an_idle_keep_alive_are_closed() {
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
    let (_, after) = closed_within(&mut stalled, Duration::from_secs(10))
        .await
        .expect("a stalled upload is still open after 10 s");
    assert!(after >= Duration::from_millis(900), "closed before the idle timeout: {after:?}");
    assert!(app.stored_sessions().await.is_empty());

    let mut idle = connect(&app).await;
    idle.write_all(b"GET /api/health HTTP/1.1\r\nHost: test\r\n\r\n").await.unwrap();
    let (answer, _) = closed_within(&mut idle, Duration::from_secs(10))
        .await
        .expect("an idle keep-alive is still open after 10 s");
    assert!(answer.starts_with("HTTP/1.1 200"), "the request itself was answered: {answer}");
}

/// While the service works on a request nothing moves on the connection; that is not idling.
#[tokio::test]
async fn a_slow_answer_is_not_mistaken_for_an_idle_connection() {
    let app = spawn_app_with(AppOptions {
        idle_timeout: Some(Duration::from_secs(1)),
        s3_endpoint: Some(black_hole().await),
        storage_timeout: Some(Duration::from_secs(3)),
        ..Default::default()
    })
    .await;
    let resp = app.get("/api/sessions/HzKozOxIxl4dO0YijPu0q").await;
    assert_eq!(resp.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn connections_past_the_cap_wait_for_a_free_one() {
    let app = spawn_app_with(AppOptions { max_connections: Some(2), ..options(30, 30) }).await;
    let mut held = vec![connect(&app).await, connect(&app).await];
    for socket in &mut held {
        socket.write_all(b"GET /api/health HTTP/1.1\r\nHost: test\r\n").await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
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
