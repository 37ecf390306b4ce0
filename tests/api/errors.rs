//! Every refusal is the README's JSON `{error, code, details?}`, with `error` first and short,
//! whatever refused the request: a route, the router, CORS, or the request's size.

use reqwest::StatusCode;

use crate::helpers::{AppOptions, assert_error, raw_get, spawn_app, spawn_app_with};

#[tokio::test]
async fn refusals_outside_the_routes_are_json_too() {
    let app = spawn_app_with(AppOptions {
        cors_origins: Some(vec!["https://sessions.example".into()]),
        ..Default::default()
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

#[tokio::test]
async fn a_405_names_the_methods_the_route_takes() {
    let app = spawn_app().await;
    for (method, path, allowed) in [
        (reqwest::Method::POST, "/api/sessions/HzKozOxIxl4dO0YijPu0q", "GET, PUT, PATCH, DELETE"),
        (reqwest::Method::PUT, "/api/sessions/create", "POST"),
        (reqwest::Method::PUT, "/api/health", "GET"),
    ] {
        let resp = app.client.request(method, app.url(path)).send().await.unwrap();
        assert_eq!(resp.headers()["allow"].to_str().unwrap(), allowed, "{path}");
        assert_error(resp, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED").await;
    }
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
