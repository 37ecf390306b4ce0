use std::{
    hash::{Hash, Hasher},
    sync::Arc,
};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use object_store::{
    Attribute, Attributes, GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions,
    PutPayload, UpdateVersion, path::Path,
};
use serde::{Deserialize, Serialize};

use super::{ConditionalWrites, ConditionalWritesState, StorageError};
use crate::{
    domain::{ShareId, Username},
    metrics::Metrics,
};

/// Draws share ids. Production uses [`ShareId::generate`]; tests inject collisions.
pub type IdSource = Arc<dyn Fn() -> ShareId + Send + Sync>;

/// Ids are 126 random bits, so a second draw is already astronomically rare; the bound only
/// keeps a misbehaving store from looping us forever.
const MAX_ID_ATTEMPTS: usize = 8;

/// Stores and serves session documents. Cheap to clone.
#[derive(Clone)]
pub struct SessionStore {
    pub(super) store: Arc<dyn ObjectStore>,
    supports_content_type: bool,
    conditional: ConditionalWritesState,
    ids: IdSource,
    locks: Arc<Vec<tokio::sync::Mutex<()>>>,
    caches: Option<RecordCaches>,
}

/// What reads remember between requests (see [`SessionStore::with_caches`]).
#[derive(Clone)]
struct RecordCaches {
    /// Records, for at most the configured time: what PATCH changes reaches other replicas
    /// within it.
    records: moka::future::Cache<String, ShareRecord>,
    /// Owners never change, so an id's owner is kept as long as there is room: a read by id
    /// whose record has expired from `records` fetches the record and the document at once.
    owners: moka::future::Cache<String, Username>,
    metrics: Arc<Metrics>,
}

#[derive(Debug, Clone)]
pub struct CreatedShare {
    pub id: ShareId,
    pub created_at: DateTime<Utc>,
}

pub enum OpenedSession {
    /// The document, streaming; `etag` as the store spells it.
    Found { etag: Option<String>, size: u64, body: BoxStream<'static, object_store::Result<Bytes>> },
    /// The store itself matched the `if_none_match` it was given.
    NotModified,
}

/// What is known about a share besides its document, at `ids/<id>.json`: written (and the id
/// claimed) at create, changed by PATCH, the owner's for id-only lookups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShareRecord {
    pub username: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default = "public_by_default")]
    pub is_public: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The document's size in bytes.
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub message_count: u64,
    /// The start of the task prompt, for text search.
    #[serde(default)]
    pub task_excerpt: String,
}

fn public_by_default() -> bool {
    true
}

impl ShareRecord {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// A document found under an owner's prefix.
#[derive(Debug, Clone)]
pub struct OwnedDocument {
    pub id: ShareId,
    pub last_modified: DateTime<Utc>,
}

/// Why a metadata update did not happen.
#[derive(Debug)]
pub enum UpdateError<E> {
    /// The change itself refused (e.g. not the owner).
    Rejected(E),
    /// Other writers kept winning; the caller may retry.
    Conflict,
    Storage(StorageError),
}

impl<E> From<StorageError> for UpdateError<E> {
    fn from(e: StorageError) -> Self {
        Self::Storage(e)
    }
}

/// Compare-and-swap retries before an update gives up with `Conflict`.
const MAX_UPDATE_ATTEMPTS: usize = 10;
/// Striped per-replica locks: updates of one share queue here instead of racing in storage;
/// storage's `If-Match` still decides between replicas.
const LOCK_STRIPES: usize = 64;
/// About 1 KB each at most (title, description, tags, excerpt): tens of megabytes at worst.
const RECORD_CACHE_ENTRIES: u64 = 20_000;
/// An id and a username: under 150 bytes each.
const OWNER_CACHE_ENTRIES: u64 = 200_000;

pub(super) fn document_path(owner: &Username, id: &ShareId) -> Path {
    Path::from(format!("sessions/{owner}/{id}.json"))
}

fn id_path(id: &ShareId) -> Path {
    Path::from(format!("ids/{id}.json"))
}

impl SessionStore {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        supports_content_type: bool,
        conditional: ConditionalWritesState,
        ids: IdSource,
    ) -> Self {
        let locks = Arc::new((0..LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect());
        Self { store, supports_content_type, conditional, ids, locks, caches: None }
    }

    /// Remember records for reads for `ttl` (none if zero). A change made through this replica
    /// is seen by its next read; one made through another replica, within `ttl`.
    pub fn with_caches(mut self, ttl: std::time::Duration, metrics: Arc<Metrics>) -> Self {
        if !ttl.is_zero() {
            self.caches = Some(RecordCaches {
                records: moka::future::Cache::builder()
                    .max_capacity(RECORD_CACHE_ENTRIES)
                    .time_to_live(ttl)
                    .build(),
                owners: moka::future::Cache::builder().max_capacity(OWNER_CACHE_ENTRIES).build(),
                metrics,
            });
        }
        self
    }

    /// Stores `document` for `record.username` under a fresh id.
    ///
    /// The id is claimed first by writing its record (`ids/<id>.json`, only if absent), then
    /// the document is written. The document is the commit point: until it exists no read
    /// returns the share, and if writing it fails the claim is withdrawn and the caller gets
    /// the error.
    pub async fn create(
        &self,
        record: &ShareRecord,
        document: Bytes,
    ) -> Result<CreatedShare, StorageError> {
        let owner = Username::parse(&record.username).map_err(|e| StorageError::Corrupt {
            path: "new share".into(),
            reason: e.to_string(),
        })?;
        let owner = &owner;
        let created_at = record.created_at;
        let stored_record = record.clone();
        let record = Bytes::from(serde_json::to_vec(record).expect("ShareRecord serializes"));
        for _ in 0..MAX_ID_ATTEMPTS {
            let id = (self.ids)();
            let (id_record, doc) = (id_path(&id), document_path(owner, &id));
            // One round trip: the id and the document are claimed at once. A share is
            // readable only once both exist (reads need the record to find and check it).
            let (claimed, written) = tokio::join!(
                self.claim(&id_record, record.clone()),
                self.claim(&doc, document.clone())
            );
            match (claimed, written) {
                (Ok(true), Ok(true)) => {
                    if let Some(caches) = &self.caches {
                        // What was just written is what the first reads will want.
                        caches.owners.insert(id.to_string(), owner.clone()).await;
                        caches.records.insert(id.to_string(), stored_record.clone()).await;
                    }
                    return Ok(CreatedShare { id, created_at });
                }
                (Ok(false), written) => {
                    // The id is someone else's: take back our document (if it landed), redraw.
                    tracing::warn!(share_id = %id, "drew an id that is taken; drawing again");
                    if !matches!(written, Ok(false)) {
                        self.withdraw(&id, &[doc]).await;
                    }
                    written?;
                }
                (Ok(true), Ok(false)) => {
                    // Only reachable on a store without conditional writes, racing another
                    // writer on the same id, or with a document left without its record:
                    // leave it, give the id back, redraw.
                    tracing::warn!(share_id = %id, "document path already taken; drawing again");
                    self.withdraw(&id, &[id_record]).await;
                }
                (Err(e), written) => {
                    // The record's write may have landed even though we saw it fail (a lost
                    // reply): withdraw the document (if it may be ours), then the claim, so a
                    // failed create never leaves a share readable or listed.
                    let mut ours = vec![id_record];
                    if !matches!(written, Ok(false)) {
                        ours.insert(0, doc);
                    }
                    self.withdraw(&id, &ours).await;
                    return Err(e);
                }
                (Ok(true), Err(e)) => {
                    self.withdraw(&id, &[doc, id_record]).await;
                    return Err(e);
                }
            }
        }
        Err(StorageError::IdsExhausted { attempts: MAX_ID_ATTEMPTS })
    }

    /// Deletes what a failed create may have written, in order (the document before the id
    /// claim, so nothing is ever readable without its record).
    async fn withdraw(&self, id: &ShareId, paths: &[Path]) {
        for path in paths {
            if let Err(cleanup) = self.delete_path(path).await {
                tracing::warn!(share_id = %id, %path, error = %cleanup,
                    "could not withdraw part of a failed create; gc will");
            }
        }
    }

    /// Writes `bytes` at `path` only if nothing is there. `Ok(false)`: something is.
    async fn claim(&self, path: &Path, bytes: Bytes) -> Result<bool, StorageError> {
        if self.conditional.get() != ConditionalWrites::Supported {
            // Without (known) conditional writes, look first. Not atomic: see README.
            match self.store.head(path).await {
                Ok(_) => return Ok(false),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(StorageError::from_store("check", path, e)),
            }
        }
        match self.put(path, bytes.clone(), PutMode::Create).await {
            Ok(()) => Ok(true),
            // Refused: taken by someone else, or by this very write, whose reply was lost
            // and which the client then retried. Only the latter holds our exact bytes
            // (records carry their creation time to the nanosecond; documents live under the
            // id this create claimed).
            Err(object_store::Error::AlreadyExists { .. }) => self.holds(path, &bytes).await,
            Err(object_store::Error::NotImplemented { .. }) => {
                self.conditional.set(ConditionalWrites::Unsupported);
                self.put(path, bytes, PutMode::Overwrite)
                    .await
                    .map(|()| true)
                    .map_err(|e| StorageError::from_store("write", path, e))
            }
            Err(e) => Err(StorageError::from_store("write", path, e)),
        }
    }

    /// Whether `path` holds exactly `bytes`.
    async fn holds(&self, path: &Path, bytes: &Bytes) -> Result<bool, StorageError> {
        let stored = match self.store.get(path).await {
            Ok(found) if found.meta.size != bytes.len() as u64 => return Ok(false),
            Ok(found) => found.bytes().await,
            Err(e) => Err(e),
        };
        match stored {
            Ok(stored) => {
                let ours = stored == *bytes;
                if ours {
                    tracing::info!(%path, "a retried write found its own first attempt stored");
                }
                Ok(ours)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(StorageError::from_store("read", path, e)),
        }
    }

    async fn put(&self, path: &Path, bytes: Bytes, mode: PutMode) -> object_store::Result<()> {
        let mut attributes = Attributes::new();
        if self.supports_content_type {
            attributes.insert(Attribute::ContentType, "application/json".into());
            if crate::compression::is_gzip(&bytes) {
                attributes.insert(Attribute::ContentEncoding, "gzip".into());
            }
        }
        let options = PutOptions { mode, attributes, ..Default::default() };
        self.store.put_opts(path, PutPayload::from_bytes(bytes), options).await.map(drop)
    }

    /// Opens `owner`'s share `id` for streaming: one storage read. `if_none_match` is an
    /// entity tag the reader has; stores that spell tags as HTTP does (S3) answer
    /// `NotModified` themselves, without the body. (Reading the HTTP header is the routes'.)
    pub async fn open(
        &self,
        owner: &Username,
        id: &ShareId,
        if_none_match: Option<&str>,
    ) -> Result<OpenedSession, StorageError> {
        let path = document_path(owner, id);
        let options =
            GetOptions { if_none_match: if_none_match.map(str::to_owned), ..Default::default() };
        let result = match self.store.get_opts(&path, options).await {
            Ok(result) => result,
            Err(object_store::Error::NotModified { .. }) => return Ok(OpenedSession::NotModified),
            Err(e) => return Err(StorageError::from_store("read", &path, e)),
        };
        let (etag, size) = (result.meta.e_tag.clone(), result.meta.size);
        Ok(OpenedSession::Found { etag, size, body: result.into_stream() })
    }

    /// Storage answers (a missing object is an answer).
    pub async fn ping(&self) -> Result<(), StorageError> {
        let path = Path::from("_health/ping");
        match self.store.head(&path).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::from_store("check", &path, e)),
        }
    }

    /// The share's record and its version (for [`SessionStore::update_record`]).
    pub async fn record(&self, id: &ShareId) -> Result<(ShareRecord, UpdateVersion), StorageError> {
        let path = id_path(id);
        let result =
            self.store.get(&path).await.map_err(|e| StorageError::from_store("read", &path, e))?;
        let version = UpdateVersion {
            e_tag: result.meta.e_tag.clone(),
            version: result.meta.version.clone(),
        };
        let bytes = result.bytes().await.map_err(|e| StorageError::from_store("read", &path, e))?;
        let corrupt = |reason: String| StorageError::Corrupt { path: path.to_string(), reason };
        let record: ShareRecord =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        Username::parse(&record.username).map_err(|e| corrupt(e.to_string()))?;
        Ok((record, version))
    }

    /// The share's record as reads see it: from the cache when one is kept (see
    /// [`SessionStore::with_caches`]), else from storage.
    pub async fn current_record(&self, id: &ShareId) -> Result<ShareRecord, StorageError> {
        let Some(caches) = &self.caches else { return Ok(self.record(id).await?.0) };
        if let Some(record) = caches.records.get(id.as_str()).await {
            caches.metrics.cache("records", true);
            return Ok(record);
        }
        caches.metrics.cache("records", false);
        let record = self.record(id).await?.0;
        if let Ok(owner) = Username::parse(&record.username) {
            caches.owners.insert(id.to_string(), owner).await;
        }
        caches.records.insert(id.to_string(), record.clone()).await;
        Ok(record)
    }

    /// The owner of `id` if this replica has seen it (an id's owner never changes). Every
    /// record this replica caches, it has also noted the owner of.
    pub async fn known_owner(&self, id: &ShareId) -> Option<Username> {
        self.caches.as_ref()?.owners.get(id.as_str()).await
    }

    async fn forget(&self, id: &ShareId) {
        if let Some(caches) = &self.caches {
            caches.records.invalidate(id.as_str()).await;
        }
    }

    /// Applies `change` to the share's record without losing concurrent updates: updates of
    /// one share queue on a per-replica lock, and the write only lands if the record is still
    /// the version that was read (`If-Match`); otherwise it is read again and re-applied.
    pub async fn update_record<E>(
        &self,
        id: &ShareId,
        mut change: impl FnMut(&mut ShareRecord) -> Result<(), E>,
    ) -> Result<ShareRecord, UpdateError<E>> {
        let _queued = self.lock_for(id).lock().await;
        let path = id_path(id);
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let (mut record, version) = self.record(id).await?;
            change(&mut record).map_err(UpdateError::Rejected)?;
            let bytes = Bytes::from(serde_json::to_vec(&record).expect("ShareRecord serializes"));
            match self.put(&path, bytes.clone(), PutMode::Update(version)).await {
                Ok(()) => {
                    // This replica's next read sees the change.
                    self.forget(id).await;
                    return Ok(record);
                }
                Err(
                    object_store::Error::Precondition { .. }
                    | object_store::Error::AlreadyExists { .. },
                ) => {
                    tracing::debug!(share_id = %id, "record changed under us; re-reading");
                }
                Err(object_store::Error::NotImplemented { .. }) => {
                    // The local file system: one host, so the lock above is the guarantee.
                    self.put(&path, bytes, PutMode::Overwrite)
                        .await
                        .map_err(|e| StorageError::from_store("write", &path, e))?;
                    self.forget(id).await;
                    return Ok(record);
                }
                Err(e) => return Err(StorageError::from_store("write", &path, e).into()),
            }
        }
        Err(UpdateError::Conflict)
    }

    fn lock_for(&self, id: &ShareId) -> &tokio::sync::Mutex<()> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut hasher);
        &self.locks[hasher.finish() as usize % self.locks.len()]
    }

    /// Deletes a share: the document first (after that no read finds it), then its record.
    /// Deleting what is already gone is not an error.
    pub async fn delete(&self, owner: &Username, id: &ShareId) -> Result<(), StorageError> {
        self.delete_path(&document_path(owner, id)).await?;
        self.forget(id).await;
        self.delete_path(&id_path(id)).await
    }

    /// The documents under `owner`'s prefix, in no particular order.
    pub async fn list_owned(&self, owner: &Username) -> Result<Vec<OwnedDocument>, StorageError> {
        let metas = super::list_under(self.store.as_ref(), &format!("sessions/{owner}")).await?;
        Ok(metas
            .into_iter()
            .filter_map(|meta| {
                let name = meta.location.filename()?.strip_suffix(".json")?;
                Some(OwnedDocument {
                    id: ShareId::parse(name).ok()?,
                    last_modified: meta.last_modified,
                })
            })
            .collect())
    }

    pub(super) async fn delete_path(&self, path: &Path) -> Result<(), StorageError> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::from_store("delete", path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;
    use object_store::memory::InMemory;

    use super::*;
    use crate::storage::GcReport;

    fn store_with(ids: IdSource) -> (SessionStore, Arc<InMemory>) {
        let memory = Arc::new(InMemory::new());
        let state = ConditionalWritesState::default();
        state.set(ConditionalWrites::Supported);
        (SessionStore::new(memory.clone(), true, state, ids), memory)
    }

    fn record_for(owner: &str) -> ShareRecord {
        ShareRecord {
            username: owner.into(),
            created_at: Utc::now(),
            title: "t".into(),
            description: None,
            tags: vec![],
            is_public: true,
            expires_at: None,
            size: 0,
            message_count: 0,
            task_excerpt: String::new(),
        }
    }

    async fn read_all(store: &SessionStore, owner: &Username, id: &ShareId) -> Bytes {
        match store.open(owner, id, None).await.unwrap() {
            OpenedSession::Found { body, .. } => {
                let chunks: Vec<Bytes> = body.try_collect().await.unwrap();
                chunks.concat().into()
            }
            OpenedSession::NotModified => panic!("no condition was given"),
        }
    }

    #[tokio::test]
    async fn a_taken_id_is_never_overwritten() {
        let fixed = ShareId::parse("AAAAAAAAAAAAAAAAAAAAA").unwrap();
        let draws = std::sync::Mutex::new(vec![ShareId::generate(), fixed.clone(), fixed.clone()]);
        let ids: IdSource = Arc::new(move || draws.lock().unwrap().pop().unwrap());
        let (store, memory) = store_with(ids);
        let alice = Username::parse("alice").unwrap();
        let first =
            store.create(&record_for("alice"), Bytes::from_static(b"{\"a\":1}")).await.unwrap();
        let second =
            store.create(&record_for("bob"), Bytes::from_static(b"{\"b\":2}")).await.unwrap();
        assert_eq!(first.id, fixed);
        assert_ne!(second.id, fixed);
        assert_eq!(read_all(&store, &alice, &first.id).await, &b"{\"a\":1}"[..]);
        assert_eq!(store.record(&first.id).await.unwrap().0.username, "alice");
        assert_eq!(store.record(&second.id).await.unwrap().0.username, "bob");
        // Bob's document, written at once with the claim that lost, was taken back.
        let all: Vec<String> =
            memory.list(None).map_ok(|m| m.location.to_string()).try_collect().await.unwrap();
        assert!(!all.contains(&format!("sessions/bob/{fixed}.json")), "{all:?}");
        assert_eq!(all.len(), 4, "two records and two documents: {all:?}");
    }

    /// Storage that fails every write below a prefix (`sessions/` or `ids/`), as a full disk
    /// or a dropped connection would half-way through a create.
    #[derive(Debug)]
    struct RefusesDocuments(InMemory, &'static str);

    impl std::fmt::Display for RefusesDocuments {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("RefusesDocuments")
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for RefusesDocuments {
        async fn put_opts(
            &self,
            location: &Path,
            payload: PutPayload,
            opts: PutOptions,
        ) -> object_store::Result<object_store::PutResult> {
            if location.as_ref().starts_with(self.1) {
                return Err(object_store::Error::Generic {
                    store: "test",
                    source: "disk full".into(),
                });
            }
            self.0.put_opts(location, payload, opts).await
        }
        async fn put_multipart_opts(
            &self,
            location: &Path,
            opts: object_store::PutMultipartOptions,
        ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
            self.0.put_multipart_opts(location, opts).await
        }
        async fn get_opts(
            &self,
            location: &Path,
            options: GetOptions,
        ) -> object_store::Result<object_store::GetResult> {
            self.0.get_opts(location, options).await
        }
        fn delete_stream(
            &self,
            locations: BoxStream<'static, object_store::Result<Path>>,
        ) -> BoxStream<'static, object_store::Result<Path>> {
            self.0.delete_stream(locations)
        }
        fn list(
            &self,
            prefix: Option<&Path>,
        ) -> BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
            self.0.list(prefix)
        }
        async fn list_with_delimiter(
            &self,
            prefix: Option<&Path>,
        ) -> object_store::Result<object_store::ListResult> {
            self.0.list_with_delimiter(prefix).await
        }
        async fn copy_opts(
            &self,
            from: &Path,
            to: &Path,
            options: object_store::CopyOptions,
        ) -> object_store::Result<()> {
            self.0.copy_opts(from, to, options).await
        }
    }

    #[tokio::test]
    async fn a_create_that_fails_half_way_leaves_nothing_readable() {
        // The document write fails, or the id claim does (the document, written at once,
        // landed): either way nothing is left.
        for refused in ["sessions/", "ids/"] {
            let store = Arc::new(RefusesDocuments(InMemory::new(), refused));
            let state = ConditionalWritesState::default();
            state.set(ConditionalWrites::Supported);
            let id = ShareId::generate();
            let drawn = id.clone();
            let sessions =
                SessionStore::new(store.clone(), true, state, Arc::new(move || drawn.clone()));
            let alice = Username::parse("alice").unwrap();

            let err =
                sessions.create(&record_for("alice"), Bytes::from_static(b"{}")).await.unwrap_err();
            assert!(matches!(err, StorageError::Unavailable { operation: "write", .. }), "{err}");
            assert!(matches!(sessions.record(&id).await, Err(StorageError::NotFound { .. })));
            assert!(matches!(
                sessions.open(&alice, &id, None).await,
                Err(StorageError::NotFound { .. })
            ));
            let left: Vec<_> = store.list(None).try_collect().await.unwrap();
            assert!(left.is_empty(), "{refused}: left behind: {left:?}");
        }
    }

    #[tokio::test]
    async fn concurrent_updates_all_land_and_gc_removes_what_is_expired_or_orphaned() {
        let (store, memory) = store_with(Arc::new(ShareId::generate));
        let alice = Username::parse("alice").unwrap();
        let share = store.create(&record_for("alice"), Bytes::from_static(b"{}")).await.unwrap();
        let updates = (0..20).map(|i| {
            let store = store.clone();
            let id = share.id.clone();
            async move {
                store
                    .update_record(&id, |r| {
                        r.tags.push(format!("t{i}"));
                        Ok::<_, ()>(())
                    })
                    .await
                    .unwrap()
            }
        });
        futures::future::join_all(updates).await;
        assert_eq!(store.record(&share.id).await.unwrap().0.tags.len(), 20);

        // Expired now; plus a record without a document and a document without a record.
        store
            .update_record(&share.id, |r| {
                r.expires_at = Some(Utc::now() - chrono::Duration::seconds(1));
                Ok::<_, ()>(())
            })
            .await
            .unwrap();
        let lost = ShareId::generate();
        let record = serde_json::to_vec(&record_for("alice")).unwrap();
        memory.put(&id_path(&lost), record.into()).await.unwrap();
        let stray = ShareId::generate();
        memory.put(&document_path(&alice, &stray), Bytes::from_static(b"{}").into()).await.unwrap();

        let report = store.collect_garbage(Utc::now(), chrono::Duration::zero()).await.unwrap();
        assert_eq!(
            report,
            GcReport { expired: 1, orphaned_records: 1, orphaned_documents: 1, probes: 0 }
        );
        let left: Vec<_> = memory.list(None).try_collect().await.unwrap();
        assert!(left.is_empty(), "{left:?}");
        // A second collector finds nothing more to do.
        assert_eq!(
            store.collect_garbage(Utc::now(), chrono::Duration::zero()).await.unwrap(),
            GcReport::default()
        );
    }

    #[tokio::test]
    async fn a_matching_etag_is_not_modified() {
        let (store, _) = store_with(Arc::new(ShareId::generate));
        let alice = Username::parse("alice").unwrap();
        let share = store.create(&record_for("alice"), Bytes::from_static(b"{}")).await.unwrap();
        let OpenedSession::Found { etag: Some(etag), .. } =
            store.open(&alice, &share.id, None).await.unwrap()
        else {
            panic!("expected an ETag")
        };
        assert!(matches!(
            store.open(&alice, &share.id, Some(&etag)).await.unwrap(),
            OpenedSession::NotModified
        ));
        assert!(matches!(
            store.open(&alice, &share.id, Some("\"other\"")).await.unwrap(),
            OpenedSession::Found { .. }
        ));
    }

    /// S3's reply to a PUT is lost, the client retries, and the retry is refused because the
    /// first attempt landed: that is our write, not someone else's (else the share would be
    /// created twice, once where no client was told).
    #[tokio::test]
    async fn a_refused_retry_of_our_own_write_counts_as_written() {
        let (store, _) = store_with(Arc::new(ShareId::generate));
        let path = Path::from("sessions/alice/abc.json");
        let ours = Bytes::from_static(b"{\"version\": \"1.0.0\"}");
        assert!(store.claim(&path, ours.clone()).await.unwrap());
        assert!(store.claim(&path, ours.clone()).await.unwrap(), "our own bytes are ours");
        let theirs = Bytes::from_static(b"{\"version\": \"1.0.1\"}");
        assert!(!store.claim(&path, theirs).await.unwrap(), "someone else's are not");
    }
}
