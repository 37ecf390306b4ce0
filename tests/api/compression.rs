//! Sessions stored gzip-compressed, served compressed to clients that accept it and decoded
//! for those that do not; gzip uploads. Every round trip is byte-exact after decoding.

use std::io::{Read, Write};

use object_store::{Attribute, ObjectStoreExt, PutPayload};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, assert_importable, document_part, fixture, share_path, spawn_app,
};

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

async fn read(app: &TestApp, path: &str, accept_gzip: bool) -> reqwest::Response {
    let mut req = app.client.get(app.url(path));
    if accept_gzip {
        req = req.header(header::ACCEPT_ENCODING, "gzip, deflate, br");
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn documents_are_stored_compressed_and_served_as_each_client_accepts() {
    let app = spawn_app().await;
    let original = fixture("medium.json");
    let id = app.create(original.clone()).await["id"].as_str().unwrap().to_owned();

    // Stored: gzip behind the record line, several times smaller, and the record says so.
    // The object as a whole is not gzip, and S3 is not told it is (a client of the bucket
    // would decode it wrongly).
    let stored = app.store.get(&share_path("alice", &id)).await.unwrap();
    let encoding = stored.attributes.get(&Attribute::ContentEncoding).map(|v| v.to_string());
    let stored = stored.bytes().await.unwrap();
    let document = document_part(&stored);
    let record: Value = serde_json::from_slice(&stored[..stored.len() - document.len()]).unwrap();
    assert_eq!(record["encoding"], "gzip", "{record}");
    assert_eq!(&document[..2], b"\x1f\x8b");
    assert!(stored.len() * 3 < original.len(), "{} of {}", stored.len(), original.len());
    assert_eq!(gunzip(document), original);
    assert_eq!(encoding, None);

    for path in [format!("/api/sessions/{id}"), format!("/api/sessions/alice/{id}")] {
        // A client that accepts gzip gets the stored bytes.
        let resp = read(&app, &path, true).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(resp.headers()[header::VARY], "Accept-Encoding");
        let etag = resp.headers()[header::ETAG].to_str().unwrap().to_owned();
        assert!(etag.starts_with("W/\""), "the gzip form has a weak tag: {etag}");
        let length: usize =
            resp.headers()[header::CONTENT_LENGTH].to_str().unwrap().parse().unwrap();
        let body = resp.bytes().await.unwrap();
        assert_eq!((length, &body[..]), (document.len(), document), "the stored document");
        assert_eq!(gunzip(&body), original, "byte-exact after decoding");

        // Its tag answers 304.
        let again = app
            .client
            .get(app.url(&path))
            .header(header::ACCEPT_ENCODING, "gzip")
            .header(header::IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()[header::ETAG], etag.as_str(), "the tag of the form it has");

        // Any other client gets the uploaded bytes, with their length.
        for accept in [None, Some("identity"), Some("gzip;q=0, br")] {
            let mut req = app.client.get(app.url(&path));
            if let Some(accept) = accept {
                req = req.header(header::ACCEPT_ENCODING, accept);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert!(resp.headers().get(header::CONTENT_ENCODING).is_none(), "{accept:?}");
            let etag = resp.headers()[header::ETAG].to_str().unwrap().to_owned();
            assert!(etag.starts_with('"'), "{etag}");
            assert_eq!(resp.headers()[header::CONTENT_LENGTH], original.len().to_string());
            assert_eq!(resp.bytes().await.unwrap(), original, "{accept:?}");
        }
    }

    // The older import route as well.
    let import = app
        .post_json("/api/sessions", json!({"id": id}).to_string())
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(import.headers()[header::CONTENT_ENCODING], "gzip");
    assert_eq!(gunzip(&import.bytes().await.unwrap()), original);
    let import =
        app.post_json("/api/sessions", json!({"id": id}).to_string()).send().await.unwrap();
    let body = import.bytes().await.unwrap();
    assert_eq!(body, original);
    assert_importable(&body);
}

#[tokio::test]
async fn a_25_mb_session_round_trips_byte_exact_both_ways() {
    let app = spawn_app().await;
    let original = fixture("xlarge.json");
    let id = app.create(original.clone()).await["id"].as_str().unwrap().to_owned();
    let plain = read(&app, &format!("/api/sessions/{id}"), false).await.bytes().await.unwrap();
    assert!(plain == original, "decoded as it streams, byte for byte");
    let packed = read(&app, &format!("/api/sessions/{id}"), true).await.bytes().await.unwrap();
    assert!(packed.len() < original.len());
    assert!(gunzip(&packed) == original);
}

#[tokio::test]
async fn gzip_uploads_are_accepted_and_stored_as_sent_after_decoding() {
    let app = spawn_app().await;
    let original = fixture("medium.json");
    let resp = app
        .post_json("/api/sessions/create", gzip(&original))
        .header(header::CONTENT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED, "{:?}", resp.text().await);
    let id = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let read = read(&app, &format!("/api/sessions/{id}"), false).await;
    assert_eq!(read.bytes().await.unwrap(), original);

    // The older create route too.
    let resp = app
        .post_json("/api/sessions", gzip(&fixture("small.json")))
        .header(header::CONTENT_ENCODING, "GZIP")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn bad_encodings_get_clear_errors_and_store_nothing() {
    let app = spawn_app().await;
    let send = |body: Vec<u8>, encoding: &'static str| {
        app.post_json("/api/sessions/create", body)
            .header(header::CONTENT_ENCODING, encoding)
            .send()
    };
    // Not gzip at all.
    let resp = send(b"{\"version\": \"1\"}".to_vec(), "gzip").await.unwrap();
    let body = assert_error(resp, StatusCode::BAD_REQUEST, "INVALID_REQUEST").await;
    assert!(body["error"].as_str().unwrap().contains("gzip"), "{body}");
    // A bomb: 100 MB of spaces in about 100 KB, past the 64 MiB limit once decoded.
    let bomb = gzip(&vec![b' '; 100 * 1024 * 1024]);
    assert!(bomb.len() < 1024 * 1024);
    let resp = send(bomb, "gzip").await.unwrap();
    assert_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;
    // Codings we do not speak.
    for encoding in ["br", "deflate", "zstd"] {
        let resp = send(fixture("small.json").to_vec(), encoding).await.unwrap();
        let body =
            assert_error(resp, StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE").await;
        assert!(body["error"].as_str().unwrap().contains(encoding), "{body}");
    }
    // Valid gzip of an invalid session: the usual validation error.
    let resp = send(gzip(b"{\"version\": 1}"), "gzip").await.unwrap();
    assert_error(resp, StatusCode::BAD_REQUEST, "INVALID_SESSION").await;
    assert!(app.stored_sessions().await.is_empty());
}

/// Shares stored before compression (plain JSON) are served as they are, to every client.
#[tokio::test]
async fn documents_stored_uncompressed_are_served_as_they_are() {
    let app = spawn_app().await;
    let original = fixture("small.json");
    let id = "HzKozOxIxl4dO0YijPu0q";
    let record = serde_json::json!({"username": "alice", "createdAt": "2026-01-01T00:00:00Z"});
    app.put_older_share(id, &record, original.clone()).await;
    for accept_gzip in [false, true] {
        let resp = read(&app, &format!("/api/sessions/alice/{id}"), accept_gzip).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(resp.bytes().await.unwrap(), original);
    }
    let page = app.get(&format!("/session/{id}")).await;
    assert_eq!(page.status(), StatusCode::OK);
}

/// One-object shares written before records said `"encoding"`: their documents are still
/// known to be gzip by their first bytes, and served both ways.
#[tokio::test]
async fn a_record_that_does_not_say_its_encoding_is_read_by_the_documents_bytes() {
    let app = spawn_app().await;
    let original = fixture("medium.json");
    let id = app.create(original.clone()).await["id"].as_str().unwrap().to_owned();
    let path = share_path("alice", &id);
    let object = app.store.get(&path).await.unwrap().bytes().await.unwrap();
    let document = document_part(&object);
    let mut record: Value =
        serde_json::from_slice(&object[..object.len() - document.len()]).unwrap();
    assert!(record.as_object_mut().unwrap().remove("encoding").is_some());
    let mut earlier = serde_json::to_vec(&record).unwrap();
    earlier.push(b'\n');
    earlier.extend_from_slice(document);
    app.store.put(&path, PutPayload::from(earlier)).await.unwrap();

    let plain = read(&app, &format!("/api/sessions/{id}"), false).await;
    assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
    assert_eq!(plain.bytes().await.unwrap(), original);
    let packed = read(&app, &format!("/api/sessions/{id}"), true).await;
    assert_eq!(packed.headers()[header::CONTENT_ENCODING], "gzip");
    assert_eq!(packed.bytes().await.unwrap(), document);
}

/// A stored document that is not valid gzip past its magic bytes (damaged in storage): a
/// client that needs it decoded never receives a short body as if it were whole.
#[tokio::test]
async fn a_damaged_stored_document_is_never_served_as_complete() {
    let app = spawn_app().await;
    let original = fixture("medium.json");
    let id = app.create(original.clone()).await["id"].as_str().unwrap().to_owned();
    let path = share_path("alice", &id);
    let mut damaged = app.store.get(&path).await.unwrap().bytes().await.unwrap().to_vec();
    let middle = damaged.len() - document_part(&damaged).len() / 2;
    damaged.truncate(middle);
    damaged.extend(std::iter::repeat_n(0xff, 1000));
    app.store.put(&path, PutPayload::from(damaged)).await.unwrap();
    let resp = read(&app, &format!("/api/sessions/alice/{id}"), false).await;
    match resp.bytes().await {
        Err(_) => {}
        Ok(body) => assert!(body.len() < original.len() && body != original, "served as whole"),
    }
}
