//! Sessions stored gzip-compressed, served compressed to clients that accept it and decoded
//! for those that do not; gzip uploads. Every round trip is byte-exact after decoding.

use std::io::{Read, Write};

use object_store::{ObjectStoreExt, PutPayload, path::Path};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, assert_importable, fixture, share_key, spawn_app, stored_record,
};

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

/// What follows the gzip header of a stored share: the compressed document and its trailer.
fn after_header(object: &[u8]) -> &[u8] {
    let (_, header_len) =
        session_share::storage::share_file::parse_header(object).unwrap().unwrap();
    &object[header_len..]
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

    // Stored as one gzip file, several times smaller; its header holds the record.
    let stored = app.stored(&share_key("alice", &id)).await;
    assert_eq!(stored_record(&stored)["username"], "alice");
    assert!(stored.len() * 3 < original.len(), "{} of {}", stored.len(), original.len());
    assert_eq!(gunzip(&stored), original);
    // Clients get it as a gzip member of its own, without the record.
    let mut document = session_share::storage::share_file::PLAIN_HEADER.to_vec();
    document.extend_from_slice(after_header(&stored));
    let document = &document[..];

    for path in [format!("/api/sessions/{id}"), format!("/api/sessions/alice/{id}")] {
        // A client that accepts gzip gets the stored bytes.
        let resp = read(&app, &path, true).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(resp.headers()[header::VARY], "Accept-Encoding, Syntx-Api-Key, Authorization");
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

/// A stored document that is not valid gzip past its header (damaged in storage): a
/// client that needs it decoded never receives a short body as if it were whole.
#[tokio::test]
async fn a_damaged_stored_document_is_never_served_as_complete() {
    let app = spawn_app().await;
    let original = fixture("medium.json");
    let id = app.create(original.clone()).await["id"].as_str().unwrap().to_owned();
    let path = Path::from(share_key("alice", &id));
    let mut damaged = app.store.get(&path).await.unwrap().bytes().await.unwrap().to_vec();
    let middle = damaged.len() - after_header(&damaged).len() / 2;
    damaged.truncate(middle);
    damaged.extend(std::iter::repeat_n(0xff, 1000));
    app.store.put(&path, PutPayload::from(damaged)).await.unwrap();
    let resp = read(&app, &format!("/api/sessions/alice/{id}"), false).await;
    match resp.bytes().await {
        Err(_) => {}
        Ok(body) => assert!(body.len() < original.len() && body != original, "served as whole"),
    }
}
