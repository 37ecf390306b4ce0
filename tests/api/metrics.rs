//! `GET /metrics`, and what it shows of the storage requests each operation makes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    TestApp, eventually, fresh_session, small_session, spawn_app, spawn_replica, with_message,
};

async fn metrics(app: &TestApp) -> String {
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    resp.text().await.unwrap()
}

/// The value of the series whose line starts with `series` (0 when absent).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

const OPERATIONS: [&str; 4] = ["get", "put", "list", "delete"];

/// Storage requests by operation, as `/metrics` counts them.
async fn storage(app: &TestApp) -> [f64; 4] {
    let text = metrics(app).await;
    OPERATIONS.map(|op| {
        value(&text, &format!("session_share_storage_requests_total{{operation=\"{op}\"}}"))
    })
}

/// The storage requests `during` makes through `app`: get, put, list, delete.
async fn cost<F: std::future::Future<Output = ()>>(app: &TestApp, during: F) -> [u32; 4] {
    let before = storage(app).await;
    during.await;
    let after = storage(app).await;
    std::array::from_fn(|i| (after[i] - before[i]) as u32)
}

/// Waits for the start-up probe of storage (a write and a delete of its own) to be done.
async fn probed(app: &TestApp) {
    eventually(Duration::from_secs(10), || async {
        let health: serde_json::Value = app.get("/api/health").await.json().await.unwrap();
        health["storage"]["conditionalWrites"] == "supported"
    })
    .await;
}

#[tokio::test]
async fn requests_storage_bytes_and_caches_are_counted() {
    let app = spawn_app().await;
    let body = small_session();
    let id = app.create_id(body.clone()).await;
    assert_eq!(app.get(&format!("/api/sessions/{id}")).await.status(), StatusCode::OK);
    assert_eq!(
        app.get("/api/sessions/HzKozOxIxl4dO0YijPu0q").await.status(),
        StatusCode::NOT_FOUND
    );

    let text = metrics(&app).await;
    for series in [
        r#"session_share_http_requests_total{method="POST",route="createSession",status="201"}"#,
        r#"session_share_http_requests_total{method="GET",route="getSession",status="200"}"#,
        r#"session_share_http_requests_total{method="GET",route="getSession",status="404"}"#,
        r#"session_share_http_request_duration_seconds_count{method="GET",route="getSession"}"#,
        r#"session_share_cache_lookups_total{cache="keys",result="miss"}"#,
    ] {
        assert!(value(&text, series) >= 1.0, "{series} in\n{text}");
    }
    assert!(value(&text, "session_share_request_body_bytes_total") >= body.len() as f64);
    assert!(value(&text, "session_share_response_body_bytes_total") > 0.0);
    assert_eq!(value(&text, "session_share_uploads_in_flight"), 0.0);
    assert!(text.ends_with("# EOF\n"));
    // A refusal by an extractor (here: no key) is still counted under its route.
    let anonymous = app
        .client
        .post(app.url("/api/sessions/create"))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let text = metrics(&app).await;
    let refused =
        r#"session_share_http_requests_total{method="POST",route="createSession",status="401"}"#;
    assert_eq!(value(&text, refused), 1.0, "{text}");
}

/// What each operation costs in storage requests (get, put, list, delete), counted through
/// `/metrics` on the real S3 server; `docs/design.md` has the table this prints.
#[tokio::test]
async fn each_operation_makes_the_storage_requests_it_should() {
    let app = &spawn_app().await;
    probed(app).await;
    let mut table = Vec::new();
    let mut row = |what: &str, got: [u32; 4], want: [u32; 4]| {
        table.push(format!("| {what} | {} | {} | {} | {} |", got[0], got[1], got[2], got[3]));
        assert_eq!(got, want, "{what}: get, put, list, delete");
    };
    // The key is remembered after its first use, and the id key and owner entry are made once.
    let body = fresh_session();
    let mut id = String::new();
    let made = &mut id;
    row(
        "first create on a replica (key check, id key and owner entry made)",
        cost(app, async {
            *made = app.create_id(body.clone()).await;
        })
        .await,
        [2, 3, 0, 0],
    );
    row(
        "create",
        cost(app, async {
            app.create_id(fresh_session()).await;
        })
        .await,
        [0, 1, 0, 0],
    );
    let again = with_message(&body, "more work");
    row(
        "share the same task again (a revision)",
        cost(app, async {
            assert_eq!(app.create(again.clone()).await["revision"], 2);
        })
        .await,
        [1, 2, 0, 0],
    );
    row(
        "share it again unchanged (nothing to add)",
        cost(app, async {
            assert_eq!(app.create(again.clone()).await["revision"], 2);
        })
        .await,
        [1, 0, 0, 0],
    );
    let read = |path: String| async move {
        let resp = app.get(&path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        resp.bytes().await.unwrap();
    };
    row(
        "read by id, first on this replica (the owner's folder looked up)",
        cost(app, read(format!("/api/sessions/{id}"))).await,
        [1, 0, 1, 0],
    );
    row("read by id", cost(app, read(format!("/api/sessions/{id}"))).await, [1, 0, 0, 0]);
    let page = |path: String| async move {
        let resp = app.page(&path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        resp.bytes().await.unwrap();
    };
    row(
        "share page, not yet parsed here (record confirmed, document read)",
        cost(app, page(format!("/session/{id}"))).await,
        [2, 0, 0, 0],
    );
    row(
        "share page, parsed (its record confirmed by its ETag)",
        cost(app, page(format!("/session/{id}"))).await,
        [1, 0, 0, 0],
    );
    row(
        "read by share code",
        cost(app, read(format!("/api/sessions/alice/{id}"))).await,
        [1, 0, 0, 0],
    );
    row(
        "read an earlier revision (its file and the share's record, at once)",
        cost(app, read(format!("/api/sessions/{id}?revision=1"))).await,
        [2, 0, 0, 0],
    );
    row(
        "import by share code",
        cost(app, async {
            assert_eq!(
                app.import(json!({"id": id, "username": "alice"}), None).await.status(),
                StatusCode::OK
            );
        })
        .await,
        [1, 0, 0, 0],
    );
    row(
        "list revisions",
        cost(app, async {
            assert_eq!(app.revisions(&id).await.status(), StatusCode::OK);
        })
        .await,
        [1, 0, 0, 0],
    );
    row(
        "first listing (no snapshot yet: 2 records read, the snapshot written)",
        cost(app, async {
            assert_eq!(app.listed_ids(&app.api_key).await.len(), 2);
        })
        .await,
        [3, 1, 1, 0],
    );
    row(
        "listing again, nothing changed (the LIST alone)",
        cost(app, async {
            assert_eq!(app.listed_ids(&app.api_key).await.len(), 2);
        })
        .await,
        [0, 0, 1, 0],
    );
    row(
        "PATCH",
        cost(app, async {
            assert_eq!(
                app.patch(&id, json!({"title": "t"}), &app.api_key).await.status(),
                StatusCode::OK
            );
        })
        .await,
        [1, 1, 0, 0],
    );
    row(
        "missing id, unknown owner prefix",
        cost(app, async {
            assert_eq!(
                app.get("/api/sessions/NoSuchShareAnywhere01").await.status(),
                StatusCode::NOT_FOUND
            );
        })
        .await,
        [0, 0, 1, 0],
    );
    row(
        "missing id, known owner prefix",
        cost(app, async {
            assert_eq!(
                app.get(&format!("/api/sessions/{}Xmissingmissi", &id[..8])).await.status(),
                StatusCode::NOT_FOUND
            );
        })
        .await,
        [1, 0, 0, 0],
    );
    row(
        "DELETE (a share with one earlier revision)",
        cost(app, async {
            assert_eq!(app.delete(&id, &app.api_key).await.status(), StatusCode::NO_CONTENT);
        })
        .await,
        [1, 1, 1, 1],
    );

    // Another replica, which has seen nothing: a read by id finds the owner's folder once.
    let cold = &spawn_replica(app, |_| {}).await;
    probed(cold).await;
    let other = app.create_id(fresh_session()).await;
    let path = format!("/api/sessions/{other}");
    row(
        "read by id, another replica's first",
        cost(cold, async {
            cold.get(&path).await.bytes().await.unwrap();
        })
        .await,
        [1, 0, 1, 0],
    );
    row(
        "read by id, that replica again",
        cost(cold, async {
            cold.get(&path).await.bytes().await.unwrap();
        })
        .await,
        [1, 0, 0, 0],
    );
    // Its folder holds 3: the deleted share's marker (changed since the snapshot), a share the
    // snapshot has, and one it has never seen.
    row(
        "listing on that replica (key check, snapshot, 2 changed since it)",
        cost(cold, async {
            assert_eq!(cold.listed_ids(&app.api_key).await.len(), 2);
        })
        .await,
        [4, 0, 1, 0],
    );
    let table = format!(
        "| operation | get | put | list | delete |\n|---|---|---|---|---|\n{}\n",
        table.join("\n")
    );
    let design = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/design.md"));
    assert!(design.unwrap().contains(&table), "docs/design.md should hold, as measured:\n{table}");
}
