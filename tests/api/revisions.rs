//! Sharing a task again keeps its link: the share gets a revision, every earlier one stays
//! readable (the last `--max-revisions`).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, eventually, fresh_session, gunzip, share_key, spawn_app, spawn_app_with,
    spawn_replica, with_message,
};

/// The extension's own flow, over HTTP: share, work on, share again.
#[tokio::test]
async fn sharing_a_task_again_keeps_its_link_and_every_revision() {
    let app = spawn_app().await;
    let first = fresh_session();
    let created = app.create(first.clone()).await;
    assert_eq!(
        (created["revision"].as_u64(), created["updated"].as_bool()),
        (Some(1), Some(false))
    );
    let (id, url) =
        (created["id"].as_str().unwrap().to_owned(), created["url"].as_str().unwrap().to_owned());

    let second = with_message(&first, "the work went on after the first share");
    let again = app.create(second.clone()).await;
    assert_eq!(
        (again["id"].as_str(), again["url"].as_str()),
        (Some(id.as_str()), Some(url.as_str()))
    );
    assert_eq!((again["revision"].as_u64(), again["updated"].as_bool()), (Some(2), Some(true)));
    // The older extensions' route does the same.
    let third = with_message(&second, "and on");
    let resp = app.post_json("/api/sessions", third.clone()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.json::<Value>().await.unwrap()["revision"], 3);

    // The link, the import and the page show the latest; `?revision=N` each earlier one.
    assert_eq!(app.get(&format!("/api/sessions/{id}")).await.bytes().await.unwrap(), third);
    let import = app.import(json!({"id": id, "username": "alice"}), None).await;
    assert_eq!(import.headers()["x-session-revision"], "3");
    assert_eq!(import.bytes().await.unwrap(), third);
    let page = app.page(&format!("/session/{id}")).await.text().await.unwrap();
    assert!(
        page.contains("and on") && page.contains("revision 3 of 3"),
        "the page shows the latest"
    );
    for (n, body) in [(1, &first), (2, &second)] {
        let read = app.get(&format!("/api/sessions/{id}?revision={n}")).await;
        assert_eq!(read.headers()["x-session-revision"], n.to_string());
        assert_eq!(read.bytes().await.unwrap(), body.clone(), "revision {n}");
        let code = app.get(&format!("/api/sessions/alice/{id}?revision={n}")).await;
        assert_eq!(code.bytes().await.unwrap(), body.clone(), "revision {n} by share code");
    }
    let old_page = app.page(&format!("/session/{id}?revision=1")).await.text().await.unwrap();
    assert!(old_page.contains("revision 1 of 3") && !old_page.contains("and on"));
    assert!(old_page.contains(&format!("href=\"/session/{id}?revision=2\"")), "links to the next");
    assert_error(
        app.get(&format!("/api/sessions/{id}?revision=9")).await,
        StatusCode::NOT_FOUND,
        "REVISION_NOT_FOUND",
    )
    .await;

    // Listed: number, time, size and messages of each; the owner's listing counts them.
    let revisions: Value = app.revisions(&id).await.json().await.unwrap();
    let items = revisions["items"].as_array().unwrap();
    let numbers: Vec<u64> = items.iter().map(|r| r["revision"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [1, 2, 3]);
    for (item, body) in items.iter().zip([&first, &second, &third]) {
        assert_eq!(item["size"], body.len());
        let messages =
            serde_json::from_slice::<Value>(body).unwrap()["messages"].as_array().unwrap().len();
        assert_eq!(item["messageCount"], messages);
        assert!(chrono::DateTime::parse_from_rfc3339(item["createdAt"].as_str().unwrap()).is_ok());
    }
    let listing: Value = app.list("", &app.api_key).await.json().await.unwrap();
    assert_eq!(listing["items"][0]["revisionCount"], 3);
    // In storage: the latest at the share's key, each earlier one a standard file beside it.
    let mut expected = vec![
        share_key("alice", &id),
        format!("sessions/alice/{id}/1.json.gz"),
        format!("sessions/alice/{id}/2.json.gz"),
    ];
    expected.sort();
    assert_eq!(app.stored_sessions().await, expected);
    assert_eq!(
        gunzip(&app.stored(&format!("sessions/alice/{id}/1.json.gz")).await),
        first.to_vec()
    );
}

/// Options belong to the share: a PATCH applies to every revision, and a replaced session
/// keeps them.
#[tokio::test]
async fn options_apply_to_every_revision() {
    let app = spawn_app().await;
    let first = fresh_session();
    let id = app.create_id(first.clone()).await;
    app.create(with_message(&first, "more")).await;
    assert_eq!(
        app.patch(&id, json!({"isPublic": false, "title": "Mine"}), &app.api_key).await.status(),
        StatusCode::OK
    );
    for path in [
        format!("/api/sessions/{id}"),
        format!("/api/sessions/{id}?revision=1"),
        format!("/api/sessions/{id}/revisions"),
    ] {
        assert_error(app.get(&path).await, StatusCode::NOT_FOUND, "SESSION_NOT_FOUND").await;
        assert_eq!(app.get_as(&path, &app.api_key).await.status(), StatusCode::OK, "{path}");
    }
    let old = app.get_as(&format!("/api/sessions/{id}?revision=1"), &app.api_key).await;
    assert_eq!(old.headers()["x-session-title"], "Mine");
    // A third share of the task keeps the options.
    let again = app.create(with_message(&first, "still more")).await;
    assert_eq!(
        (again["revision"].as_u64(), again["isPublic"].as_bool(), again["title"].as_str()),
        (Some(3), Some(false), Some("Mine"))
    );
}

/// A re-share applies the options it carries and leaves the others as they are, in both
/// directions: public to private and back, a title, a description, tags and an expiry set,
/// changed and kept. The released extensions carry none, so their re-shares keep everything.
#[tokio::test]
async fn a_reshare_applies_the_options_it_carries_and_keeps_the_rest() {
    let app = spawn_app().await;
    let first = fresh_session();
    let id = app.create_id(first.clone()).await;
    let carrying = |doc: &[u8], options: Value| {
        let mut doc: Value = serde_json::from_slice(doc).unwrap();
        for (k, v) in options.as_object().unwrap() {
            doc[k] = v.clone();
        }
        serde_json::to_vec(&doc).unwrap()
    };
    let soon = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let later = (chrono::Utc::now() + chrono::Duration::days(9)).to_rfc3339();
    let private = app
        .create(carrying(
            &with_message(&first, "two"),
            json!({"isPublic": false, "title": "now private", "description": "why",
                   "tags": ["Rust", "cli"], "expiresAt": soon}),
        ))
        .await;
    assert_eq!(private["id"], id.as_str());
    assert_eq!(
        (private["isPublic"].as_bool(), private["title"].as_str(), private["tags"].clone()),
        (Some(false), Some("now private"), json!(["rust", "cli"]))
    );
    assert_error(
        app.get(&format!("/api/sessions/{id}")).await,
        StatusCode::NOT_FOUND,
        "SESSION_NOT_FOUND",
    )
    .await;
    assert_eq!(app.page(&format!("/session/{id}")).await.status(), StatusCode::NOT_FOUND);
    let owner = app.get_as(&format!("/api/sessions/{id}"), &app.api_key).await;
    assert_eq!(owner.headers()["x-session-description"], "why");
    // The released extensions send none of them: everything stays.
    let plain = app.create(with_message(&first, "three")).await;
    assert_eq!(
        (plain["revision"].as_u64(), plain["isPublic"].as_bool(), plain["title"].as_str()),
        (Some(3), Some(false), Some("now private"))
    );
    assert_eq!(plain["tags"], json!(["rust", "cli"]));
    assert!(plain["expiresAt"].as_str().is_some());
    // And back: public, another title and description, other tags, a later expiry.
    let public = app
        .create(carrying(
            &with_message(&first, "four"),
            json!({"isPublic": true, "title": "public again", "description": "",
                   "tags": [], "expiresAt": later}),
        ))
        .await;
    assert_eq!(
        (public["isPublic"].as_bool(), public["title"].as_str(), public["tags"].clone()),
        (Some(true), Some("public again"), json!([]))
    );
    let expires =
        chrono::DateTime::parse_from_rfc3339(public["expiresAt"].as_str().unwrap()).unwrap();
    assert!(expires > chrono::Utc::now() + chrono::Duration::days(8), "{expires}");
    let read = app.get(&format!("/api/sessions/{id}")).await;
    assert_eq!(read.status(), StatusCode::OK);
    assert!(
        read.headers().get("x-session-description").is_none(),
        "a blank description removes it"
    );
    // A session carrying an option that changes the share, then the very same session again:
    // no revision is added for it, and the option it carries still applies.
    let same = app
        .create(carrying(&with_message(&first, "four"), json!({"isPublic": false, "title": "public again", "description": "", "tags": [], "expiresAt": later})))
        .await;
    assert_eq!((same["revision"].as_u64(), same["isPublic"].as_bool()), (Some(5), Some(false)));
    // Made public since, by a PATCH: the same session again still makes it private.
    let made_public = app.patch(&id, json!({"isPublic": true}), &app.api_key).await;
    assert_eq!(made_public.status(), StatusCode::OK);
    let again = app
        .create(carrying(&with_message(&first, "four"), json!({"isPublic": false, "title": "public again", "description": "", "tags": [], "expiresAt": later})))
        .await;
    assert_eq!((again["revision"].as_u64(), again["isPublic"].as_bool()), (Some(5), Some(false)));
    assert_error(
        app.get(&format!("/api/sessions/{id}")).await,
        StatusCode::NOT_FOUND,
        "SESSION_NOT_FOUND",
    )
    .await;
}

/// `?new=true` and `--reshare new-link` make a new link; another user's share of a task with
/// the same id is their own; an unchanged session adds no revision.
#[tokio::test]
async fn new_links_when_asked_and_for_other_owners() {
    let app = spawn_app().await;
    let body = fresh_session();
    let id = app.create_id(body.clone()).await;
    let unchanged = app.create(body.clone()).await;
    assert_eq!(
        (unchanged["id"].as_str(), unchanged["revision"].as_u64()),
        (Some(id.as_str()), Some(1))
    );
    let separate =
        app.post_json("/api/sessions/create?new=true", body.clone()).send().await.unwrap();
    assert_eq!(separate.status(), StatusCode::CREATED);
    let separate: Value = separate.json().await.unwrap();
    assert_ne!(separate["id"], id.as_str());
    assert_eq!(separate["updated"], false);
    let bob = app.key_for("bob").await;
    let theirs: Value = app.share_as(&bob, body.clone()).await.json().await.unwrap();
    assert_ne!(theirs["id"], id.as_str());
    assert_eq!((theirs["username"].as_str(), theirs["revision"].as_u64()), (Some("bob"), Some(1)));
    assert_eq!(app.get(&format!("/api/sessions/{id}/revisions")).await.json::<Value>().await.unwrap()["items"].as_array().unwrap().len(), 1);

    let operator = spawn_app_with(|s| {
        s.reshare = session_share::state::Reshare::NewLink;
    })
    .await;
    let a = operator.create_id(body.clone()).await;
    let b = operator.create_id(with_message(&body, "more")).await;
    assert_ne!(a, b, "--reshare new-link: every share a new link");
}

/// An expired share is never revived: sharing its task again makes a new link.
#[tokio::test]
async fn an_expired_share_is_not_revived_by_sharing_its_task_again() {
    let app = spawn_app_with(|s| {
        s.metadata_cache_ttl = Duration::ZERO;
    })
    .await;
    let mut doc: Value = serde_json::from_slice(&fresh_session()).unwrap();
    doc["expiresAt"] = json!((chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339());
    let body = serde_json::to_vec(&doc).unwrap();
    let id = app.create_id(body.clone()).await;
    eventually(Duration::from_secs(4), || async {
        app.get(&format!("/api/sessions/{id}")).await.status() == StatusCode::GONE
    })
    .await;
    doc.as_object_mut().unwrap().remove("expiresAt");
    let again = app.create(serde_json::to_vec(&doc).unwrap()).await;
    assert_ne!(again["id"], id.as_str());
    assert_eq!((again["updated"].as_bool(), again["revision"].as_u64()), (Some(false), Some(1)));
    assert_error(
        app.get(&format!("/api/sessions/{id}")).await,
        StatusCode::NOT_FOUND,
        "SESSION_NOT_FOUND",
    )
    .await;
}

/// Only the last `--max-revisions` are kept: the 21st drops the first.
#[tokio::test]
async fn the_twenty_first_revision_drops_the_first() {
    let app = spawn_app().await;
    let mut body = fresh_session();
    let id = app.create_id(body.clone()).await;
    for n in 2..=21 {
        body = with_message(&body, &format!("step {n}"));
        assert_eq!(app.create(body.clone()).await["revision"], n);
    }
    assert_eq!(revision_numbers(&app, &id).await, (2..=21).collect::<Vec<u64>>());
    assert_error(
        app.get(&format!("/api/sessions/{id}?revision=1")).await,
        StatusCode::NOT_FOUND,
        "REVISION_NOT_FOUND",
    )
    .await;
    assert_eq!(app.stored_sessions().await.len(), 20, "the latest and 19 earlier");
    assert_eq!(app.get(&format!("/api/sessions/{id}?revision=2")).await.status(), StatusCode::OK);
}

/// Two processes (replicas) share the same task at once, again and again: one share, every
/// revision kept, and no error but a documented 409.
#[tokio::test]
async fn concurrent_shares_of_one_task_on_two_replicas_keep_every_revision() {
    let first = spawn_app().await;
    let second = spawn_replica(&first, |_| {}).await;
    let base = fresh_session();
    let id = first.create_id(base.clone()).await;
    let bodies: Vec<bytes::Bytes> =
        (0..8).map(|i| with_message(&base, &format!("replica work {i}"))).collect();
    let shares = bodies.iter().enumerate().map(|(i, body)| {
        let app = if i % 2 == 0 { &first } else { &second };
        let (key, body) = (first.api_key.clone(), body.clone());
        async move {
            let resp = app.share_as(&key, body).await;
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap())
        }
    });
    let answers = futures::future::join_all(shares).await;
    let mut landed = 0;
    for (status, answer) in &answers {
        match *status {
            StatusCode::CREATED => {
                assert_eq!(answer["id"], id.as_str());
                landed += 1;
            }
            StatusCode::CONFLICT => assert_eq!(answer["code"], "CONFLICT"),
            other => panic!("{other}: {answer}"),
        }
    }
    assert_eq!(
        revision_numbers(&first, &id).await,
        (1..=landed + 1).collect::<Vec<u64>>(),
        "each landed share is a revision, none lost"
    );
    // Every session that was answered 201 is one of the revisions, byte for byte.
    let mut kept = Vec::new();
    for n in 1..=landed + 1 {
        kept.push(
            first.get(&format!("/api/sessions/{id}?revision={n}")).await.bytes().await.unwrap(),
        );
    }
    for (body, (status, _)) in bodies.iter().zip(&answers) {
        if *status == StatusCode::CREATED {
            assert!(kept.contains(body), "a 201'd session is missing");
        }
    }
    assert_eq!(first.listed_ids(&first.api_key).await, [id]);
}

/// `PUT` replaces the session under the same link; with `If-Match`, of two writers on the
/// version they both read exactly one wins, and the other gets 412.
#[tokio::test]
async fn put_replaces_the_session_and_if_match_lets_exactly_one_writer_win() {
    let app = spawn_app().await;
    let base = fresh_session();
    let id = app.create_id(base.clone()).await;
    let etag = app.get(&format!("/api/sessions/{id}")).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let (a, b) = (with_message(&base, "writer a"), with_message(&base, "writer b"));
    let (ra, rb) = tokio::join!(
        app.replace(&id, a.clone(), &app.api_key, Some(&etag)),
        app.replace(&id, b.clone(), &app.api_key, Some(&etag)),
    );
    let mut statuses = [ra.status(), rb.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::PRECONDITION_FAILED]);
    let winner = if ra.status() == StatusCode::OK { a } else { b };
    let lost = if ra.status() == StatusCode::OK { rb } else { ra };
    assert_error(lost, StatusCode::PRECONDITION_FAILED, "PRECONDITION_FAILED").await;
    assert_eq!(app.get(&format!("/api/sessions/{id}")).await.bytes().await.unwrap(), winner);
    assert_eq!(
        app.get(&format!("/api/sessions/{id}?revision=1")).await.bytes().await.unwrap(),
        base
    );
    // Without If-Match it simply lands; options stay; a weak tag (the gzip form's) works too.
    let patch = app.patch(&id, json!({"title": "kept"}), &app.api_key).await;
    assert_eq!(patch.status(), StatusCode::OK);
    let gz = app
        .client
        .get(app.url(&format!("/api/sessions/{id}")))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    let weak = gz.headers()["etag"].to_str().unwrap().to_owned();
    assert!(weak.starts_with("W/"));
    let third = with_message(&winner, "third");
    let resp = app.replace(&id, third.clone(), &app.api_key, Some(&weak)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!((body["revision"].as_u64(), body["title"].as_str()), (Some(3), Some("kept")));
    // Someone else's share, or none: 403 and 404; a bad session: 400.
    let bob = app.key_for("bob").await;
    assert_error(
        app.replace(&id, third.clone(), &bob, None).await,
        StatusCode::FORBIDDEN,
        "ACCESS_DENIED",
    )
    .await;
    assert_error(
        app.replace("K9gGyX8OnothingHereXX", third.clone(), &app.api_key, None).await,
        StatusCode::NOT_FOUND,
        "SESSION_NOT_FOUND",
    )
    .await;
    assert_error(
        app.replace(&id, "{\"version\": 1}", &app.api_key, None).await,
        StatusCode::BAD_REQUEST,
        "INVALID_SESSION",
    )
    .await;
}

/// The revision numbers `GET /api/sessions/{id}/revisions` lists, in its order.
/// gc runs while shares are shared again over what earlier re-shares cut short left (each
/// share's latest revision already archived, older than the grace): gc never deletes a
/// revision a share lists, whatever the order the two go in.
#[tokio::test]
async fn gc_racing_reshares_over_leftover_archives_deletes_no_listed_revision() {
    use futures::StreamExt;
    use object_store::ObjectStoreExt;
    let app = spawn_app().await;
    let firsts: Vec<bytes::Bytes> = (0..60).map(|_| fresh_session()).collect();
    let mut ids = Vec::new();
    for first in &firsts {
        let id = app.create_id(first.clone()).await;
        // What a re-share that failed after archiving leaves: the share's file as revision 1.
        let key = share_key("alice", &id);
        let object = app.stored(&key).await;
        let leftover = object_store::path::Path::from(format!("sessions/alice/{id}/1.json.gz"));
        app.store.put(&leftover, object.into()).await.unwrap();
        ids.push(id);
    }
    // Older than `--grace 0s` at storage's one-second resolution.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let collector = {
        let (storage, done) = (app.storage_url.clone(), done.clone());
        tokio::spawn(async move {
            let mut runs = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                crate::cli::gc(&storage, "0s").await;
                runs += 1;
            }
            runs
        })
    };
    futures::stream::iter(firsts.iter().zip(&ids))
        .for_each_concurrent(4, |(first, id)| {
            let app = &app;
            async move {
                let again = app.create(with_message(first, "after a cut re-share")).await;
                assert_eq!(
                    (again["id"].as_str(), again["revision"].as_u64()),
                    (Some(id.as_str()), Some(2))
                );
            }
        })
        .await;
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let runs = collector.await.unwrap();
    crate::cli::gc(&app.storage_url, "0s").await;
    let mut lost = 0;
    for (first, id) in firsts.iter().zip(&ids) {
        assert_eq!(revision_numbers(&app, id).await, [1, 2]);
        let old = app.get(&format!("/api/sessions/{id}?revision=1")).await;
        if old.status() != StatusCode::OK {
            lost += 1;
            continue;
        }
        assert_eq!(old.bytes().await.unwrap(), first, "revision 1 of {id}");
    }
    eprintln!("{runs} gc runs during 60 re-shares; {lost} listed revisions lost");
    assert_eq!(lost, 0, "gc deleted revisions that shares list");
}

async fn revision_numbers(app: &TestApp, id: &str) -> Vec<u64> {
    let revisions: Value = app.revisions(id).await.json().await.unwrap();
    revisions["items"].as_array().unwrap().iter().map(|r| r["revision"].as_u64().unwrap()).collect()
}
