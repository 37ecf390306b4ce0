//! Every refusal is the README's JSON `{error, code, details?}`, with `error` first and short,
//! whatever refused the request: a route, the router, CORS, or the request's size.

use reqwest::StatusCode;

use crate::helpers::{assert_error, raw_get, spawn_app, spawn_app_with};

#[tokio::test]
async fn refusals_outside_the_routes_are_json_too() {
    let app = spawn_app_with(|s| {
        s.cors_origins = Some(vec!["https://sessions.example".into()]);
    })
    .await;
    let cors = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/sessions"))
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    let body = assert_error(cors, StatusCode::FORBIDDEN, "ACCESS_DENIED").await;
    assert!(body["error"].as_str().unwrap().contains("cross-origin"), "{body}");

    let long = app.get(&format!("/api/sessions/{}", "a".repeat(9000))).await;
    assert_error(long, StatusCode::URI_TOO_LONG, "URI_TOO_LONG").await;

    let big = app
        .client
        .get(app.url("/api/health"))
        .header("X-Padding", "a".repeat(40_000))
        .send()
        .await
        .unwrap();
    assert_error(big, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "HEADERS_TOO_LARGE").await;

    let route = app.get("/api/nothing-here").await;
    assert_error(route, StatusCode::NOT_FOUND, "NOT_FOUND").await;

    let limit = app
        .client
        .get(app.url("/api/sessions?limit=abc"))
        .header("Syntx-Api-Key", &app.api_key)
        .send()
        .await
        .unwrap();
    let body = assert_error(limit, StatusCode::BAD_REQUEST, "INVALID_REQUEST").await;
    assert!(body["error"].as_str().unwrap().contains("limit"), "{body}");

    let (status, body) = raw_get(&app.address, "/api/sessions/a..b/HzKozOxIxl4dO0YijPu0q").await;
    assert_eq!((status, body["code"].as_str()), (400, Some("INVALID_USERNAME")), "{body}");
}

/// Every route the service has (the API, the pages, their assets, `/metrics`, `/docs`), every
/// method: the ones it takes are not refused, and every other one answers 405 with `Allow`
/// naming exactly the ones it takes. (No key is sent: nothing is changed.)
#[tokio::test]
async fn every_route_and_method_a_405_names_what_the_route_takes() {
    let app = spawn_app().await;
    let id = app.create_id(crate::helpers::fresh_session()).await;
    let paths: Vec<&str> = app.routes.routes().iter().map(|(path, _)| path.as_str()).collect();
    for expected in
        ["/api/sessions/create", "/session/:id", "/assets/page.css", "/metrics", "/docs", "/my"]
    {
        assert!(paths.contains(&expected), "{expected} is not routed: {paths:?}");
    }
    let mut walked = 0;
    for (pattern, methods) in app.routes.routes() {
        let methods: Vec<&str> = methods.iter().map(|m| m.as_str()).collect();
        // Parameters by where they are: after `images/` a message and an image number; two in
        // a row a share code (username, id); any other one an id.
        let segments: Vec<&str> = pattern.split('/').collect();
        let path = segments
            .iter()
            .enumerate()
            .map(|(i, segment)| {
                let after_images = segments[..i].iter().rev().take(2).any(|s| *s == "images");
                let before_param = segments.get(i + 1).is_some_and(|s| s.starts_with(':'));
                match *segment {
                    literal if !literal.starts_with(':') => literal,
                    _ if after_images => "0",
                    _ if before_param => "alice",
                    _ => id.as_str(),
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"] {
            let resp =
                app.client.request(method.parse().unwrap(), app.url(&path)).send().await.unwrap();
            walked += 1;
            if methods.contains(&method) {
                assert_ne!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                // A route may answer 404 (no such share or image), never the router's own.
                let body = resp.text().await.unwrap();
                assert!(!body.contains("no such route"), "{method} {path}: not routed");
                continue;
            }
            assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_eq!(resp.headers()["allow"].to_str().unwrap(), methods.join(", "), "{path}");
            if method != "HEAD" {
                assert_error(resp, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED").await;
            }
        }
    }
    eprintln!("{} routes, {walked} requests", app.routes.routes().len());
    let metrics = app.client.delete(app.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.headers()["allow"], "GET, HEAD");
    let api = app.client.post(app.url(&format!("/api/sessions/{id}"))).send().await.unwrap();
    assert_eq!(api.headers()["allow"], "GET, HEAD, PUT, PATCH, DELETE");
}

#[tokio::test]
async fn error_answers_put_the_message_first() {
    let app = spawn_app().await;
    let resp = app.get("/api/sessions/HzKozOxIxl4dO0YijPu0q").await;
    let text = resp.text().await.unwrap();
    assert!(text.starts_with("{\"error\":"), "{text}");
}

/// Every body the document says is an object is refused with 400 when it is not: a PATCH, a
/// PUT, both creates and an import, each with an array, a string, a number and null.
#[tokio::test]
async fn bodies_that_are_not_objects_are_refused() {
    let app = spawn_app().await;
    let id = app.create_id(crate::helpers::fresh_session()).await;
    for body in ["[]", "[null]", "\"x\"", "1", "null"] {
        let patch = app.client.patch(app.url(&format!("/api/sessions/{id}")));
        let sent = [
            ("PATCH", patch),
            ("PUT", app.client.put(app.url(&format!("/api/sessions/{id}")))),
            ("create", app.client.post(app.url("/api/sessions/create"))),
            ("POST /api/sessions", app.client.post(app.url("/api/sessions"))),
        ];
        for (what, request) in sent {
            let resp = request
                .header("Content-Type", "application/json")
                .header("Syntx-Api-Key", &app.api_key)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{what} {body}");
            let error: serde_json::Value = resp.json().await.unwrap();
            assert!(
                ["INVALID_REQUEST", "INVALID_SESSION"].contains(&error["code"].as_str().unwrap()),
                "{what} {body}: {error}"
            );
        }
    }
    // Nothing was changed by any of them.
    let resp = app.get(&format!("/api/sessions/{id}")).await;
    assert_eq!(resp.headers()["x-session-revision"], "1");
}
