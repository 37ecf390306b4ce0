//! An owner with many shares: a page, a search and a tag filter cost the same with 2,000
//! shares as with ten, on a replica that has listed them (the LIST alone) and on one that has
//! not (the LIST and the owner's snapshot); a change through any replica shows at once; the
//! snapshot is a gzip of JSON, and losing or spoiling it changes no listing.

use bytes::Bytes;
use object_store::{ObjectStoreExt, path::Path};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, fresh_session, gunzip, spawn_app, spawn_replica, with_message};

const SHARES: usize = 2000;

/// Storage requests `app` makes while `work` runs: (get, list).
async fn cost(app: &TestApp, work: impl std::future::Future<Output = ()>) -> (f64, f64) {
    let get = "session_share_storage_requests_total{operation=\"get\"}";
    let list = "session_share_storage_requests_total{operation=\"list\"}";
    let before = (app.metric(get).await, app.metric(list).await);
    work.await;
    (app.metric(get).await - before.0, app.metric(list).await - before.1)
}

async fn page(app: &TestApp, query: &str) -> Value {
    let resp = app.list(query, &app.api_key).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn listing_costs_do_not_grow_with_the_shares_an_owner_has() {
    let a = spawn_app().await;
    let first = fresh_session();
    let made = a.create_id(first.clone()).await;
    crate::helpers::seed_shares(&a, SHARES).await;
    // The first listing anywhere has no snapshot: it reads every record, then writes one.
    let (gets, _) = cost(&a, async {
        assert_eq!(ids(&page(&a, "?limit=20").await)[0], made, "newest first");
    })
    .await;
    assert!(gets >= SHARES as f64, "{gets}");

    // Another replica, cold: the LIST and the snapshot (and the key check).
    let b = spawn_replica(&a, |_| {}).await;
    let mut newest = Vec::new();
    let (gets, lists) = cost(&b, async { newest = ids(&page(&b, "?limit=20").await) }).await;
    eprintln!("cold page of 20 over {} shares: {gets} reads, {lists} listings", SHARES + 1);
    assert!(gets <= 25.0, "a cold page read {gets} objects");
    assert!(lists <= ((SHARES + 1) as f64 / 1000.0).ceil() + 2.0, "{lists} listings");
    assert_eq!(newest.len(), 20);
    assert_eq!(newest[0], made);
    // Warm: a page, a search and a tag filter matching nothing read no record.
    for query in
        ["?limit=20", "?q=nothing-matches-this", "?tag=no-such-tag", "?tag=tenth&limit=100"]
    {
        let (gets, lists) = cost(&b, async {
            page(&b, query).await;
        })
        .await;
        eprintln!("warm {query}: {gets} reads, {lists} listings");
        assert!(gets <= 2.0, "{query} read {gets} objects");
    }
    assert_eq!(ids(&page(&b, "?tag=tenth&limit=100").await).len(), 100);

    // Changes through A show in B's listing and search at once, for a read each.
    let seeded = ids(&page(&b, "?q=seeded share 1999").await);
    assert_eq!(seeded.len(), 1);
    let patched = a.patch(&seeded[0], json!({"title": "Renamed through A"}), &a.api_key).await;
    assert_eq!(patched.status(), StatusCode::OK);
    let again = a.create(with_message(&first, "more work")).await;
    assert_eq!(again["revision"], 2);
    let gone = ids(&page(&b, "?q=seeded share 1998").await)[0].clone();
    assert_eq!(a.delete(&gone, &a.api_key).await.status(), StatusCode::NO_CONTENT);
    let (gets, _) = cost(&b, async {
        let renamed = page(&b, "?q=renamed through").await;
        assert_eq!(ids(&renamed), [seeded[0].clone()]);
        let top = page(&b, "?limit=3").await;
        assert_eq!(top["items"][0]["id"], made.as_str(), "a re-share does not move a share");
        assert_eq!(top["items"][0]["revisionCount"], 2);
        assert!(
            !ids(&top).contains(&gone) && ids(&page(&b, "?q=seeded share 1998").await).is_empty()
        );
    })
    .await;
    assert!(gets <= 3.0 + 2.0, "three changes cost {gets} reads");

    // The snapshot reads with gunzip and a JSON reader.
    let snapshot = a.stored("listings/alice.json.gz").await;
    let snapshot: Value = serde_json::from_slice(&gunzip(&snapshot)).unwrap();
    assert_eq!(snapshot["owner"], "alice");
    assert!(snapshot["shares"].as_object().unwrap().len() > SHARES);

    // Deleted or spoiled, it changes no listing: a replica reads the records instead.
    let whole = b.listed_ids(&a.api_key).await;
    assert_eq!(whole.len(), SHARES);
    let path = Path::from("listings/alice.json.gz");
    a.store.delete(&path).await.unwrap();
    let c = spawn_replica(&a, |_| {}).await;
    assert_eq!(c.listed_ids(&a.api_key).await, whole);
    a.store.put(&path, Bytes::from_static(b"\x1f\x8b not a snapshot").into()).await.unwrap();
    let d = spawn_replica(&a, |_| {}).await;
    assert_eq!(d.listed_ids(&a.api_key).await, whole);
}
