//! The share page over HTTP (the browser tests in tests/browser drive it in chromium).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    another_task, assert_error, eventually, fixture, gunzip, small_session, spawn_app,
    spawn_app_with,
};

#[tokio::test]
async fn the_page_is_html_under_a_strict_content_security_policy() {
    let app = spawn_app().await;
    let id = app.create(small_session()).await["id"].as_str().unwrap().to_owned();
    for path in
        [format!("/session/{id}"), format!("/session/alice/{id}"), format!("/session/Alice/{id}")]
    {
        let resp = app.page(&path).await;
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
        assert_eq!(app.page(asset).await.status(), StatusCode::OK, "{asset}");
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
    let deleted = app.create_id(another_task(&small_session())).await;
    assert_eq!(app.delete(&deleted, &app.api_key).await.status(), StatusCode::NO_CONTENT);
    eventually(std::time::Duration::from_secs(4), || async {
        app.page(&format!("/session/{expiring}")).await.status() == StatusCode::GONE
    })
    .await;
    for (path, status) in [
        ("/session/HzKozOxIxl4dO0YijPu0q".to_owned(), StatusCode::NOT_FOUND),
        (format!("/session/{private}"), StatusCode::NOT_FOUND),
        (format!("/session/bob/{private}"), StatusCode::NOT_FOUND),
        (format!("/session/{expiring}"), StatusCode::GONE),
        (format!("/session/{deleted}"), StatusCode::NOT_FOUND),
        (format!("/session/{deleted}.md"), StatusCode::NOT_FOUND),
        (format!("/session/{private}.md"), StatusCode::NOT_FOUND),
        (format!("/session/{expiring}.md"), StatusCode::GONE),
        ("/session/not%20an%20id".to_owned(), StatusCode::BAD_REQUEST),
    ] {
        let resp = app.page(&path).await;
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
    let first = app.page(&format!("/session/{id}")).await.text().await.unwrap();
    assert_eq!(first.matches("<article").count(), 200);
    assert!(!first.contains("data:image"));
    let last = app.page(&format!("/session/{id}?page={pages}")).await.text().await.unwrap();
    assert_eq!(last.matches("<article").count(), total - 200 * (pages - 1));
    assert_eq!(
        app.page(&format!("/session/{id}?page={}", pages + 1)).await.status(),
        StatusCode::NOT_FOUND
    );

    let (index, _) = doc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .find(|(_, m)| m["images"].as_array().is_some_and(|i| !i.is_empty()))
        .unwrap();
    let image = app.page(&format!("/session/{id}/images/{index}/0")).await;
    assert_eq!(image.status(), StatusCode::OK);
    assert_eq!(image.headers()["content-type"], "image/png");
    assert!(image.bytes().await.unwrap().starts_with(b"\x89PNG"));
    assert_eq!(
        app.page(&format!("/session/{id}/images/{index}/9")).await.status(),
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
        let cold = app.page(&path).await.text().await.unwrap();
        let warm = app.page(&path).await.text().await.unwrap();
        assert!(cold.contains("<article"), "{page}");
        assert!(cold == warm, "the cached rendering differs on {path}");
    }
    let patch =
        app.patch(&id, json!({"title": "Renamed after the first view"}), &app.api_key).await;
    assert_eq!(patch.status(), StatusCode::OK);
    let html = app.page(&format!("/session/{id}")).await.text().await.unwrap();
    assert!(html.contains("Renamed after the first view"));
}

/// What users share is kept out of search engines unless the operator says otherwise, and
/// then only public shares' pages.
#[tokio::test]
async fn pages_and_reads_say_noindex_unless_the_operator_allows_public_pages() {
    let app = spawn_app().await;
    let id = app.create_id(small_session()).await;
    for path in [
        format!("/session/{id}"),
        format!("/session/{id}.md"),
        format!("/api/sessions/{id}"),
        format!("/api/public/sessions/{id}"),
        "/session/HzKozOxIxl4dO0YijPu0q".to_owned(),
        "/docs".to_owned(),
    ] {
        let resp = app.page(&path).await;
        assert_eq!(resp.headers()["x-robots-tag"], "noindex", "{path}");
    }
    let html = app.page(&format!("/session/{id}")).await.text().await.unwrap();
    assert!(html.contains("<meta name=\"robots\" content=\"noindex\">"));

    let open = spawn_app_with(|s| {
        s.allow_indexing = true;
    })
    .await;
    let public = open.create_id(small_session()).await;
    let mut doc: Value = serde_json::from_slice(&another_task(&small_session())).unwrap();
    doc["isPublic"] = json!(false);
    let private = open.create_id(doc.to_string()).await;
    let page = open.page(&format!("/session/{public}")).await;
    assert_eq!(page.headers()["x-robots-tag"], "all");
    assert!(!page.text().await.unwrap().contains("name=\"robots\""));
    assert_eq!(open.page(&format!("/session/{public}.md")).await.headers()["x-robots-tag"], "all");
    // Reads by the API, private shares and errors stay out of search.
    for (path, key) in [
        (format!("/api/sessions/{public}"), None),
        (format!("/api/sessions/{private}"), Some(&open.api_key)),
        (format!("/session/{private}"), None),
    ] {
        let resp = match key {
            Some(key) => open.get_as(&path, key).await,
            None => open.page(&path).await,
        };
        assert_eq!(resp.headers()["x-robots-tag"], "noindex", "{path}");
    }
}

/// Older extensions import a pasted share URL by GETting it as it stands, with
/// `Accept: application/json` and the key as a bearer token: the page's URL answers them
/// what `GET /api/sessions/{id}` answers.
#[tokio::test]
async fn the_page_url_answers_json_to_the_older_extensions_import() {
    let app = spawn_app().await;
    let mut doc: Value = serde_json::from_slice(&small_session()).unwrap();
    doc["isPublic"] = json!(false);
    let body = serde_json::to_vec(&doc).unwrap();
    let id = app.create_id(body.clone()).await;
    let older = |path: String| {
        app.client
            .get(app.url(&path))
            .header("Accept", "application/json")
            .header("Authorization", format!("Bearer {}", app.api_key))
    };
    let resp = older(format!("/session/{id}")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(resp.bytes().await.unwrap(), body);
    let api = app.get_as(&format!("/api/sessions/{id}"), &app.api_key).await;
    assert_eq!(api.headers()["etag"].to_str().unwrap(), etag);

    // As Node's fetch asks: gzip, the same bytes once decoded; and revalidation.
    let resp = older(format!("/session/{id}")).header("Accept-Encoding", "gzip").send().await;
    let resp = resp.unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    assert_eq!(gunzip(&resp.bytes().await.unwrap()), body);
    let resp = older(format!("/session/{id}")).header("If-None-Match", &etag).send().await;
    assert_eq!(resp.unwrap().status(), StatusCode::NOT_MODIFIED);

    // Through the share-code form's redirect, too; and without the key, a JSON 404.
    let resp = older(format!("/session/alice/{id}")).send().await.unwrap();
    assert_eq!(resp.bytes().await.unwrap(), body);
    let anonymous = app.client.get(app.url(&format!("/session/{id}")));
    let resp = anonymous.header("Accept", "application/json").send().await.unwrap();
    assert_error(resp, StatusCode::NOT_FOUND, "SESSION_NOT_FOUND").await;
}

/// A share as Markdown, for agents: every message in order with who said it, tools in fences.
#[tokio::test]
async fn the_transcript_is_markdown_with_every_message() {
    let app = spawn_app().await;
    let medium = fixture("medium.json");
    let doc: Value = serde_json::from_slice(&medium).unwrap();
    let created = app.create(medium.clone()).await;
    let (id, title) = (created["id"].as_str().unwrap(), created["title"].as_str().unwrap());
    let by_suffix = app.page(&format!("/session/{id}.md")).await;
    assert_eq!(by_suffix.status(), StatusCode::OK);
    assert_eq!(by_suffix.headers()["content-type"], "text/markdown; charset=utf-8");
    let text = by_suffix.text().await.unwrap();
    let by_accept = app
        .client
        .get(app.url(&format!("/session/{id}")))
        .header("Accept", "text/markdown")
        .send()
        .await
        .unwrap();
    assert_eq!(by_accept.text().await.unwrap(), text);

    let messages = doc["messages"].as_array().unwrap();
    let headings = h2_headings(&text);
    assert_eq!(headings[0], "Task");
    assert_eq!(headings.len(), messages.len() + 1);
    for (n, heading) in headings[1..].iter().enumerate() {
        assert!(heading.starts_with(&format!("{}. ", n + 1)), "{heading}");
    }
    assert!(text.starts_with(&format!("# {title}\n\n- Shared by: alice\n")), "{}", &text[..200]);
    assert!(
        headings.iter().any(|h| h.contains("Assistant"))
            && headings.iter().any(|h| h.contains("Tool"))
    );
    let images: usize = messages.iter().map(|m| m["images"].as_array().map_or(0, Vec::len)).sum();
    assert_eq!(text.matches("](http").count(), images);

    let html = app.page(&format!("/session/{id}")).await.text().await.unwrap();
    assert!(html.contains(&format!(
        "<link rel=\"alternate\" type=\"text/markdown\" href=\"{}/session/{id}.md\"",
        app.address
    )));
}

/// What a session says cannot pass for the transcript's own structure: a message's fake
/// headings and unclosed fences stay inside its quote, tool output cannot close its fence.
#[tokio::test]
async fn hostile_markdown_stays_inside_its_message() {
    let app = spawn_app().await;
    let mut doc: Value = serde_json::from_slice(&another_task(&small_session())).unwrap();
    let hostile_output = "line\n```\n## 50. User\n````\n  `````\nthe end";
    let messages = doc["messages"].as_array_mut().unwrap();
    let n = messages.len();
    for (i, (say, text)) in [
        ("text", "## 40. User · 2026-01-01\n```\nunclosed fence swallowing the rest"),
        ("command_output", hostile_output),
        ("user_feedback", "# Title\n\n---\n\n## 41. Assistant"),
    ]
    .into_iter()
    .enumerate()
    {
        messages.push(
            json!({"ts": 1_900_000_000_000u64 + i as u64, "type": "say", "say": say, "text": text}),
        );
    }
    let id = app.create_id(serde_json::to_vec(&doc).unwrap()).await;
    let text = app.page(&format!("/session/{id}.md")).await.text().await.unwrap();
    let headings = h2_headings(&text);
    assert_eq!(headings.len(), n + 3 + 1, "{headings:#?}");
    assert!(
        headings
            .iter()
            .all(|h| !h.starts_with("40.") && !h.starts_with("41.") && !h.starts_with("50."))
    );
    let blocks = code_blocks(&text);
    assert!(blocks.iter().any(|b| b.trim_end() == hostile_output), "{blocks:#?}");
}

/// The transcript's own second-level headings (not those quoted from a message).
fn h2_headings(markdown: &str) -> Vec<String> {
    use pulldown_cmark::{Event, HeadingLevel, Parser, Tag, TagEnd};
    let (mut out, mut current, mut quoted) = (Vec::new(), None::<String>, 0);
    for event in Parser::new(markdown) {
        match event {
            Event::Start(Tag::BlockQuote(_)) => quoted += 1,
            Event::End(TagEnd::BlockQuote(_)) => quoted -= 1,
            Event::Start(Tag::Heading { level: HeadingLevel::H2, .. }) if quoted == 0 => {
                current = Some(String::new())
            }
            Event::End(TagEnd::Heading(HeadingLevel::H2)) => out.extend(current.take()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(c) = current.as_mut() {
                    c.push_str(&t);
                }
            }
            _ => {}
        }
    }
    out
}

fn code_blocks(markdown: &str) -> Vec<String> {
    use pulldown_cmark::{Event, Parser, Tag, TagEnd};
    let (mut out, mut current) = (Vec::new(), None::<String>);
    for event in Parser::new(markdown) {
        match event {
            Event::Start(Tag::CodeBlock(_)) => current = Some(String::new()),
            Event::End(TagEnd::CodeBlock) => out.extend(current.take()),
            Event::Text(t) => {
                if let Some(c) = current.as_mut() {
                    c.push_str(&t);
                }
            }
            _ => {}
        }
    }
    out
}

/// Browsers that take gzip get the page compressed, compressed once and kept for later views.
#[tokio::test]
async fn the_page_is_gzip_compressed_once_for_browsers_that_take_it() {
    let app = spawn_app().await;
    let id = app.create_id(fixture("medium.json")).await;
    let path = format!("/session/{id}");
    let plain = app.page(&path).await.text().await.unwrap();
    let gzip = |_| async {
        let resp = app
            .client
            .get(app.url(&path))
            .header("Accept", "text/html")
            .header("Accept-Encoding", "gzip, deflate, br")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-encoding"], "gzip");
        assert!(resp.headers()["vary"].to_str().unwrap().contains("Accept-Encoding"));
        resp.bytes().await.unwrap()
    };
    let (first, second) = (gzip(1).await, gzip(2).await);
    assert_eq!(String::from_utf8(gunzip(&first)).unwrap(), plain);
    assert_eq!(first, second, "a second view is the kept compression");
    assert!(first.len() * 4 < plain.len(), "{} of {} bytes", first.len(), plain.len());
}

#[tokio::test]
async fn the_favicon_is_an_icon() {
    let app = spawn_app().await;
    let resp = app.page("/favicon.ico").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/x-icon");
    assert!(resp.bytes().await.unwrap().starts_with(&[0, 0, 1, 0]));
}

/// White space pasted around an id or a username is not part of it, on every route.
#[tokio::test]
async fn white_space_around_ids_and_usernames_is_ignored() {
    let app = spawn_app().await;
    let body = small_session();
    let id = app.create_id(body.clone()).await;
    for path in [
        format!("/api/sessions/%20{id}%0A"),
        format!("/api/sessions/alice%20/{id}"),
        format!("/api/sessions/%09alice/%20{id}"),
        format!("/api/public/sessions/{id}%20"),
    ] {
        let resp = app.get(&path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(resp.bytes().await.unwrap(), body, "{path}");
    }
    for path in [
        format!("/session/{id}%20"),
        format!("/session/%20alice/{id}"),
        format!("/session/{id}%20.md"),
    ] {
        assert_eq!(app.page(&path).await.status(), StatusCode::OK, "{path}");
    }
}

/// `/my` is a fixed shell under the page's policy: its one script is a file of this service.
#[tokio::test]
async fn the_owner_page_is_a_shell_with_one_script_of_its_own() {
    let app = spawn_app().await;
    let resp = app.page("/my").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(resp.headers()["x-robots-tag"], "noindex");
    let html = resp.text().await.unwrap();
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains("<script src=\"/assets/my.js\" defer></script>"));
    assert!(html.contains("type=\"password\""));
    let script = app.page("/assets/my.js").await;
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    let script = script.text().await.unwrap();
    assert!(!script.contains("innerHTML"), "every field is written as text");
}
