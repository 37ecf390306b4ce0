//! The share page over HTTP (the browser tests in tests/browser drive it in chromium).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{another_task, eventually, fixture, small_session, spawn_app};

#[tokio::test]
async fn the_page_is_html_under_a_strict_content_security_policy() {
    let app = spawn_app().await;
    let id = app.create(small_session()).await["id"].as_str().unwrap().to_owned();
    for path in
        [format!("/session/{id}"), format!("/session/alice/{id}"), format!("/session/Alice/{id}")]
    {
        let resp = app.get(&path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        let html = resp.text().await.unwrap();
        assert!(html.contains("Config route module share path api token server the."));
        assert!(
            html.contains(&format!("vscode://OrangecatTechPvtLtd.syntx/import-session?id={id}"))
        );
        assert!(html.contains(&format!("data-code=\"alice/{id}\"")));
    }
    for asset in ["/assets/page.css", "/assets/page.js", "/assets/highlight.css"] {
        assert_eq!(app.get(asset).await.status(), StatusCode::OK, "{asset}");
    }
}

#[tokio::test]
async fn missing_private_and_expired_shares_are_html_404_and_410() {
    let app = spawn_app().await;
    let mut doc: Value = serde_json::from_slice(&another_task(&small_session())).unwrap();
    doc["isPublic"] = json!(false);
    let private = app.create_id(doc.to_string()).await;
    let mut doc: Value = serde_json::from_slice(&another_task(&small_session())).unwrap();
    doc["expiresAt"] = json!((chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339());
    let expiring = app.create_id(doc.to_string()).await;
    eventually(std::time::Duration::from_secs(4), || async {
        app.get(&format!("/session/{expiring}")).await.status() == StatusCode::GONE
    })
    .await;
    for (path, status) in [
        ("/session/HzKozOxIxl4dO0YijPu0q".to_owned(), StatusCode::NOT_FOUND),
        (format!("/session/{private}"), StatusCode::NOT_FOUND),
        (format!("/session/bob/{private}"), StatusCode::NOT_FOUND),
        (format!("/session/{expiring}"), StatusCode::GONE),
        ("/session/not%20an%20id".to_owned(), StatusCode::BAD_REQUEST),
    ] {
        let resp = app.get(&path).await;
        assert_eq!(resp.status(), status, "{path}");
        assert!(
            resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"),
            "{path}"
        );
        assert!(resp.text().await.unwrap().starts_with("<!doctype html>"));
    }
}

#[tokio::test]
async fn long_sessions_are_paged_and_images_are_served_separately() {
    let app = spawn_app().await;
    let large = fixture("large.json");
    let doc: Value = serde_json::from_slice(&large).unwrap();
    let id = app.create(large).await["id"].as_str().unwrap().to_owned();
    let total = doc["messages"].as_array().unwrap().len();
    let pages = total.div_ceil(200);
    let first = app.get(&format!("/session/{id}")).await.text().await.unwrap();
    assert_eq!(first.matches("<article").count(), 200);
    assert!(!first.contains("data:image"));
    let last = app.get(&format!("/session/{id}?page={pages}")).await.text().await.unwrap();
    assert_eq!(last.matches("<article").count(), total - 200 * (pages - 1));
    assert_eq!(
        app.get(&format!("/session/{id}?page={}", pages + 1)).await.status(),
        StatusCode::NOT_FOUND
    );

    let (index, _) = doc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .find(|(_, m)| m["images"].as_array().is_some_and(|i| !i.is_empty()))
        .unwrap();
    let image = app.get(&format!("/session/{id}/images/{index}/0")).await;
    assert_eq!(image.status(), StatusCode::OK);
    assert_eq!(image.headers()["content-type"], "image/png");
    assert!(image.bytes().await.unwrap().starts_with(b"\x89PNG"));
    assert_eq!(
        app.get(&format!("/session/{id}/images/{index}/9")).await.status(),
        StatusCode::NOT_FOUND
    );
}

/// The extension parses `/session/{id}` only, so the share-code page form redirects there for
/// good: the URL a user copies from the address bar is one the extension imports.
#[tokio::test]
async fn the_share_code_page_redirects_to_the_page_the_extension_parses() {
    let app = spawn_app().await;
    let id = app.create(small_session()).await["id"].as_str().unwrap().to_owned();
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for (path, target) in [
        (format!("/session/alice/{id}"), format!("/session/{id}")),
        (format!("/session/Alice/{id}?page=2"), format!("/session/{id}?page=2")),
    ] {
        let resp = client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::MOVED_PERMANENTLY, "{path}");
        assert_eq!(resp.headers()["location"].to_str().unwrap(), app.url(&target));
    }
    let resp = client.get(app.url(&format!("/session/al%20ice/{id}"))).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().starts_with("<!doctype html>"));
}

/// Messages are rendered once and remembered: a warm view is the same page as the first,
/// on every page, and a title changed since shows at once.
#[tokio::test]
async fn a_warm_view_is_the_same_page_and_shows_current_metadata() {
    let app = spawn_app().await;
    let id = app.create(fixture("large.json")).await["id"].as_str().unwrap().to_owned();
    for page in ["", "?page=2"] {
        let path = format!("/session/{id}{page}");
        let cold = app.get(&path).await.text().await.unwrap();
        let warm = app.get(&path).await.text().await.unwrap();
        assert!(cold.contains("<article"), "{page}");
        assert!(cold == warm, "the cached rendering differs on {path}");
    }
    let patch =
        app.patch(&id, json!({"title": "Renamed after the first view"}), &app.api_key).await;
    assert_eq!(patch.status(), StatusCode::OK);
    let html = app.get(&format!("/session/{id}")).await.text().await.unwrap();
    assert!(html.contains("Renamed after the first view"));
}
