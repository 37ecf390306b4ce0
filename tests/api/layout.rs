//! What lands in storage, as an operator sees it: each share a standard gzip file of the
//! uploaded JSON at `sessions/<username>/<id>.json.gz`, readable with `gunzip` and `jq`.

use std::sync::Arc;

use object_store::{Attribute, ObjectStoreExt, path::Path};
use reqwest::StatusCode;
use session_share::domain::{ShareId, Username};

use crate::helpers::{
    another_task, fixture, gunzip, share_key, small_session, spawn_app, spawn_app_on,
    spawn_app_with, spawn_replica, stored_record,
};
use session_share::configuration::IdSourceSetting;

/// Two users share; the bucket lists each session under its username and id, and each
/// object, fetched raw and decoded by a standard gzip decoder, is the upload byte for byte.
#[tokio::test]
async fn each_session_is_a_standard_gzip_file_under_its_username_and_id() {
    let app = spawn_app().await;
    let bob = app.key_for("Bob").await;
    let (small, medium) = (small_session(), fixture("medium.json"));
    let alice_id = app.create_id(small.clone()).await;
    let resp = app.share_as(&bob, medium.clone()).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let bob_id = resp.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    let mut expected = vec![share_key("alice", &alice_id), share_key("bob", &bob_id)];
    expected.sort();
    assert_eq!(app.stored_sessions().await, expected);
    // One listing per user folder, as `aws s3 ls s3://bucket/sessions/alice/` would.
    let alice_folder: Vec<_> = futures::TryStreamExt::try_collect::<Vec<_>>(
        app.store.list(Some(&Path::from("sessions/alice"))),
    )
    .await
    .unwrap();
    assert_eq!(alice_folder.len(), 1);

    for (key, upload) in
        [(share_key("alice", &alice_id), &small), (share_key("bob", &bob_id), &medium)]
    {
        let raw = app.store.get(&Path::from(key.as_str())).await.unwrap();
        let attributes = raw.attributes.clone();
        let raw = raw.bytes().await.unwrap();
        assert_eq!(&raw[..2], b"\x1f\x8b", "{key} is gzip from its first byte");
        assert_eq!(gunzip(&raw), upload.to_vec(), "{key}");
        let record = stored_record(&raw);
        assert_eq!(record["size"], upload.len(), "{key}: {record}");
        // S3 servers that keep them (moto, MinIO, AWS) say what the file is, so a presigned
        // URL or a bucket browser shows the JSON.
        if std::env::var("TEST_S3_ENDPOINT").is_ok() {
            let value = |a: Attribute| attributes.get(&a).map(|v| v.to_string());
            assert_eq!(value(Attribute::ContentType).as_deref(), Some("application/json"), "{key}");
            assert_eq!(value(Attribute::ContentEncoding).as_deref(), Some("gzip"), "{key}");
        }
    }
    // The owner index leads ids to folders, and nothing else is a session.
    let objects = app.stored_objects().await;
    let alice = Username::parse("alice").unwrap();
    assert!(objects.contains(&format!("owners/{}/alice", alice.id_prefix())), "{objects:?}");
}

/// With local file storage (the quick start's default) a share is a file an operator reads
/// with `gunzip -c`.
#[tokio::test]
async fn on_local_storage_a_share_is_a_file_gunzip_reads() {
    let dir = tempfile::tempdir().unwrap();
    let storage_url = format!("file://{}", dir.path().display());
    let app = spawn_app_on(storage_url, |_| {}).await;
    let upload = fixture("medium.json");
    let id = app.create_id(upload.clone()).await;
    let file = dir.path().join("sessions").join("alice").join(format!("{id}.json.gz"));
    assert!(file.is_file(), "{} is not there", file.display());
    let out = std::process::Command::new("gunzip").arg("-c").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, upload.to_vec());
    assert_eq!(app.get(&format!("/api/sessions/{id}")).await.bytes().await.unwrap(), upload);
}

/// Two owners whose ids start alike (their names hash to one prefix, which takes millions of
/// owners to happen): a read by id looks in both folders, and a listing shows only its own.
#[tokio::test]
async fn owners_sharing_an_id_prefix_read_and_list_their_own() {
    let alice = Username::parse("alice").unwrap();
    let prefix = alice.id_prefix();
    // New links for everyone are drawn with alice's prefix, and carol is written in the index
    // under it, as she would be had her name hashed there.
    let ids = Arc::new(move |_: &Username| {
        let random = ShareId::generate_for(&Username::parse("x").unwrap());
        ShareId::parse(&format!("{prefix}{}", &random.as_str()[ShareId::OWNER_PREFIX_LEN..]))
            .unwrap()
    });
    let app = spawn_app_with(|s| {
        s.id_source = Some(IdSourceSetting(ids));
    })
    .await;
    let entry = Path::from(format!("owners/{}/carol", alice.id_prefix()));
    app.store.put(&entry, "".into()).await.unwrap();
    let new_link = |key: String, body: bytes::Bytes| {
        let app = &app;
        async move {
            let resp =
                app.post_json_as("/api/sessions/create?new=true", &key, body).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::CREATED);
            resp.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
        }
    };
    let mine = new_link(app.api_key.clone(), small_session()).await;
    let carol = app.key_for("carol").await;
    let theirs = new_link(carol.clone(), another_task(&small_session())).await;
    assert_eq!(mine[..8], theirs[..8], "one prefix");

    for (id, owner) in [(&mine, "alice"), (&theirs, "carol")] {
        // A fresh replica, which knows nothing of either, finds each in its owner's folder.
        let reader = spawn_replica(&app, |_| {}).await;
        let resp = reader.get(&format!("/api/sessions/{id}")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["x-session-owner"], owner);
    }
    assert_eq!(app.listed_ids(&app.api_key).await, [mine]);
    assert_eq!(app.listed_ids(&carol).await, [theirs]);
}
