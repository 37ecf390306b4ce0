use std::{
    path::PathBuf,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use bytes::Bytes;
use object_store::ObjectStore;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::Value;
use session_share::{
    access::RateSetting,
    configuration::Settings,
    domain::Username,
    startup::Application,
    storage::{KeyStore, StorageUrl, open_store},
};
use tokio::net::TcpStream;

mod proxies;
mod s3_server;

// The benches share these helpers and use fewer of them.
#[allow(unused_imports)]
pub use proxies::{Fault, FaultyProxy, HoldingProxy, LostReplyProxy, TcpProxy, black_hole};
pub use s3_server::S3Target;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// A valid key of `alice`.
    pub api_key: String,
    /// The app's storage, for looking behind the API.
    pub store: Arc<dyn ObjectStore>,
    pub storage_url: String,
    /// Every route (poem's pattern) and the methods the service says it takes.
    pub routes: session_share::router::RouteTable,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A service on port 0 with its own prefix in the test bucket, so tests never see each
/// other's data: the settings `serve` has by default (never the shell's environment), rate
/// limits off, changed by `change`; a key of alice's made.
pub async fn spawn_app_with(change: impl FnOnce(&mut Settings)) -> TestApp {
    let target = S3Target::get();
    let storage = format!("s3://{}/t-{}", target.bucket, nanoid::nanoid!(10, &ALNUM));
    start(storage, change, true).await
}

/// Another replica of `app`: the same storage (and alice's key), nothing else shared.
pub async fn spawn_replica(app: &TestApp, change: impl FnOnce(&mut Settings)) -> TestApp {
    let mut replica = start(app.storage_url.clone(), change, false).await;
    replica.api_key = app.api_key.clone();
    replica
}

/// A service on `storage` (local files, a bucket that is not there); alice's key is made if
/// the storage can hold it.
pub async fn spawn_app_on(
    storage: impl Into<String>,
    change: impl FnOnce(&mut Settings),
) -> TestApp {
    let mut app = start(storage.into(), change, false).await;
    if let Ok((key, _)) = KeyStore::new(app.store.clone())
        .create(&Username::parse("alice").unwrap(), Some("tests".into()))
        .await
    {
        app.api_key = key.expose_secret().to_owned();
    }
    app
}

async fn start(storage_url: String, change: impl FnOnce(&mut Settings), with_key: bool) -> TestApp {
    let target = S3Target::get();
    let storage: StorageUrl = storage_url.parse().unwrap();
    let mut settings = Settings::defaults();
    settings.bind = "127.0.0.1:0".into();
    settings.storage.storage = storage.clone();
    settings.s3 = target.options(&target.endpoint);
    let off: RateSetting = "off".parse().unwrap();
    (settings.write_rate, settings.read_rate, settings.auth_failure_rate) = (off, off, off);
    change(&mut settings);
    let app = Application::build(settings).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let routes = app.routes().clone();
    tokio::spawn(app.run_until_stopped());

    // Looking behind the API always goes straight to S3, never through a proxy.
    let store = open_store(&storage, &target.options(&target.endpoint)).unwrap().store;
    let key = if !with_key {
        String::new()
    } else {
        let (key, _) = KeyStore::new(store.clone())
            .create(&Username::parse("alice").unwrap(), Some("tests".into()))
            .await
            .expect("S3 test server reachable");
        key.expose_secret().to_owned()
    };
    TestApp { address, client: reqwest::Client::new(), api_key: key, store, storage_url, routes }
}

const ALNUM: [char; 36] = [
    'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's',
    't', 'u', 'v', 'w', 'x', 'y', 'z', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9',
];

/// A JSON body as the extension sends it.
fn json_request(
    request: RequestBuilder,
    key: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> RequestBuilder {
    let request = request.header("Content-Type", "application/json").body(body);
    match key {
        Some(key) => request.header("Syntx-Api-Key", key),
        None => request,
    }
}

/// One method per route, as the extension and the owners' tools call them.
impl TestApp {
    /// A new key for `username` on this app's storage.
    pub async fn key_for(&self, username: &str) -> String {
        let (key, _) = KeyStore::new(self.store.clone())
            .create(&Username::parse(username).unwrap(), None)
            .await
            .unwrap();
        key.expose_secret().to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A JSON POST as the extension sends it, with alice's key in `Syntx-Api-Key`.
    pub fn post_json(&self, path: &str, body: impl Into<reqwest::Body>) -> RequestBuilder {
        self.post_json_as(path, &self.api_key, body)
    }

    /// A JSON POST with `key` in `Syntx-Api-Key`.
    pub fn post_json_as(
        &self,
        path: &str,
        key: &str,
        body: impl Into<reqwest::Body>,
    ) -> RequestBuilder {
        json_request(self.client.post(self.url(path)), Some(key), body)
    }

    /// `POST /api/sessions/create` with `key`, as newer extensions share.
    pub async fn share_as(&self, key: &str, body: impl Into<reqwest::Body>) -> Response {
        self.post_json_as("/api/sessions/create", key, body).send().await.unwrap()
    }

    /// Shares `body` as alice through the newer route; answers the 201's JSON.
    pub async fn create(&self, body: impl Into<reqwest::Body>) -> Value {
        let resp = self.post_json("/api/sessions/create", body).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED, "{:?}", resp.text().await);
        resp.json().await.unwrap()
    }

    /// As [`TestApp::create`]; answers the id alone.
    pub async fn create_id(&self, body: impl Into<reqwest::Body>) -> String {
        self.create(body).await["id"].as_str().unwrap().to_owned()
    }

    /// `POST /api/sessions` with `{id, username?}`, as newer extensions import.
    pub async fn import(&self, body: Value, key: Option<&str>) -> Response {
        json_request(self.client.post(self.url("/api/sessions")), key, body.to_string())
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap()
    }

    /// `GET path` as a browser asks for a page.
    pub async fn page(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .header("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).header("Accept", "application/json").send().await.unwrap()
    }

    /// `GET path` with `key` in `Syntx-Api-Key`.
    pub async fn get_as(&self, path: &str, key: &str) -> Response {
        self.client.get(self.url(path)).header("Syntx-Api-Key", key).send().await.unwrap()
    }

    /// `GET /api/sessions{query}`: the owner's listing.
    pub async fn list(&self, query: &str, key: &str) -> Response {
        self.get_as(&format!("/api/sessions{query}"), key).await
    }

    /// Every id in `key`'s listing, page by page.
    pub async fn listed_ids(&self, key: &str) -> Vec<String> {
        let (mut ids, mut cursor) = (Vec::new(), None::<String>);
        loop {
            let query =
                cursor.map_or("?limit=100".to_owned(), |c| format!("?limit=100&cursor={c}"));
            let resp = self.list(&query, key).await;
            assert_eq!(resp.status(), StatusCode::OK);
            let page: Value = resp.json().await.unwrap();
            ids.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["id"].as_str().unwrap().to_owned()),
            );
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return ids,
            }
        }
    }

    /// `PATCH /api/sessions/{id}`.
    pub async fn patch(&self, id: &str, body: Value, key: &str) -> Response {
        let request = self.client.patch(self.url(&format!("/api/sessions/{id}")));
        json_request(request, Some(key), body.to_string()).send().await.unwrap()
    }

    /// `PUT /api/sessions/{id}`, with `If-Match` when given.
    pub async fn replace(
        &self,
        id: &str,
        body: impl Into<reqwest::Body>,
        key: &str,
        if_match: Option<&str>,
    ) -> Response {
        let mut request = json_request(
            self.client.put(self.url(&format!("/api/sessions/{id}"))),
            Some(key),
            body,
        );
        if let Some(tag) = if_match {
            request = request.header("If-Match", tag);
        }
        request.send().await.unwrap()
    }

    /// `DELETE /api/sessions/{id}`.
    pub async fn delete(&self, id: &str, key: &str) -> Response {
        self.client
            .delete(self.url(&format!("/api/sessions/{id}")))
            .header("Syntx-Api-Key", key)
            .send()
            .await
            .unwrap()
    }

    /// The value of one series of `GET /metrics` (`name{labels}` as exposed), 0 if absent.
    pub async fn metric(&self, series: &str) -> f64 {
        metric_at(&self.address, series).await
    }

    /// `GET /api/sessions/{id}/revisions`.
    pub async fn revisions(&self, id: &str) -> Response {
        self.get(&format!("/api/sessions/{id}/revisions")).await
    }

    /// Every object name the service has stored, sorted.
    pub async fn stored_objects(&self) -> Vec<String> {
        use futures::TryStreamExt;
        let mut names: Vec<String> =
            self.store.list(None).map_ok(|m| m.location.to_string()).try_collect().await.unwrap();
        names.sort();
        names
    }

    /// The stored objects that hold sessions (shares and their revisions), sorted.
    pub async fn stored_sessions(&self) -> Vec<String> {
        self.stored_objects().await.into_iter().filter(|n| n.starts_with("sessions/")).collect()
    }

    /// A stored object's bytes, as storage has them.
    pub async fn stored(&self, path: &str) -> Bytes {
        use object_store::ObjectStoreExt;
        let path = object_store::path::Path::from(path);
        self.store.get(&path).await.unwrap().bytes().await.unwrap()
    }
}

/// Where a share's latest revision is stored.
pub fn share_key(owner: &str, id: &str) -> String {
    format!("sessions/{owner}/{id}.json.gz")
}

/// `document` with a task id of its own (the first `"<task id>"` replaced, the rest byte for
/// byte): a share of another task, so not a revision of one made from `document`.
pub fn another_task(document: &[u8]) -> Bytes {
    let text = std::str::from_utf8(document).unwrap();
    let doc: Value = serde_json::from_str(text).unwrap();
    let old = doc["task"]["id"].as_str().unwrap();
    let new = format!("task-{}", nanoid::nanoid!(12, &ALNUM));
    text.replacen(&format!("\"{old}\""), &format!("\"{new}\""), 1).into_bytes().into()
}

/// A small valid session of a task of its own.
pub fn fresh_session() -> Bytes {
    another_task(&small_session())
}

/// `document` with one more message (the next revision of its task, as the extension would
/// share it after more work).
pub fn with_message(document: &[u8], text: &str) -> Bytes {
    let mut doc: Value = serde_json::from_slice(document).unwrap();
    doc["messages"].as_array_mut().unwrap().push(serde_json::json!({
        "ts": 1_900_000_000_000u64, "type": "say", "say": "text", "text": text
    }));
    serde_json::to_vec(&doc).unwrap().into()
}

/// Decodes a stored share (a standard gzip file).
pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

/// The record a stored share carries in its gzip header.
pub fn stored_record(object: &[u8]) -> Value {
    let (record, _) = session_share::storage::share_file::parse_header(object).unwrap().unwrap();
    serde_json::to_value(record).unwrap()
}

/// A realistic session by name: `small.json` and `medium.json` are committed in
/// `tests/fixtures/`; `large.json` (3 MB) and `xlarge.json` (25 MB) are generated from a seed
/// (`tests/support/sessions.rs`), once per test process.
pub fn fixture(name: &str) -> Bytes {
    static GENERATED: OnceLock<Mutex<std::collections::HashMap<String, Bytes>>> = OnceLock::new();
    let generated = GENERATED.get_or_init(Default::default);
    if let Some(bytes) = generated.lock().unwrap().get(name) {
        return bytes.clone();
    }
    let bytes: Bytes = match crate::sessions::by_name(name) {
        Some(bytes) => bytes.into(),
        None => {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).into()
        }
    };
    generated.lock().unwrap().insert(name.to_owned(), bytes.clone());
    bytes
}

/// The committed small session (always the same task: sharing it twice is one share).
pub fn small_session() -> Bytes {
    fixture("small.json")
}

/// Asserts a JSON error answer: status, code, and that it is short, readable JSON.
pub async fn assert_error(resp: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(resp.status(), status);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    let message = body["error"].as_str().expect("error message");
    assert!(!message.is_empty() && message.len() < 300, "{message}");
    body
}

/// What the extension checks on import: a zod object `{version: string, task: any,
/// messages: any[]}`, then `task.id` to write the messages under.
pub fn assert_importable(body: &[u8]) {
    let doc: Value = serde_json::from_slice(body).expect("import answer is JSON");
    assert!(doc["version"].is_string());
    assert!(doc.get("task").is_some());
    assert!(doc["messages"].is_array());
    assert!(doc["task"]["id"].is_string());
}

/// Waits until `check` holds, polling; panics after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "condition not met within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of one series of `GET {address}/metrics`, 0 if absent; on a connection of its own,
/// closed after, so that it does not take a place the test is counting.
pub async fn metric_at(address: &str, series: &str) -> f64 {
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let text = client.get(format!("{address}/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Sends `GET path` byte for byte (HTTP clients normalise `..` and `%2E%2E` away, attackers
/// do not); answers the status and the JSON body.
pub async fn raw_get(address: &str, path: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(address.trim_start_matches("http://")).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// `count` shares of alice's, written straight into storage as the service writes them (a
/// create each would take minutes), a second apart in age, every tenth tagged `tenth`.
pub async fn seed_shares(app: &TestApp, count: usize) -> Vec<session_share::domain::ShareId> {
    use futures::StreamExt;
    use object_store::{ObjectStoreExt, path::Path};
    use session_share::{
        domain::{ShareId, ShareRecord, Visibility},
        storage::share_file::{Compressed, StoredRecord, object},
    };
    let alice = Username::parse("alice").unwrap();
    let document = fresh_session();
    let compressed = Compressed::of(&document);
    let now = chrono::Utc::now();
    let made: Vec<ShareId> = futures::stream::iter(0..count)
        .map(|i| {
            let (alice, compressed, store) = (alice.clone(), compressed.clone(), app.store.clone());
            let size = document.len() as u64;
            async move {
                let id = ShareId::generate_for(&alice);
                let created = now - chrono::Duration::seconds((count - i) as i64 * 60);
                let record = ShareRecord {
                    username: alice.clone(),
                    created_at: created,
                    title: format!("Seeded share {i:04}"),
                    description: None,
                    tags: if i % 10 == 0 { vec!["tenth".into()] } else { vec![] },
                    visibility: Visibility::Public,
                    expires_at: None,
                    task_excerpt: "seeded".into(),
                    revision: 1,
                    revised_at: created,
                    size,
                    message_count: 8,
                    redactions: 0,
                    earlier: vec![],
                    link_generation: 0,
                    pending_until: None,
                };
                let bytes = object(&StoredRecord::Share(record), &compressed).unwrap();
                let path = Path::from(format!("sessions/alice/{id}.json.gz"));
                store.put(&path, bytes).await.unwrap();
                id
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    made
}
