//! Many creates at once, and ids that collide.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use reqwest::StatusCode;
use session_share::domain::{ShareId, Username};

use crate::helpers::{another_task, fixture, small_session, spawn_app, spawn_app_with};
use session_share::configuration::IdSourceSetting;

/// A hundred shares of a hundred tasks at once: a hundred links.
#[tokio::test]
async fn a_hundred_concurrent_creates_all_succeed_with_distinct_ids() {
    let app = Arc::new(spawn_app().await);
    let medium = fixture("medium.json");
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let app = app.clone();
            let body = another_task(&if i % 2 == 0 { small_session() } else { medium.clone() });
            tokio::spawn(async move {
                let resp =
                    app.post_json("/api/sessions/create", body.clone()).send().await.unwrap();
                let status = resp.status();
                let json: serde_json::Value = resp.json().await.unwrap();
                assert_eq!(status, StatusCode::CREATED, "{json}");
                (json["id"].as_str().unwrap().to_owned(), body)
            })
        })
        .collect();
    let mut ids = HashSet::new();
    let mut created = Vec::new();
    for task in tasks {
        let (id, body) = task.await.unwrap();
        assert!(ids.insert(id.clone()), "duplicate id {id}");
        created.push((id, body));
    }
    assert_eq!(ids.len(), 100);
    for (id, body) in created {
        let resp = app.get(&format!("/api/sessions/{id}")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.bytes().await.unwrap() == body, "{id}");
    }
}

/// New links (`?new=true`) are drawn at random; one drawn twice is drawn again.
#[tokio::test]
async fn a_colliding_id_is_drawn_again_and_never_overwrites() {
    let prefix = Username::parse("alice").unwrap().id_prefix();
    let taken = ShareId::parse(&format!("{prefix}AAAAAAAAAAAAA")).unwrap();
    // Draws: `taken`, then `taken` again (collision), then fresh ids.
    let draws = Arc::new(Mutex::new(vec![taken.clone(), taken.clone()]));
    let source = {
        let draws = draws.clone();
        Arc::new(move |owner: &Username| {
            draws.lock().unwrap().pop().unwrap_or_else(|| ShareId::generate_for(owner))
        })
    };
    let app = spawn_app_with(|s| {
        s.id_source = Some(IdSourceSetting(source));
    })
    .await;
    let new_link = |body: bytes::Bytes| async {
        let resp = app.post_json("/api/sessions/create?new=true", body).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        resp.json::<serde_json::Value>().await.unwrap()
    };
    let first = new_link(small_session()).await;
    assert_eq!(first["id"], taken.as_str());
    let medium = fixture("medium.json");
    let second = new_link(medium.clone()).await;
    assert_ne!(second["id"], taken.as_str());
    assert!(draws.lock().unwrap().is_empty(), "the colliding id was drawn");

    let resp = app.get(&format!("/api/sessions/{taken}")).await;
    assert!(resp.bytes().await.unwrap() == small_session(), "the first share was overwritten");
    let resp = app.get(&format!("/api/sessions/{}", second["id"].as_str().unwrap())).await;
    assert!(resp.bytes().await.unwrap() == medium);
}

/// S3 stores the document but its reply is lost; the client retries, and the retry is
/// refused because the first attempt is there. That is the create's own write: one share,
/// the one the client is told about, not a second hidden one under a new id.
#[tokio::test]
async fn a_lost_reply_to_the_document_write_makes_no_hidden_share() {
    let proxy = crate::helpers::LostReplyProxy::start(
        &crate::helpers::S3Target::get().endpoint,
        "/sessions/alice/",
        1,
    )
    .await;
    let app = spawn_app_with(|s| {
        s.s3.endpoint = Some(proxy.endpoint.clone());
    })
    .await;
    let body = fixture("medium.json");
    let resp = app.post_json("/api/sessions/create", body.clone()).send().await.unwrap();
    let status = resp.status();
    let answer: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(proxy.lost.load(std::sync::atomic::Ordering::SeqCst), 1, "no reply was lost");
    let stored = app.stored_sessions().await;
    if status == reqwest::StatusCode::CREATED {
        let id = answer["id"].as_str().unwrap();
        assert_eq!(stored, [crate::helpers::share_key("alice", id)]);
        let back = app.get(&format!("/api/sessions/{id}")).await.bytes().await.unwrap();
        assert!(back == body);
    } else {
        // Had the client not retried, the create fails as a whole: nothing readable is left.
        assert_eq!(status, reqwest::StatusCode::SERVICE_UNAVAILABLE, "{answer}");
        assert!(app.listed_ids(&app.api_key).await.is_empty(), "a failed create left {stored:?}");
    }
}
