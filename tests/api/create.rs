//! Sharing a session: both client routes, and every way a create can be refused.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_error, small_session, spawn_app, spawn_app_with};

/// As the extension reads a create answer: 2xx, `id` required, `url` optional, else it builds
/// `{base}/session/{id}`; newer extensions only accept `/session/{id}` URLs.
fn assert_share_answer(body: &Value, app_url: &str, username: &str) -> String {
    let id = body["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 21);
    assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(body["url"], format!("{app_url}/session/{id}"));
    assert_eq!(body["username"], username);
    assert_eq!(body["shareCode"], format!("{username}/{id}"));
    assert!(chrono::DateTime::parse_from_rfc3339(body["createdAt"].as_str().unwrap()).is_ok());
    id
}

#[tokio::test]
async fn newer_clients_share_on_create_and_read_back_the_same_bytes() {
    let app = spawn_app().await;
    let resp = app.post_json("/api/sessions/create", small_session()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    let id = assert_share_answer(&body, &app.address, "alice");
    assert_eq!(location, format!("{}/api/sessions/{id}", app.address));

    let stored = app.get(&format!("/api/sessions/{id}")).await;
    assert_eq!(stored.status(), StatusCode::OK);
    assert_eq!(stored.bytes().await.unwrap(), small_session());
    // One object, in the owner's folder, named by the share's id.
    assert_eq!(app.stored_sessions().await, vec![crate::helpers::share_key("alice", &id)]);
}

#[tokio::test]
async fn older_clients_share_on_post_sessions() {
    let app = spawn_app().await;
    let resp = app.post_json("/api/sessions", small_session()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().await.unwrap();
    let id = assert_share_answer(&body, &app.address, "alice");
    let stored = app.get(&format!("/api/sessions/alice/{id}")).await;
    assert_eq!(stored.bytes().await.unwrap(), small_session());
}

#[tokio::test]
async fn a_bearer_key_also_shares() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/api/sessions/create"))
        .header("Content-Type", "application/json; charset=utf-8")
        .bearer_auth(&app.api_key)
        .body(small_session())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn unknown_kinds_and_extra_fields_from_newer_clients_are_accepted_and_kept() {
    let app = spawn_app().await;
    let mut doc: Value = serde_json::from_slice(&small_session()).unwrap();
    doc["messages"][0]["say"] = json!("subtask_result_2027");
    doc["messages"][1]["type"] = json!("ask");
    doc["messages"][1]["ask"] = json!("auto_approval_max_req_reached");
    doc["messages"][1]["newField"] = json!([1, 2]);
    doc["task"]["mode"] = json!("architect");
    doc["title"] = json!("top-level extras are kept too");
    let bytes = serde_json::to_vec_pretty(&doc).unwrap();
    let body = app.create(bytes.clone()).await;
    let stored = app.get(&format!("/api/sessions/{}", body["id"].as_str().unwrap())).await;
    assert_eq!(stored.bytes().await.unwrap(), bytes);
}

#[tokio::test]
async fn a_missing_key_is_401_missing_api_key_on_both_routes() {
    let app = spawn_app().await;
    for path in ["/api/sessions/create", "/api/sessions"] {
        let resp = app
            .client
            .post(app.url(path))
            .header("Content-Type", "application/json")
            .body(small_session())
            .send()
            .await
            .unwrap();
        let body = assert_error(resp, StatusCode::UNAUTHORIZED, "MISSING_API_KEY").await;
        let message = body["error"].as_str().unwrap();
        assert!(message.contains("Syntx-Api-Key") && message.contains("extension settings"));
        // The key is checked before the session is validated.
        let invalid = app
            .client
            .post(app.url(path))
            .header("Content-Type", "application/json")
            .body(r#"{"version": "1.0.0", "task": 1, "messages": 2}"#)
            .send()
            .await
            .unwrap();
        assert_error(invalid, StatusCode::UNAUTHORIZED, "MISSING_API_KEY").await;
    }
    assert!(app.stored_sessions().await.is_empty());
}

#[tokio::test]
async fn a_wrong_key_is_401_invalid_api_key_in_either_header() {
    let app = spawn_app().await;
    for path in ["/api/sessions/create", "/api/sessions"] {
        let by_header = app
            .client
            .post(app.url(path))
            .header("Content-Type", "application/json")
            .header("Syntx-Api-Key", "ssk_not-a-real-key")
            .body(small_session())
            .send()
            .await
            .unwrap();
        let body = assert_error(by_header, StatusCode::UNAUTHORIZED, "INVALID_API_KEY").await;
        let message = body["error"].as_str().unwrap();
        assert!(message.contains("Syntx-Api-Key") && message.contains("extension settings"));
        let by_bearer = app
            .client
            .post(app.url(path))
            .header("Content-Type", "application/json")
            .bearer_auth("ssk_not-a-real-key")
            .body(small_session())
            .send()
            .await
            .unwrap();
        assert_error(by_bearer, StatusCode::UNAUTHORIZED, "INVALID_API_KEY").await;
    }
    assert!(app.stored_sessions().await.is_empty());
}

#[tokio::test]
async fn malformed_json_is_400_invalid_json_with_line_and_column() {
    let app = spawn_app().await;
    let resp = app
        .post_json("/api/sessions/create", "{\n  \"version\": \"1.0.0\",\n  \"task\": {,\n}")
        .send()
        .await
        .unwrap();
    let body = assert_error(resp, StatusCode::BAD_REQUEST, "INVALID_JSON").await;
    assert_eq!(body["details"][0]["line"], 3);
    assert_eq!(body["details"][0]["column"], 12);
    assert!(app.stored_sessions().await.is_empty());
}

#[tokio::test]
async fn a_body_with_a_byte_order_mark_is_400_saying_so() {
    let app = spawn_app().await;
    let body = [b"\xEF\xBB\xBF".as_slice(), &small_session()].concat();
    let resp = app.post_json("/api/sessions/create", body).send().await.unwrap();
    let body = assert_error(resp, StatusCode::BAD_REQUEST, "INVALID_JSON").await;
    assert!(body["error"].as_str().unwrap().contains("byte order mark (U+FEFF)"), "{body}");
    assert_eq!(body["details"][0]["line"], 1);
    assert!(app.stored_sessions().await.is_empty());
}

#[tokio::test]
async fn a_body_in_another_encoding_is_400_naming_it_and_where() {
    let app = spawn_app().await;
    // An "é" in Latin-1 in the task's text, as a client that honours its own charset sends it.
    let text = String::from_utf8(small_session().to_vec()).unwrap();
    let at = text.find("\"task\": \"").unwrap() + "\"task\": \"".len();
    let latin1 = [&text.as_bytes()[..at], b"caf\xE9 ", &text.as_bytes()[at..]].concat();
    let at = at + 3;
    let resp = app
        .client
        .post(app.url("/api/sessions/create"))
        .header("Content-Type", "application/json; charset=iso-8859-1")
        .header("Syntx-Api-Key", &app.api_key)
        .body(latin1.clone())
        .send()
        .await
        .unwrap();
    let body = assert_error(resp, StatusCode::BAD_REQUEST, "INVALID_JSON").await;
    assert!(body["error"].as_str().unwrap().contains("not UTF-8: byte 0xE9"), "{body}");
    let before = &latin1[..at];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let column = at - before.iter().rposition(|&b| b == b'\n').map_or(0, |newline| newline + 1) + 1;
    assert_eq!(
        (body["details"][0]["line"].as_u64(), body["details"][0]["column"].as_u64()),
        (Some(line as u64), Some(column as u64))
    );
    let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let resp = app.post_json("/api/sessions/create", utf16).send().await.unwrap();
    let body = assert_error(resp, StatusCode::BAD_REQUEST, "INVALID_JSON").await;
    assert!(body["error"].as_str().unwrap().contains("UTF-16, not UTF-8"), "{body}");
    assert!(app.stored_sessions().await.is_empty());
}

#[tokio::test]
async fn schema_violations_list_every_pointer() {
    let app = spawn_app().await;
    let mut doc: Value = serde_json::from_slice(&small_session()).unwrap();
    doc["task"].as_object_mut().unwrap().remove("totalCost");
    doc["task"]["tokensIn"] = json!("many");
    doc["messages"][2]["ts"] = json!(null);
    doc["messages"][4]["images"] = json!("not-a-list");
    let resp = app.post_json("/api/sessions/create", doc.to_string()).send().await.unwrap();
    let body = assert_error(resp, StatusCode::BAD_REQUEST, "INVALID_SESSION").await;
    let mut pointers: Vec<&str> = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["pointer"].as_str().unwrap())
        .collect();
    pointers.sort();
    assert_eq!(pointers, ["/messages/2/ts", "/messages/4/images", "/task", "/task/tokensIn"]);
    assert!(body["details"][0]["message"].is_string());
    assert!(app.stored_sessions().await.is_empty());
}

#[tokio::test]
async fn a_flood_of_violations_is_capped_and_says_so() {
    let app = spawn_app().await;
    let messages: Vec<Value> =
        (0..500).map(|i| json!({"ts": format!("t{i}"), "type": "say"})).collect();
    let doc = json!({"version": "1.0.0", "task": {"id": "x", "number": 1, "ts": 1, "task": "t",
        "tokensIn": 1, "tokensOut": 1, "totalCost": 0}, "messages": messages});
    let resp = app.post_json("/api/sessions/create", doc.to_string()).send().await.unwrap();
    let body = assert_error(resp, StatusCode::BAD_REQUEST, "INVALID_SESSION").await;
    assert_eq!(body["details"].as_array().unwrap().len(), 50);
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("500 violations") && message.contains("first 50"), "{message}");
}

#[tokio::test]
async fn another_major_version_is_400_unsupported_version_naming_the_supported_one() {
    let app = spawn_app().await;
    let mut doc: Value = serde_json::from_slice(&small_session()).unwrap();
    doc["version"] = json!("2.0.0");
    let resp = app.post_json("/api/sessions/create", doc.to_string()).send().await.unwrap();
    let body = assert_error(resp, StatusCode::BAD_REQUEST, "UNSUPPORTED_VERSION").await;
    assert!(body["error"].as_str().unwrap().contains("1.x.y"));
    doc["version"] = json!("1.7.3");
    let resp = app.post_json("/api/sessions/create", doc.to_string()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_body_that_is_not_an_object_or_is_empty_is_refused() {
    let app = spawn_app().await;
    for (body, code) in
        [("[]", "INVALID_SESSION"), ("\"x\"", "INVALID_SESSION"), ("", "INVALID_JSON")]
    {
        let resp = app.post_json("/api/sessions/create", body).send().await.unwrap();
        assert_error(resp, StatusCode::BAD_REQUEST, code).await;
    }
    for body in ["[]", "42", "{}", "{\"hello\": 1}"] {
        let resp = app.post_json("/api/sessions", body).send().await.unwrap();
        let err = assert_error(resp, StatusCode::BAD_REQUEST, "INVALID_REQUEST").await;
        assert!(err["error"].as_str().unwrap().contains("expected"), "{err}");
    }
    assert!(app.stored_sessions().await.is_empty());
}

#[tokio::test]
async fn a_wrong_or_missing_content_type_is_415() {
    let app = spawn_app().await;
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        for path in ["/api/sessions/create", "/api/sessions"] {
            let mut req = app
                .client
                .post(app.url(path))
                .header("Syntx-Api-Key", &app.api_key)
                .body(small_session());
            if let Some(ct) = content_type {
                req = req.header("Content-Type", ct);
            }
            let resp = req.send().await.unwrap();
            assert_error(resp, StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE").await;
        }
    }
    assert!(app.stored_sessions().await.is_empty());
}

#[tokio::test]
async fn an_oversize_body_is_413_whether_declared_or_streamed() {
    let limit = 64 * 1024;
    let app = spawn_app_with(|s| {
        s.max_body = limit;
    })
    .await;
    let big = vec![b' '; 256 * 1024];

    // Declared by Content-Length: refused before reading.
    let resp = app.post_json("/api/sessions/create", big.clone()).send().await.unwrap();
    let body = assert_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;
    assert!(body["error"].as_str().unwrap().contains(&limit.to_string()));

    // Chunked, no length: refused as soon as the limit is crossed.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(8 * 1024).map(|c| Ok(c.to_vec())).collect();
    let stream = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let resp = app.post_json("/api/sessions", stream).send().await.unwrap();
    assert_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;

    // A body under the limit still works.
    let resp = app.post_json("/api/sessions/create", small_session()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(app.stored_sessions().await.len(), 1);
}

/// `JSON.parse` accepts a lone surrogate escape (text cut in the middle of an emoji); the
/// document is stored and served byte for byte, and its page shows U+FFFD.
#[tokio::test]
async fn a_lone_surrogate_escape_is_accepted_and_kept() {
    let app = spawn_app().await;
    let text = String::from_utf8(small_session().to_vec()).unwrap();
    let body = text.replacen("\"text\": \"", "\"text\": \"cut \\ud83d| and \\ude00| ", 1);
    assert_ne!(body, text);
    let id = app.create(body.clone()).await["id"].as_str().unwrap().to_owned();
    let stored = app.get(&format!("/api/sessions/{id}")).await.bytes().await.unwrap();
    assert_eq!(stored, body.as_bytes(), "stored bytes changed");
    let page = app.page(&format!("/session/{id}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("cut \u{fffd}| and \u{fffd}|"));
}

/// Readers disagree on a duplicate key (JavaScript keeps the last, others the first or fail):
/// such a document is refused, with where, and nothing is stored.
#[tokio::test]
async fn duplicate_keys_are_refused_with_their_position() {
    let app = spawn_app().await;
    let text = String::from_utf8(small_session().to_vec()).unwrap();
    let twice = text.replacen(
        "\"version\": \"1.0.0\",",
        "\"version\": \"1.0.0\", \"version\": \"1.0.0\",",
        1,
    );
    let in_message =
        text.replacen("\"type\": \"say\",", "\"type\": \"say\", \"type\": \"ask\",", 1);
    for body in [twice, in_message] {
        for route in ["/api/sessions/create", "/api/sessions"] {
            let resp = app.post_json(route, body.clone()).send().await.unwrap();
            let err = assert_error(resp, StatusCode::BAD_REQUEST, "INVALID_JSON").await;
            assert!(err["error"].as_str().unwrap().contains("duplicate key"), "{err}");
            assert!(err["details"][0]["line"].as_u64().unwrap() >= 1, "{err}");
        }
    }
    assert!(app.stored_sessions().await.is_empty());
}

/// Without a valid key only an import can succeed, and an import is tiny: a large body is
/// refused as a create without a key, before it is read.
#[tokio::test]
async fn a_large_body_without_a_valid_key_is_401_before_it_is_read() {
    let app = spawn_app().await;
    let large = crate::helpers::fixture("medium.json");
    for key in [None, Some("ssk_unknown")] {
        let mut req = app
            .client
            .post(app.url("/api/sessions"))
            .header("Content-Type", "application/json")
            .body(large.clone());
        if let Some(key) = key {
            req = req.header("Syntx-Api-Key", key);
        }
        let code = if key.is_some() { "INVALID_API_KEY" } else { "MISSING_API_KEY" };
        assert_error(req.send().await.unwrap(), StatusCode::UNAUTHORIZED, code).await;
    }
    assert!(app.stored_sessions().await.is_empty());
}

/// `JSON.parse` reads `"\ud800"` and `"\udbff"` as two different keys: so does the service.
#[tokio::test]
async fn keys_that_differ_only_in_a_lone_surrogate_are_two_keys() {
    let app = spawn_app().await;
    let text = String::from_utf8(crate::helpers::fresh_session().to_vec()).unwrap();
    let body = text.replacen(
        "\"version\": \"1.0.0\",",
        "\"version\": \"1.0.0\", \"\\ud800\": 1, \"\\udbff\": 2,",
        1,
    );
    assert_ne!(body, text);
    let id = app.create(body.clone()).await["id"].as_str().unwrap().to_owned();
    let stored = app.get(&format!("/api/sessions/{id}")).await.bytes().await.unwrap();
    assert_eq!(stored, body.as_bytes());
    // The same lone surrogate twice is a duplicate key, as it is to every reader.
    let twice = text.replacen(
        "\"version\": \"1.0.0\",",
        "\"version\": \"1.0.0\", \"\\ud800\": 1, \"\\ud800\": 2,",
        1,
    );
    let resp = app.post_json("/api/sessions/create", twice).send().await.unwrap();
    assert_error(resp, StatusCode::BAD_REQUEST, "INVALID_JSON").await;
}
