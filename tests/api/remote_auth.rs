//! Keys checked by a remote key service (`--auth-url`), against a small HTTP server started here.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use poem::{
    EndpointExt, Request, Response, Route, handler,
    http::StatusCode as PoemStatus,
    listener::{Acceptor, Listener, TcpListener},
    web::Data,
};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_error, eventually, small_session, spawn_app_with};

/// Accepts `remote-good` as user `Carol` and refuses anything else; counts its calls.
/// Dropping the sender stops it, connections and all.
async fn start_key_service(calls: Arc<AtomicUsize>) -> (String, tokio::sync::oneshot::Sender<()>) {
    #[handler]
    fn check(req: &Request, Data(calls): Data<&Arc<AtomicUsize>>) -> Response {
        calls.fetch_add(1, Ordering::SeqCst);
        match req.header("Syntx-Api-Key") {
            Some("remote-good") => Response::builder()
                .content_type("application/json")
                .body(r#"{"username": "Carol"}"#),
            _ => Response::builder().status(PoemStatus::UNAUTHORIZED).body("no"),
        }
    }
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().unwrap().to_string();
    let app = Route::new().at("/check", check).data(calls);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(
                app,
                async {
                    let _ = stopped.await;
                },
                Some(Duration::from_millis(100)),
            )
            .await;
    });
    (format!("http://{addr}/check"), stop)
}

#[tokio::test]
async fn unknown_keys_are_checked_remotely_and_cached() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (url, service) = start_key_service(calls.clone()).await;
    let app = spawn_app_with(|s| {
        s.auth_url = Some(url.clone());
        s.auth_cache_ttl = Duration::from_secs(300);
    })
    .await;
    let create = |key: &'static str| {
        app.client
            .post(app.url("/api/sessions/create"))
            .header("Content-Type", "application/json")
            .header("Syntx-Api-Key", key)
            .body(small_session())
            .send()
    };

    let resp = create("remote-good").await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["username"], "carol");
    assert_eq!(create("remote-good").await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the acceptance was cached");

    assert_error(create("remote-bad").await.unwrap(), StatusCode::UNAUTHORIZED, "INVALID_API_KEY")
        .await;
    assert_error(create("remote-bad").await.unwrap(), StatusCode::UNAUTHORIZED, "INVALID_API_KEY")
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the rejection was cached");

    // Local keys never go out.
    app.create(small_session()).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // The key service goes away: a key it has not vouched for is a 503, not a 401.
    drop(service);
    let address = url.trim_start_matches("http://").trim_end_matches("/check").to_owned();
    eventually(Duration::from_secs(5), || async {
        tokio::net::TcpStream::connect(&address).await.is_err()
    })
    .await;
    let resp = create("remote-other").await.unwrap();
    assert_eq!(resp.headers()["retry-after"], "5");
    assert_error(resp, StatusCode::SERVICE_UNAVAILABLE, "AUTH_UNAVAILABLE").await;
    assert_eq!(
        create("remote-good").await.unwrap().status(),
        StatusCode::CREATED,
        "cached while it is away"
    );
}

#[tokio::test]
async fn rejections_are_cached_for_a_shorter_time() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (url, _service) = start_key_service(calls.clone()).await;
    // A 10 s TTL: acceptances for 10 s, rejections for 1 s.
    let app = spawn_app_with(|s| {
        s.auth_url = Some(url);
        s.auth_cache_ttl = Duration::from_secs(10);
    })
    .await;
    let get = |key: &'static str| {
        app.client
            .get(app.url("/api/sessions/HzKozOxIxl4dO0YijPu0q"))
            .header("Syntx-Api-Key", key)
            .send()
    };
    // A rejected key reads as no key: the unknown id is a 404 either way.
    assert_eq!(get("remote-bad").await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(get("remote-good").await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    get("remote-bad").await.unwrap();
    get("remote-good").await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3, "the rejection expired, the acceptance did not");
}

#[tokio::test]
async fn an_unreachable_key_service_is_503_not_401() {
    // Bind a port, then free it: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = spawn_app_with(|s| {
        s.auth_url = Some(format!("http://127.0.0.1:{port}/check"));
    })
    .await;
    let resp = app
        .client
        .post(app.url("/api/sessions/create"))
        .header("Content-Type", "application/json")
        .header("Syntx-Api-Key", "someone-elses")
        .body(small_session())
        .send()
        .await
        .unwrap();
    assert_error(resp, StatusCode::SERVICE_UNAVAILABLE, "AUTH_UNAVAILABLE").await;
    // Keys issued here still work.
    app.create(small_session()).await;
}
