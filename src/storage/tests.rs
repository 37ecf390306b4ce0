//! Unit tests of the share store over in-memory storage that misbehaves as told (see
//! [`super::testing`]); the integration tests run the same operations on real S3 servers.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use chrono::Utc;
use object_store::{ObjectStoreExt, path::Path};

use super::{
    ConditionalWrites, ConditionalWritesState, NewShare, OpenedStore, Placement, SessionStore,
    StorageBounds, StorageError, layout,
    share_file::{self, Compressed, StoredRecord},
    testing::{Misbehaving, Misbehaviour},
};
use crate::{
    domain::{ShareId, ShareOptions, Username},
    metrics::Metrics,
};

fn alice() -> Username {
    Username::parse("alice").unwrap()
}

/// A store over `backing`, with storage bounds short enough for tests.
fn sessions(backing: &Misbehaving) -> SessionStore {
    let opened = OpenedStore { store: Arc::new(backing.clone()), supports_content_type: true };
    let state = ConditionalWritesState::default();
    state.set(ConditionalWrites::Supported);
    let bounds = StorageBounds { timeout: Duration::from_millis(100), min_rate: u64::MAX / 2 };
    SessionStore::new(&opened, state, bounds).with_caches(Duration::from_secs(60), Metrics::new())
}

fn share(document: &[u8]) -> NewShare {
    NewShare {
        compressed: Compressed::of(document),
        size: document.len() as u64,
        message_count: 1,
        task_excerpt: "a task".into(),
        redactions: 0,
        options: ShareOptions::default(),
    }
}

fn task(id: &str) -> Placement {
    Placement::Task(id.into())
}

async fn read(store: &SessionStore, id: &ShareId) -> Result<Bytes, StorageError> {
    let (_, super::Opened::Found { rest, .. }) = store.open(id, None, None).await? else {
        panic!("no condition given")
    };
    let chunks: Vec<Bytes> =
        futures::TryStreamExt::try_collect(share_file::as_gzip(rest)).await.unwrap();
    Ok(crate::compression::gunzip(&chunks.concat(), 1 << 20).unwrap())
}

#[tokio::test]
async fn a_task_shared_again_is_one_share_whose_old_sessions_stay_readable() {
    let backing = Misbehaving::new(Misbehaviour::None);
    let store = sessions(&backing).with_max_revisions(3);
    let first = store.create(&alice(), &share(b"{\"n\":1}"), &task("t")).await.unwrap();
    assert!(!first.updated);
    for n in 2..=5 {
        let again = store
            .create(&alice(), &share(format!("{{\"n\":{n}}}").as_bytes()), &task("t"))
            .await
            .unwrap();
        assert_eq!(
            (again.id.clone(), again.record.revision, again.updated),
            (first.id.clone(), n, true)
        );
    }
    assert_eq!(read(&store, &first.id).await.unwrap(), &b"{\"n\":5}"[..]);
    let record = store.record(&first.id, None).await.unwrap();
    assert_eq!(record.revisions().iter().map(|r| r.revision).collect::<Vec<_>>(), [3, 4, 5]);
    let id = first.id;
    let expected: Vec<String> = vec![
        format!("sessions/alice/{id}.json.gz"),
        format!("sessions/alice/{id}/3.json.gz"),
        format!("sessions/alice/{id}/4.json.gz"),
    ];
    let stored: Vec<String> =
        backing.paths().await.into_iter().filter(|p| p.starts_with("sessions/")).collect();
    assert_eq!(stored, expected, "the latest and two earlier; older ones deleted");
    // An unchanged session adds nothing.
    let same = store.create(&alice(), &share(b"{\"n\":5}"), &task("t")).await.unwrap();
    assert_eq!((same.record.revision, same.updated), (5, true));
}

/// Storage did the write but its answer was lost: the share is made, and the client is told.
#[tokio::test]
async fn a_write_whose_answer_was_lost_is_the_share_made() {
    let backing = Misbehaving::new(Misbehaviour::LoseReplies);
    let store = sessions(&backing);
    let made = store.create(&alice(), &share(b"{\"a\":1}"), &Placement::NewLink).await.unwrap();
    assert_eq!(read(&store, &made.id).await.unwrap(), &b"{\"a\":1}"[..]);
}

/// A write that fails and lands nowhere: the create fails, and nothing is readable.
#[tokio::test]
async fn a_create_that_fails_leaves_nothing_readable() {
    let backing = Misbehaving::new(Misbehaviour::FailWritesAfter(1));
    let store = sessions(&backing);
    let err = store.create(&alice(), &share(b"{}"), &Placement::NewLink).await.unwrap_err();
    assert!(matches!(err, StorageError::Unavailable { operation: "write", .. }), "{err}");
    assert_eq!(backing.paths().await, [layout::owner_entry(&alice()).to_string()]);
}

/// The write fails to the service but lands later (a proxy held it): the service blocks the
/// id with a marker at once, and the late write finds it taken.
#[tokio::test]
async fn a_marker_blocks_a_write_that_would_land_late() {
    let backing =
        Misbehaving::new(Misbehaviour::LandLateFirst { delay: Duration::from_millis(300) });
    let store = sessions(&backing);
    let started = tokio::time::Instant::now();
    store.create(&alice(), &share(b"{}"), &task("t")).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "answered at once: {:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let id = store.id_key().await.map(|key| ShareId::for_task(&key, &alice(), "t", 0)).unwrap();
    let object =
        backing.inner.get(&layout::share(&alice(), &id)).await.unwrap().bytes().await.unwrap();
    assert!(matches!(
        share_file::parse_header(&object).unwrap().unwrap().0,
        StoredRecord::Withdrawn(_)
    ));
    assert!(matches!(read(&store, &id).await, Err(StorageError::NotFound { .. })));
    // The task's next share takes the id: no share ever stood there.
    let next = store.create(&alice(), &share(b"{\"b\":2}"), &task("t")).await.unwrap();
    assert_eq!((next.id.clone(), next.updated), (id, false));
}

/// Every write fails to the service and lands later, the marker too: the create fails, and the
/// share that lands past its deadline is never shown nor listed; gc empties it, and the task's
/// next share takes its place.
#[tokio::test]
async fn a_share_that_lands_after_its_deadline_never_counts() {
    let backing = Misbehaving::new(Misbehaviour::LandLate { delay: Duration::from_millis(2500) });
    let store = sessions(&backing);
    store.create(&alice(), &share(b"{\"late\":1}"), &task("t")).await.unwrap_err();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let id = store.id_key().await.map(|key| ShareId::for_task(&key, &alice(), "t", 0)).unwrap();
    let path = layout::share(&alice(), &id);
    let landed = backing.inner.get(&path).await.unwrap().bytes().await.unwrap();
    assert!(
        matches!(share_file::parse_header(&landed).unwrap().unwrap().0, StoredRecord::Share(_)),
        "it landed"
    );
    let fresh = sessions(&Misbehaving::over(backing.inner.clone(), Misbehaviour::None));
    assert!(matches!(read(&fresh, &id).await, Err(StorageError::NotFound { .. })));
    assert!(fresh.list_page(&alice(), None, 10, |_| true).await.unwrap().items.is_empty());
    let report = fresh
        .collect_garbage(Utc::now() + chrono::Duration::hours(2), chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(report.late, 1);
    let next = fresh.create(&alice(), &share(b"{\"b\":2}"), &task("t")).await.unwrap();
    assert_eq!((next.id.clone(), next.updated), (id.clone(), false));
    assert_eq!(read(&fresh, &id).await.unwrap(), &b"{\"b\":2}"[..]);
}

/// A deleted share's id, and an expired one's, is never used again: the task's next share
/// gets a new link.
#[tokio::test]
async fn deleted_and_expired_shares_are_never_revived() {
    let backing = Misbehaving::new(Misbehaviour::None);
    let store = sessions(&backing);
    let first = store.create(&alice(), &share(b"{\"a\":1}"), &task("t")).await.unwrap();
    store.create(&alice(), &share(b"{\"a\":2}"), &task("t")).await.unwrap();
    assert!(store.delete(&alice(), &first.id).await.unwrap());
    assert!(matches!(read(&store, &first.id).await, Err(StorageError::NotFound { .. })));
    let second = store.create(&alice(), &share(b"{\"a\":3}"), &task("t")).await.unwrap();
    assert_ne!(second.id, first.id);
    assert!(!second.updated);
    // Expired: the next share of the task is a new link too.
    store
        .update_options(&alice(), &second.id, |r| {
            r.expires_at = Some(Utc::now() - chrono::Duration::seconds(1));
            Ok::<_, ()>(())
        })
        .await
        .unwrap();
    let third = store.create(&alice(), &share(b"{\"a\":4}"), &task("t")).await.unwrap();
    assert!(third.id != second.id && third.id != first.id && !third.updated);
    let stored: Vec<String> =
        backing.paths().await.into_iter().filter(|p| p.starts_with("sessions/")).collect();
    assert_eq!(stored.len(), 3, "two markers and the live share, no revisions: {stored:?}");
}

/// Changes of options rewrite the header only: the compressed document is copied back as it
/// was, and concurrent changes all land.
#[tokio::test]
async fn concurrent_changes_of_options_all_land_and_leave_the_document_alone() {
    let backing = Misbehaving::new(Misbehaviour::None);
    let store = sessions(&backing);
    let made = store
        .create(&alice(), &share(b"{\"kept\": \"as it was\"}"), &Placement::NewLink)
        .await
        .unwrap();
    let path = layout::share(&alice(), &made.id);
    let before = backing.inner.get(&path).await.unwrap().bytes().await.unwrap();
    let (_, header_len) = share_file::parse_header(&before).unwrap().unwrap();
    let changes = (0..20).map(|i| {
        let (store, id) = (store.clone(), made.id.clone());
        async move {
            store
                .update_options(&alice(), &id, |r| {
                    r.tags.push(format!("t{i}"));
                    Ok::<_, ()>(())
                })
                .await
                .unwrap()
        }
    });
    futures::future::join_all(changes).await;
    assert_eq!(store.record(&made.id, None).await.unwrap().tags.len(), 20);
    let after = backing.inner.get(&path).await.unwrap().bytes().await.unwrap();
    let (_, after_len) = share_file::parse_header(&after).unwrap().unwrap();
    assert_eq!(after[after_len..], before[header_len..], "the document bytes are untouched");
}

/// gc: an expired share becomes a marker, and its revisions go; revisions of no share go.
#[tokio::test]
async fn gc_removes_what_is_expired_or_kept_by_nothing() {
    let backing = Misbehaving::new(Misbehaviour::None);
    let store = sessions(&backing);
    let made = store.create(&alice(), &share(b"{\"a\":1}"), &task("t")).await.unwrap();
    store.create(&alice(), &share(b"{\"a\":2}"), &task("t")).await.unwrap();
    store
        .update_options(&alice(), &made.id, |r| {
            r.expires_at = Some(Utc::now() - chrono::Duration::seconds(1));
            Ok::<_, ()>(())
        })
        .await
        .unwrap();
    let stray = Path::from("sessions/alice/K9gGyX8OStrayStrayStr/1.json.gz");
    backing.inner.put(&stray, Compressed::of(b"{}").bytes().clone().into()).await.unwrap();
    let report = store.collect_garbage(Utc::now(), chrono::Duration::zero()).await.unwrap();
    assert_eq!((report.expired, report.revisions), (1, 2));
    let stored: Vec<String> =
        backing.paths().await.into_iter().filter(|p| p.starts_with("sessions/")).collect();
    assert_eq!(stored, [layout::share(&alice(), &made.id).to_string()]);
    // A second collector finds nothing more to do.
    assert_eq!(
        store.collect_garbage(Utc::now(), chrono::Duration::zero()).await.unwrap(),
        super::GcReport::default()
    );
}
