//! Importing as newer extensions do: `POST /api/sessions` with `{id, username?}`.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, assert_importable, small_session, spawn_app};

#[tokio::test]
async fn a_share_code_imports_the_exact_session() {
    let app = spawn_app().await;
    let id = app.create(small_session()).await["id"].as_str().unwrap().to_owned();
    for key in [None, Some(app.api_key.as_str())] {
        let resp = app.import(json!({"id": id, "username": "alice"}), key).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let bytes = resp.bytes().await.unwrap();
        assert_eq!(bytes, small_session());
        assert_importable(&bytes);
    }
}

#[tokio::test]
async fn a_bare_id_or_url_imports_without_username() {
    let app = spawn_app().await;
    let id = app.create(small_session()).await["id"].as_str().unwrap().to_owned();
    // The extension leaves the key out entirely; a null is treated the same.
    for body in [json!({"id": id}), json!({"id": id, "username": null})] {
        let resp = app.import(body, None).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.bytes().await.unwrap(), small_session());
    }
}

#[tokio::test]
async fn someone_elses_username_or_an_unknown_id_is_404() {
    let app = spawn_app().await;
    let id = app.create(small_session()).await["id"].as_str().unwrap().to_owned();
    let resp = app.import(json!({"id": id, "username": "mallory"}), None).await;
    assert_error(resp, StatusCode::NOT_FOUND, "SESSION_NOT_FOUND").await;
    let resp = app.import(json!({"id": "HzKozOxIxl4dO0YijPu0q"}), None).await;
    assert_error(resp, StatusCode::NOT_FOUND, "SESSION_NOT_FOUND").await;
}

#[tokio::test]
async fn a_key_this_service_does_not_know_imports_public_shares() {
    let app = spawn_app().await;
    let id = app.create(small_session()).await["id"].as_str().unwrap().to_owned();
    for body in [json!({"id": id}), json!({"id": id, "username": "alice"})] {
        let resp = app.import(body, Some("ssk_from_the_syntx_website")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.bytes().await.unwrap(), small_session());
    }
    // A write with the same key is refused, with what to do about it.
    let resp = app
        .client
        .post(app.url("/api/sessions"))
        .header("Content-Type", "application/json")
        .header("Syntx-Api-Key", "ssk_from_the_syntx_website")
        .body(small_session())
        .send()
        .await
        .unwrap();
    let body = assert_error(resp, StatusCode::UNAUTHORIZED, "INVALID_API_KEY").await;
    assert!(body["error"].as_str().unwrap().contains("extension settings"), "{body}");
}

/// Ids and share codes are pasted from the clipboard, white space and all.
#[tokio::test]
async fn white_space_around_a_pasted_id_or_username_is_ignored() {
    let app = spawn_app().await;
    let id = app.create(small_session()).await["id"].as_str().unwrap().to_owned();
    for body in [
        json!({"id": format!(" {id}\n")}),
        json!({"id": format!("\t{id} "), "username": " alice "}),
        json!({"id": id, "username": "  "}),
    ] {
        let resp = app.import(body.clone(), None).await;
        assert_eq!(resp.status(), StatusCode::OK, "{body}");
        assert_eq!(resp.bytes().await.unwrap(), small_session());
    }
    let resp = app.import(json!({"id": format!("{id} x")}), None).await;
    assert_error(resp, StatusCode::BAD_REQUEST, "INVALID_ID").await;
}

#[tokio::test]
async fn an_import_body_of_the_wrong_types_is_400() {
    let app = spawn_app().await;
    for body in
        [json!({"id": 42}), json!({"id": "abc", "username": 7}), json!({"username": "alice"})]
    {
        let resp = app.import(body.clone(), None).await;
        let err = assert_error(resp, StatusCode::BAD_REQUEST, "INVALID_REQUEST").await;
        assert!(err["error"].as_str().unwrap().len() > 10, "{body}: {err}");
    }
}
