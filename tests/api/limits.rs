//! Rate limits and CORS.

use reqwest::StatusCode;

use crate::helpers::{assert_error, fresh_session, small_session, spawn_app, spawn_app_with};

#[tokio::test]
async fn writes_are_limited_per_key_with_retry_after() {
    let app = spawn_app_with(|s| {
        s.write_rate = "3/min".parse().unwrap();
    })
    .await;
    let bob = app.key_for("bob").await;
    for _ in 0..3 {
        app.create(fresh_session()).await;
    }
    let resp = app.post_json("/api/sessions/create", fresh_session()).send().await.unwrap();
    let retry: u32 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_error(resp, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    // Another key has its own allowance.
    let resp = app.share_as(&bob, small_session()).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(app.stored_sessions().await.len(), 4, "4 shares, no more");
}

#[tokio::test]
async fn anonymous_reads_are_limited_per_client_address() {
    let app = spawn_app_with(|s| {
        s.read_rate = "5/min".parse().unwrap();
        s.client_ip_header = Some("X-Forwarded-For".into());
    })
    .await;
    let id = app.create(small_session()).await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/sessions/{id}");
    let from =
        |addr: &'static str| app.client.get(app.url(&path)).header("X-Forwarded-For", addr).send();
    // The trusted proxy appends the address it saw: the rightmost entry. What the client put
    // before it is the client's to make up, so it cannot buy a fresh allowance.
    for spoofed in ["", "1.1.1.1, ", "2.2.2.2, ", "3.3.3.3, 4.4.4.4, ", "5.5.5.5, "] {
        let resp = from(Box::leak(format!("{spoofed}203.0.113.7").into_boxed_str())).await;
        assert_eq!(resp.unwrap().status(), StatusCode::OK);
    }
    let limited = from("6.6.6.6, 203.0.113.7").await.unwrap();
    assert!(limited.headers().contains_key("retry-after"));
    assert_error(limited, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    assert_eq!(from("198.51.100.2").await.unwrap().status(), StatusCode::OK, "another client");
    let keyed = app
        .client
        .get(app.url(&path))
        .header("X-Forwarded-For", "203.0.113.7")
        .header("Syntx-Api-Key", &app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(keyed.status(), StatusCode::OK, "a key has its own allowance");
}

#[tokio::test]
async fn cors_allows_the_webview_and_the_public_origin_by_default() {
    let app = spawn_app().await;
    for origin in ["vscode-webview://1a2b3c", app.address.as_str()] {
        let preflight = app
            .client
            .request(reqwest::Method::OPTIONS, app.url("/api/sessions/create"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type, syntx-api-key")
            .send()
            .await
            .unwrap();
        assert!(preflight.status().is_success(), "{origin}: {}", preflight.status());
        assert_eq!(preflight.headers()["access-control-allow-origin"], origin);
        let allowed =
            preflight.headers()["access-control-allow-headers"].to_str().unwrap().to_lowercase();
        assert!(allowed.contains("syntx-api-key"), "{allowed}");
        let get =
            app.client.get(app.url("/api/health")).header("Origin", origin).send().await.unwrap();
        assert_eq!(get.headers()["access-control-allow-origin"], origin);
    }
    let evil = app
        .client
        .get(app.url("/api/health"))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!evil.headers().contains_key("access-control-allow-origin"));
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/sessions/create"))
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(!preflight.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn cors_origins_are_configurable() {
    let app = spawn_app_with(|s| {
        s.cors_origins =
            Some(vec!["https://app.example.com".into(), "https://*.preview.example.com".into()]);
    })
    .await;
    let origin_allowed = |origin: &'static str| {
        let req = app.client.get(app.url("/api/health")).header("Origin", origin);
        async move { req.send().await.unwrap().headers().contains_key("access-control-allow-origin") }
    };
    assert!(origin_allowed("https://app.example.com").await);
    assert!(origin_allowed("https://*.preview.example.com").await, "a trailing * only");
    assert!(!origin_allowed("vscode-webview://x").await, "the default is replaced");
    assert!(!origin_allowed("https://app.example.com.evil.net").await);
}

/// A made-up key buys no allowance of its own: an unknown key reads as anonymous, and the read
/// is charged to the client's address.
#[tokio::test]
async fn made_up_keys_are_charged_to_the_address() {
    let app = spawn_app_with(|s| {
        s.read_rate = "3/min".parse().unwrap();
    })
    .await;
    let id = app.create(small_session()).await["id"].as_str().unwrap().to_owned();
    for i in 0..3 {
        let resp = app
            .client
            .get(app.url(&format!("/api/sessions/{id}")))
            .header("Syntx-Api-Key", format!("ssk_made_up_{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let resp = app
        .client
        .get(app.url(&format!("/api/sessions/{id}")))
        .header("Syntx-Api-Key", "ssk_made_up_again")
        .send()
        .await
        .unwrap();
    assert_error(resp, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    // A real key has its own allowance.
    let resp = app
        .client
        .get(app.url(&format!("/api/sessions/{id}")))
        .header("Syntx-Api-Key", &app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

/// Guessing keys: once an address fails more key checks than `--auth-failure-rate` allows, it
/// gets 429 on writes
/// without its keys being looked up; its reads still work, as anonymous.
#[tokio::test]
async fn failed_key_checks_are_limited_per_address() {
    let app = spawn_app_with(|s| {
        s.auth_failure_rate = "3/min".parse().unwrap();
    })
    .await;
    let id = app.create(small_session()).await["id"].as_str().unwrap().to_owned();
    let guess = |key: String| {
        app.client
            .post(app.url("/api/sessions/create"))
            .header("Content-Type", "application/json")
            .header("Syntx-Api-Key", key)
            .body(small_session())
            .send()
    };
    // 3 allowed, and the 4th that goes over.
    for i in 0..4 {
        assert_error(
            guess(format!("ssk_guess_{i}")).await.unwrap(),
            StatusCode::UNAUTHORIZED,
            "INVALID_API_KEY",
        )
        .await;
    }
    let resp = guess("ssk_guess_again".into()).await.unwrap();
    assert!(resp.headers().contains_key("retry-after"));
    assert_error(resp, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    // Even a right key waits: the address is refused before any lookup.
    let resp = app.post_json("/api/sessions/create", small_session()).send().await.unwrap();
    assert_error(resp, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    // Reads still answer, as anonymous.
    let read = app
        .client
        .get(app.url(&format!("/api/sessions/{id}")))
        .header("Syntx-Api-Key", "ssk_guess_more")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
}

/// Share-page images are reads too.
#[tokio::test]
async fn share_page_images_are_charged_as_reads() {
    let app = spawn_app_with(|s| {
        s.read_rate = "3/min".parse().unwrap();
    })
    .await;
    let mut doc: serde_json::Value = serde_json::from_slice(&small_session()).unwrap();
    let png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    doc["messages"][0]["images"] = serde_json::json!([png]);
    let id = app.create(doc.to_string()).await["id"].as_str().unwrap().to_owned();
    let image = format!("/session/{id}/images/0/0");
    for _ in 0..3 {
        assert_eq!(app.get(&image).await.status(), StatusCode::OK);
    }
    assert_eq!(app.get(&image).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// Upload bytes held in memory are bounded across requests: past `--max-inflight-bodies` an
/// upload waits a little, then gets 503 SERVER_BUSY with Retry-After; room comes back when
/// the uploads holding it end.
#[tokio::test]
async fn upload_bytes_in_flight_are_bounded() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app_with(|s| {
        s.max_inflight_bodies = 1024 * 1024;
    })
    .await;
    // A slow client: 900 KB of a 1 MB body sent, the rest not yet.
    let mut slow =
        tokio::net::TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap();
    let head = format!(
        "POST /api/sessions/create HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Syntx-Api-Key: {}\r\nContent-Length: 1000000\r\n\r\n",
        app.api_key
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&vec![b' '; 900_000]).await.unwrap();

    // Once the slow upload's bytes have arrived, a 250 KB upload finds no room (until they
    // have, it may still be created).
    let medium = crate::helpers::fixture("medium.json");
    // Bounded by time, not by a count of creates: on a loaded machine with moto, 20 creates
    // can finish before the service has read the slow client's bytes.
    // Budget is taken as bytes arrive, so while the service is still reading the slow body a
    // create can hold part of the room the slow one needs: then each waits for the other, and
    // the one that waited first, the slow one, is refused. Either way an upload past the
    // budget has waited and been told 503 SERVER_BUSY.
    let started = std::time::Instant::now();
    loop {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "uploads still created 10 s after 900 KB of 1 MiB were sent"
        );
        let resp = app.post_json("/api/sessions/create", medium.clone()).send().await.unwrap();
        if resp.status() != StatusCode::CREATED {
            assert!(resp.headers().contains_key("retry-after"));
            assert_error(resp, StatusCode::SERVICE_UNAVAILABLE, "SERVER_BUSY").await;
            break;
        }
        let mut answer = [0u8; 4096];
        if let Ok(n @ 1..) = slow.try_read(&mut answer) {
            let answer = String::from_utf8_lossy(&answer[..n]).to_lowercase();
            assert!(answer.starts_with("http/1.1 503"), "the slow upload got {answer}");
            assert!(answer.contains("\r\nretry-after:"), "{answer}");
            assert!(answer.contains(r#""code":"server_busy""#), "{answer}");
            break;
        }
    }

    drop(slow);
    // Room comes back once the service has seen the slow client go (a create meanwhile may
    // still wait and get 503).
    crate::helpers::eventually(std::time::Duration::from_secs(20), || async {
        let resp = app.post_json("/api/sessions/create", medium.clone()).send().await.unwrap();
        resp.status() == StatusCode::CREATED
    })
    .await;
}
