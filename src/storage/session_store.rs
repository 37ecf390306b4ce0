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

/// Draws share ids for an owner. Production uses [`ShareId::generate_for`]; tests inject
/// collisions.
pub type IdSource = Arc<dyn Fn(&Username) -> ShareId + Send + Sync>;

/// Ids have 78 random bits besides their owner's prefix, so a second draw is already
/// astronomically rare; the bound only keeps a misbehaving store from looping us forever.
const MAX_ID_ATTEMPTS: usize = 8;

/// Stores and serves shares. Cheap to clone.
///
/// A share is one object, `shares/<id prefix>/<id>` (see [`super::packed`]): its record line,
/// then the document. Shares made before that layout are two objects, the record at
/// `ids/<id>.json` and the document at `sessions/<owner>/<id>.json`; they are read, changed,
/// listed and deleted as they are, never moved (their ids carry no owner prefix).
#[derive(Clone)]
pub struct SessionStore {
    pub(super) store: Arc<dyn ObjectStore>,
    supports_content_type: bool,
    conditional: ConditionalWritesState,
    ids: IdSource,
    locks: Arc<Vec<tokio::sync::Mutex<()>>>,
    /// A change of a share's options rewrites its whole object, held in memory meanwhile:
    /// this bounds how many are held at once.
    rewrites: Arc<tokio::sync::Semaphore>,
    caches: Option<RecordCaches>,
}

/// What reads remember between requests (see [`SessionStore::with_caches`]).
#[derive(Clone)]
struct RecordCaches {
    /// Records, for at most the configured time: what PATCH changes reaches other replicas
    /// within it.
    records: moka::future::Cache<String, ShareRecord>,
    /// Owners of shares stored in the older, two-object layout. Owners never change, so they
    /// are kept as long as there is room: a read of such a share whose record has expired
    /// from `records` fetches the record and the document at once.
    older: moka::future::Cache<String, Username>,
    metrics: Arc<Metrics>,
}

#[derive(Debug, Clone)]
pub struct CreatedShare {
    pub id: ShareId,
    pub created_at: DateTime<Utc>,
}

pub enum OpenedSession {
    /// The document, streaming; `etag` as the store spells it; `size` in bytes as stored.
    Found { etag: Option<String>, size: u64, body: BoxStream<'static, object_store::Result<Bytes>> },
    /// The store itself matched the `if_none_match` it was given.
    NotModified,
}

/// What is known about a share besides its document: written at create, changed by PATCH,
/// read before any of the document is served (it says who may see it).
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
    /// How the document after the record is stored, so that a tool reading the object needs
    /// no guess. Absent in records written before compression: their documents are told
    /// apart by their first bytes (see [`crate::compression`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<StoredEncoding>,
}

/// How a document is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoredEncoding {
    /// One gzip member (RFC 1952), served as it is to clients that accept gzip.
    Gzip,
}

fn public_by_default() -> bool {
    true
}

impl ShareRecord {
    /// Whether the document stored after this record is gzip: as the record says, or, for a
    /// record that does not say (written before compression), as the document's first bytes
    /// say.
    pub fn document_is_gzip(&self, first_bytes: &[u8]) -> bool {
        match self.encoding {
            Some(StoredEncoding::Gzip) => true,
            None => crate::compression::is_gzip(first_bytes),
        }
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// A share found in an owner's listing: its owner is only certain once its record is read
/// (an id prefix may be shared by two owners).
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

/// Deletes tried before a failed create's object is left where it is.
const WITHDRAW_ATTEMPTS: usize = 3;
/// Compare-and-swap retries before an update gives up with `Conflict`.
const MAX_UPDATE_ATTEMPTS: usize = 10;
/// Striped per-replica locks: updates of one share queue here instead of racing in storage;
/// storage's `If-Match` still decides between replicas.
const LOCK_STRIPES: usize = 64;
/// Whole objects held at once by changes of options (each at most a stored document).
const CONCURRENT_REWRITES: usize = 2;
/// About 1 KB each at most (title, description, tags, excerpt): tens of megabytes at worst.
const RECORD_CACHE_ENTRIES: u64 = 20_000;
/// An id and a username: under 150 bytes each.
const OWNER_CACHE_ENTRIES: u64 = 200_000;

/// A share, record and document in one object.
pub(super) fn share_path(id: &ShareId) -> Path {
    Path::from(format!("shares/{}/{id}", id.prefix()))
}

/// Where listings look for `owner`'s shares (with those of any owner sharing the prefix).
fn owner_prefix(owner: &Username) -> String {
    format!("shares/{}", owner.id_prefix())
}

/// The older layout's document.
pub(super) fn document_path(owner: &Username, id: &ShareId) -> Path {
    Path::from(format!("sessions/{owner}/{id}.json"))
}

/// The older layout's record.
pub(super) fn id_path(id: &ShareId) -> Path {
    Path::from(format!("ids/{id}.json"))
}

/// A record as read for a change: where it is, and (in one object) the document behind it.
enum Stored {
    Packed { document: Bytes },
    Older,
}

impl SessionStore {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        supports_content_type: bool,
        conditional: ConditionalWritesState,
        ids: IdSource,
    ) -> Self {
        let locks = Arc::new((0..LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect());
        let rewrites = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_REWRITES));
        Self { store, supports_content_type, conditional, ids, locks, rewrites, caches: None }
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
                older: moka::future::Cache::builder().max_capacity(OWNER_CACHE_ENTRIES).build(),
                metrics,
            });
        }
        self
    }

    /// Stores `document` for `record.username` under a fresh id: one write, of one object,
    /// only if nothing is there (`If-None-Match: *`). Until it lands no read finds the share;
    /// if it fails, whatever may have landed is taken back and the caller gets the error.
    pub async fn create(
        &self,
        record: &ShareRecord,
        document: Bytes,
    ) -> Result<CreatedShare, StorageError> {
        let owner = check_owner(&Path::from("new share"), record)?;
        let line = super::packed::record_line(record);
        for _ in 0..MAX_ID_ATTEMPTS {
            let id = (self.ids)(&owner);
            let path = share_path(&id);
            let object = PutPayload::from_iter([line.clone(), document.clone()]);
            match self.claim(&path, object.clone()).await {
                Ok(true) => {
                    // What was just written is what the first reads will want.
                    self.remember(&id, record).await;
                    return Ok(CreatedShare { id, created_at: record.created_at });
                }
                Ok(false) => {
                    tracing::warn!(share_id = %id, "drew an id that is taken; drawing again");
                }
                Err(e) => {
                    // The write may have landed though we saw it fail (its reply cut or lost
                    // past the retries). If our bytes are there the share is made: say so.
                    // If we cannot tell, take back whatever may be there, so that a create
                    // answered with an error leaves no share behind.
                    match self.holds(&path, &object).await {
                        Ok(true) => {
                            tracing::info!(share_id = %id, error = %e,
                                "a write reported failed had landed; the share is made");
                            self.remember(&id, record).await;
                            return Ok(CreatedShare { id, created_at: record.created_at });
                        }
                        Ok(false) => return Err(e),
                        Err(_) => {
                            self.withdraw(&id, &path).await;
                            return Err(e);
                        }
                    }
                }
            }
        }
        Err(StorageError::IdsExhausted { attempts: MAX_ID_ATTEMPTS })
    }

    /// Deletes what a failed create may have written, trying again while storage fails (each
    /// try is bounded by the storage timeout). A share is one object, so one that stayed would
    /// be whole: readable and listed to its owner, who was told the create failed.
    async fn withdraw(&self, id: &ShareId, path: &Path) {
        for attempt in 1..=WITHDRAW_ATTEMPTS {
            match self.delete_path(path).await {
                Ok(()) => return,
                Err(e) if attempt == WITHDRAW_ATTEMPTS => {
                    tracing::error!(share_id = %id, %path, error = %e,
                        "could not withdraw a failed create: the share stays, listed to its \
                         owner, who was answered 503");
                }
                Err(_) => {}
            }
        }
    }

    /// Writes `object` at `path` only if nothing is there. `Ok(false)`: something is.
    async fn claim(&self, path: &Path, object: PutPayload) -> Result<bool, StorageError> {
        if self.conditional.get() != ConditionalWrites::Supported {
            // Without (known) conditional writes, look first. Not atomic: see README.
            match self.store.head(path).await {
                Ok(_) => return Ok(false),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(StorageError::from_store("check", path, e)),
            }
        }
        match self.put(path, object.clone(), PutMode::Create, None).await {
            Ok(()) => Ok(true),
            // Refused: taken by someone else, or by this very write, whose reply was lost
            // and which the client then retried. Only the latter holds our exact bytes
            // (records carry their creation time to the nanosecond).
            Err(object_store::Error::AlreadyExists { .. }) => self.holds(path, &object).await,
            Err(object_store::Error::NotImplemented { .. }) => {
                self.conditional.set(ConditionalWrites::Unsupported);
                self.put(path, object, PutMode::Overwrite, None)
                    .await
                    .map(|()| true)
                    .map_err(|e| StorageError::from_store("write", path, e))
            }
            Err(e) => Err(StorageError::from_store("write", path, e)),
        }
    }

    /// Whether `path` holds exactly `object`.
    async fn holds(&self, path: &Path, object: &PutPayload) -> Result<bool, StorageError> {
        let stored = match self.store.get(path).await {
            Ok(found) if found.meta.size != object.content_length() as u64 => return Ok(false),
            Ok(found) => found.bytes().await,
            Err(e) => Err(e),
        };
        match stored {
            Ok(stored) => {
                let mut rest = &stored[..];
                let ours = object.iter().all(|part| match rest.split_at_checked(part.len()) {
                    Some((head, tail)) if head == &part[..] => {
                        rest = tail;
                        true
                    }
                    _ => false,
                });
                if ours {
                    tracing::info!(%path, "a retried write found its own first attempt stored");
                }
                Ok(ours)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(StorageError::from_store("read", path, e)),
        }
    }

    /// Writes an object, telling S3 its `content_type` if it has one (an older share's record
    /// is JSON; a share's one object is neither JSON nor gzip as a whole, and goes untyped).
    async fn put(
        &self,
        path: &Path,
        object: PutPayload,
        mode: PutMode,
        content_type: Option<&'static str>,
    ) -> object_store::Result<()> {
        let mut attributes = Attributes::new();
        if let Some(content_type) = content_type.filter(|_| self.supports_content_type) {
            attributes.insert(Attribute::ContentType, content_type.into());
        }
        let options = PutOptions { mode, attributes, ..Default::default() };
        self.store.put_opts(path, object, options).await.map(drop)
    }

    /// Opens share `id` for streaming: its record, then its document. One storage read: the
    /// record is the object's first line. `if_none_match` is an entity tag the reader has;
    /// storage is asked to match it only when the record is cached (an answer without the
    /// object would otherwise leave us without the record, which decides who may see it).
    pub async fn open(
        &self,
        id: &ShareId,
        if_none_match: Option<&str>,
    ) -> Result<(ShareRecord, OpenedSession), StorageError> {
        if let Some(owner) = self.older_owner(id).await {
            return self.open_older(Some(owner), id, if_none_match).await;
        }
        let path = share_path(id);
        let cached = match if_none_match {
            Some(_) => self.cached_record(id).await,
            None => None,
        };
        let asked = if_none_match.filter(|_| cached.is_some()).map(str::to_owned);
        let options = GetOptions { if_none_match: asked, ..Default::default() };
        let result = match self.store.get_opts(&path, options).await {
            Ok(result) => result,
            Err(object_store::Error::NotModified { .. }) => {
                let record = cached.expect("only asked with a cached record");
                return Ok((record, OpenedSession::NotModified));
            }
            Err(object_store::Error::NotFound { .. }) => {
                return self.open_older(None, id, if_none_match).await;
            }
            Err(e) => return Err(StorageError::from_store("read", &path, e)),
        };
        let (etag, size) = (result.meta.e_tag.clone(), result.meta.size);
        let (record, line_len, body) = super::packed::split_record(result.into_stream())
            .await
            .map_err(|e| split_error(&path, e))?;
        check_owner(&path, &record)?;
        self.remember(id, &record).await;
        let size = size.saturating_sub(line_len as u64);
        Ok((record, OpenedSession::Found { etag, size, body }))
    }

    /// Opens a share stored in the older layout: with its owner known, the record and the
    /// document at once; else (the first time this replica meets it) the record first, as it
    /// names the owner.
    async fn open_older(
        &self,
        owner: Option<Username>,
        id: &ShareId,
        if_none_match: Option<&str>,
    ) -> Result<(ShareRecord, OpenedSession), StorageError> {
        let (record, opened) = match owner {
            Some(owner) => {
                let (record, opened) = tokio::join!(
                    self.current_record(id),
                    self.open_document(&owner, id, if_none_match)
                );
                (record?, opened?)
            }
            None => {
                // Not in `shares/` (the caller looked): straight to the older record.
                let (record, _, owner) = self.read_older_record(id).await?;
                self.remember(id, &record).await;
                (record, self.open_document(&owner, id, if_none_match).await?)
            }
        };
        Ok((record, opened))
    }

    async fn open_document(
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

    /// The share's record, fresh from storage, and its version. Of a one-object share only
    /// the start is read.
    pub async fn record(&self, id: &ShareId) -> Result<(ShareRecord, UpdateVersion), StorageError> {
        if self.older_owner(id).await.is_none() {
            match self.packed_record(id).await {
                Err(StorageError::NotFound { .. }) => {}
                found => return found,
            }
        }
        self.older_record(id).await
    }

    pub(super) async fn packed_record(
        &self,
        id: &ShareId,
    ) -> Result<(ShareRecord, UpdateVersion), StorageError> {
        use super::packed::{FIRST_READ, MAX_RECORD_LINE, RecordLineError};
        let path = share_path(id);
        let mut want = FIRST_READ;
        loop {
            let options = GetOptions { range: Some((0..want).into()), ..Default::default() };
            let result = self
                .store
                .get_opts(&path, options)
                .await
                .map_err(|e| StorageError::from_store("read", &path, e))?;
            let version = version_of(&result.meta);
            let size = result.meta.size;
            let bytes =
                result.bytes().await.map_err(|e| StorageError::from_store("read", &path, e))?;
            match record_line_in(&path, &bytes)? {
                Some((record, _)) => return Ok((record, version)),
                None if size > want && want < MAX_RECORD_LINE as u64 => {
                    want = MAX_RECORD_LINE as u64;
                }
                None => return Err(corrupt(&path, RecordLineError::Truncated)),
            }
        }
    }

    pub(super) async fn older_record(
        &self,
        id: &ShareId,
    ) -> Result<(ShareRecord, UpdateVersion), StorageError> {
        let (record, version, _) = self.read_older_record(id).await?;
        Ok((record, version))
    }

    /// An older share's record, its version and its checked owner, noted so that this
    /// replica's next read of the share goes straight to the older layout.
    async fn read_older_record(
        &self,
        id: &ShareId,
    ) -> Result<(ShareRecord, UpdateVersion, Username), StorageError> {
        let path = id_path(id);
        let result =
            self.store.get(&path).await.map_err(|e| StorageError::from_store("read", &path, e))?;
        let version = version_of(&result.meta);
        let bytes = result.bytes().await.map_err(|e| StorageError::from_store("read", &path, e))?;
        let record: ShareRecord = serde_json::from_slice(&bytes).map_err(|e| corrupt(&path, e))?;
        let owner = check_owner(&path, &record)?;
        self.note_older(id, &owner).await;
        Ok((record, version, owner))
    }

    /// The share's record as reads see it: from the cache when one is kept (see
    /// [`SessionStore::with_caches`]), else from storage.
    pub async fn current_record(&self, id: &ShareId) -> Result<ShareRecord, StorageError> {
        if let Some(record) = self.cached_record(id).await {
            return Ok(record);
        }
        let record = self.record(id).await?.0;
        self.remember(id, &record).await;
        Ok(record)
    }

    async fn cached_record(&self, id: &ShareId) -> Option<ShareRecord> {
        let caches = self.caches.as_ref()?;
        let found = caches.records.get(id.as_str()).await;
        caches.metrics.cache("records", found.is_some());
        found
    }

    async fn remember(&self, id: &ShareId, record: &ShareRecord) {
        if let Some(caches) = &self.caches {
            caches.records.insert(id.to_string(), record.clone()).await;
        }
    }

    /// The owner of `id` if it is stored in the older layout and this replica has seen it.
    async fn older_owner(&self, id: &ShareId) -> Option<Username> {
        self.caches.as_ref()?.older.get(id.as_str()).await
    }

    /// Remembers that `id` is stored in the older layout, owned by `owner`.
    async fn note_older(&self, id: &ShareId, owner: &Username) {
        if let Some(caches) = &self.caches {
            caches.older.insert(id.to_string(), owner.clone()).await;
        }
    }

    pub(super) async fn forget(&self, id: &ShareId) {
        if let Some(caches) = &self.caches {
            caches.records.invalidate(id.as_str()).await;
        }
    }

    /// Reads a share's record for a change, with whatever must be written back beside it.
    async fn record_for_change(
        &self,
        id: &ShareId,
    ) -> Result<(ShareRecord, UpdateVersion, Stored), StorageError> {
        if self.older_owner(id).await.is_none() {
            let path = share_path(id);
            match self.store.get(&path).await {
                Ok(result) => {
                    let version = version_of(&result.meta);
                    let object = result
                        .bytes()
                        .await
                        .map_err(|e| StorageError::from_store("read", &path, e))?;
                    let (record, line_len) = record_line_in(&path, &object)?
                        .ok_or_else(|| corrupt(&path, super::packed::RecordLineError::Truncated))?;
                    let document = object.slice(line_len..);
                    return Ok((record, version, Stored::Packed { document }));
                }
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(StorageError::from_store("read", &path, e)),
            }
        }
        let (record, version) = self.older_record(id).await?;
        Ok((record, version, Stored::Older))
    }

    /// Applies `change` to the share's record without losing concurrent updates: updates of
    /// one share queue on a per-replica lock, and the write only lands if the share is still
    /// the version that was read (`If-Match`); otherwise it is read again and re-applied. The
    /// document is written back unchanged beside the record.
    pub async fn update_record<E>(
        &self,
        id: &ShareId,
        mut change: impl FnMut(&mut ShareRecord) -> Result<(), E>,
    ) -> Result<ShareRecord, UpdateError<E>> {
        let _queued = self.lock_for(id).lock().await;
        // Refused changes (say, by someone who is not the owner) are refused from the record
        // alone, a ranged read: they never read, hold or queue for a whole share.
        change(&mut self.record(id).await?.0).map_err(UpdateError::Rejected)?;
        let _room = self.rewrites.acquire().await.expect("the semaphore is never closed");
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let (mut record, version, stored) = self.record_for_change(id).await?;
            change(&mut record).map_err(UpdateError::Rejected)?;
            let (path, object, content_type) = match stored {
                Stored::Packed { document } => (
                    share_path(id),
                    PutPayload::from_iter([super::packed::record_line(&record), document]),
                    None,
                ),
                Stored::Older => (
                    id_path(id),
                    PutPayload::from(serde_json::to_vec(&record).expect("ShareRecord serializes")),
                    Some("application/json"),
                ),
            };
            match self.put(&path, object.clone(), PutMode::Update(version), content_type).await {
                Ok(()) => {
                    // This replica's next read sees the change.
                    self.forget(id).await;
                    return Ok(record);
                }
                Err(
                    object_store::Error::Precondition { .. }
                    | object_store::Error::AlreadyExists { .. },
                ) => {
                    tracing::debug!(share_id = %id, "share changed under us; re-reading");
                }
                Err(object_store::Error::NotImplemented { .. }) => {
                    // The local file system: one host, so the lock above is the guarantee.
                    self.put(&path, object, PutMode::Overwrite, content_type)
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

    /// Deletes a share, in whichever layout it is stored: after the first delete no read finds
    /// it (an older share's document goes before its record). Deleting what is already gone
    /// is not an error.
    pub async fn delete(&self, owner: &Username, id: &ShareId) -> Result<(), StorageError> {
        self.delete_path(&share_path(id)).await?;
        self.delete_path(&document_path(owner, id)).await?;
        self.forget(id).await;
        self.delete_path(&id_path(id)).await
    }

    /// The shares under `owner`'s prefixes (both layouts), in no particular order. A share of
    /// another owner whose ids have the same prefix may be among them.
    pub async fn list_owned(&self, owner: &Username) -> Result<Vec<OwnedDocument>, StorageError> {
        let store = self.store.as_ref();
        let (packed_prefix, older_prefix) = (owner_prefix(owner), format!("sessions/{owner}"));
        let (packed, older) = tokio::join!(
            super::list_under(store, &packed_prefix),
            super::list_under(store, &older_prefix)
        );
        let packed = packed?.into_iter().filter_map(|meta| {
            let id = ShareId::parse(meta.location.filename()?).ok()?;
            Some(OwnedDocument { id, last_modified: meta.last_modified })
        });
        let older = older?.into_iter().filter_map(|meta| {
            let name = meta.location.filename()?.strip_suffix(".json")?;
            Some(OwnedDocument {
                id: ShareId::parse(name).ok()?,
                last_modified: meta.last_modified,
            })
        });
        Ok(packed.chain(older).collect())
    }

    pub(super) async fn delete_path(&self, path: &Path) -> Result<(), StorageError> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::from_store("delete", path, e)),
        }
    }
}

fn version_of(meta: &object_store::ObjectMeta) -> UpdateVersion {
    UpdateVersion { e_tag: meta.e_tag.clone(), version: meta.version.clone() }
}

fn corrupt(path: &Path, reason: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt { path: path.to_string(), reason: reason.to_string() }
}

/// A stored record names a valid owner, or the object is not one of ours.
fn check_owner(path: &Path, record: &ShareRecord) -> Result<Username, StorageError> {
    Username::parse(&record.username).map_err(|e| corrupt(path, e))
}

/// The record line at the start of `bytes`, checked, if the line is all there.
fn record_line_in(path: &Path, bytes: &[u8]) -> Result<Option<(ShareRecord, usize)>, StorageError> {
    let found = super::packed::parse_record_line(bytes).map_err(|e| corrupt(path, e))?;
    if let Some((record, _)) = &found {
        check_owner(path, record)?;
    }
    Ok(found)
}

fn split_error(path: &Path, e: super::packed::SplitError) -> StorageError {
    match e {
        super::packed::SplitError::Read(e) => StorageError::from_store("read", path, e),
        super::packed::SplitError::Line(e) => corrupt(path, e),
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
            encoding: None,
        }
    }

    async fn read_all(store: &SessionStore, id: &ShareId) -> Bytes {
        match store.open(id, None).await.unwrap().1 {
            OpenedSession::Found { body, .. } => {
                let chunks: Vec<Bytes> = body.try_collect().await.unwrap();
                chunks.concat().into()
            }
            OpenedSession::NotModified => panic!("no condition was given"),
        }
    }

    async fn stored_paths(memory: &InMemory) -> Vec<String> {
        let mut all: Vec<String> =
            memory.list(None).map_ok(|m| m.location.to_string()).try_collect().await.unwrap();
        all.sort();
        all
    }

    #[tokio::test]
    async fn a_share_is_one_object_under_its_owners_prefix() {
        let (store, memory) = store_with(Arc::new(ShareId::generate_for));
        let alice = Username::parse("alice").unwrap();
        let share = store.create(&record_for("alice"), Bytes::from_static(b"{\"a\":1}")).await;
        let id = share.unwrap().id;
        assert_eq!(stored_paths(&memory).await, [format!("shares/{}/{id}", alice.id_prefix())]);
        assert_eq!(read_all(&store, &id).await, &b"{\"a\":1}"[..]);
        let listed: Vec<ShareId> =
            store.list_owned(&alice).await.unwrap().into_iter().map(|d| d.id).collect();
        assert_eq!(listed, std::slice::from_ref(&id));
        store.delete(&alice, &id).await.unwrap();
        assert!(stored_paths(&memory).await.is_empty());
    }

    #[tokio::test]
    async fn a_taken_id_is_never_overwritten() {
        let fixed = ShareId::parse("AAAAAAAAAAAAAAAAAAAAA").unwrap();
        let draws = std::sync::Mutex::new(vec![
            ShareId::parse("BBBBBBBBBBBBBBBBBBBBB").unwrap(),
            fixed.clone(),
            fixed.clone(),
        ]);
        let ids: IdSource = Arc::new(move |_: &Username| draws.lock().unwrap().pop().unwrap());
        let (store, memory) = store_with(ids);
        let first =
            store.create(&record_for("alice"), Bytes::from_static(b"{\"a\":1}")).await.unwrap();
        let second =
            store.create(&record_for("bob"), Bytes::from_static(b"{\"b\":2}")).await.unwrap();
        assert_eq!(first.id, fixed);
        assert_ne!(second.id, fixed);
        assert_eq!(read_all(&store, &first.id).await, &b"{\"a\":1}"[..]);
        assert_eq!(read_all(&store, &second.id).await, &b"{\"b\":2}"[..]);
        assert_eq!(store.record(&first.id).await.unwrap().0.username, "alice");
        assert_eq!(store.record(&second.id).await.unwrap().0.username, "bob");
        assert_eq!(stored_paths(&memory).await.len(), 2);
    }

    /// In-memory storage that misbehaves as told: writes below `refuse` fail (as with a full
    /// disk or a dropped connection), or with `lands` land and then lose their reply; with
    /// `reads_fail` every read fails too (nothing can be read back to tell). Reads of whole
    /// objects (no range) are counted.
    #[derive(Debug, Default)]
    struct TestStore {
        inner: InMemory,
        refuse: &'static str,
        lands: bool,
        reads_fail: bool,
        whole_reads: std::sync::atomic::AtomicUsize,
    }

    impl std::fmt::Display for TestStore {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("TestStore")
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for TestStore {
        async fn put_opts(
            &self,
            location: &Path,
            payload: PutPayload,
            opts: PutOptions,
        ) -> object_store::Result<object_store::PutResult> {
            if !self.refuse.is_empty() && location.as_ref().starts_with(self.refuse) {
                if self.lands {
                    self.inner.put_opts(location, payload, opts).await?;
                }
                return Err(object_store::Error::Generic {
                    store: "test",
                    source: "disk full".into(),
                });
            }
            self.inner.put_opts(location, payload, opts).await
        }
        async fn put_multipart_opts(
            &self,
            location: &Path,
            opts: object_store::PutMultipartOptions,
        ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
            self.inner.put_multipart_opts(location, opts).await
        }
        async fn get_opts(
            &self,
            location: &Path,
            options: GetOptions,
        ) -> object_store::Result<object_store::GetResult> {
            if self.reads_fail {
                return Err(object_store::Error::Generic { store: "test", source: "down".into() });
            }
            if options.range.is_none() {
                self.whole_reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            self.inner.get_opts(location, options).await
        }
        fn delete_stream(
            &self,
            locations: BoxStream<'static, object_store::Result<Path>>,
        ) -> BoxStream<'static, object_store::Result<Path>> {
            self.inner.delete_stream(locations)
        }
        fn list(
            &self,
            prefix: Option<&Path>,
        ) -> BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
            self.inner.list(prefix)
        }
        async fn list_with_delimiter(
            &self,
            prefix: Option<&Path>,
        ) -> object_store::Result<object_store::ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }
        async fn copy_opts(
            &self,
            from: &Path,
            to: &Path,
            options: object_store::CopyOptions,
        ) -> object_store::Result<()> {
            self.inner.copy_opts(from, to, options).await
        }
    }

    fn failing_sessions(store: Arc<TestStore>, id: &ShareId) -> SessionStore {
        let state = ConditionalWritesState::default();
        state.set(ConditionalWrites::Supported);
        let drawn = id.clone();
        SessionStore::new(store, true, state, Arc::new(move |_: &Username| drawn.clone()))
    }

    #[tokio::test]
    async fn a_create_that_fails_leaves_nothing_readable() {
        // Refused outright; or landed with its reply lost while nothing can be read back to
        // tell: either way the client gets the error and nothing stays.
        for (lands, reads_fail) in [(false, false), (true, true)] {
            let store =
                Arc::new(TestStore { refuse: "shares/", lands, reads_fail, ..Default::default() });
            let id = ShareId::generate_for(&Username::parse("alice").unwrap());
            let sessions = failing_sessions(store.clone(), &id);
            let err = sessions.create(&record_for("alice"), Bytes::from_static(b"{}")).await;
            let err = err.unwrap_err();
            assert!(matches!(err, StorageError::Unavailable { operation: "write", .. }), "{err}");
            let left: Vec<_> = store.inner.list(None).try_collect().await.unwrap();
            assert!(left.is_empty(), "left behind: {left:?}");
        }
        let store = Arc::new(TestStore { refuse: "shares/", ..Default::default() });
        let id = ShareId::generate_for(&Username::parse("alice").unwrap());
        let sessions = failing_sessions(store, &id);
        sessions.create(&record_for("alice"), Bytes::from_static(b"{}")).await.unwrap_err();
        assert!(matches!(sessions.record(&id).await, Err(StorageError::NotFound { .. })));
        assert!(matches!(sessions.open(&id, None).await, Err(StorageError::NotFound { .. })));
    }

    /// A write that landed though its reply was lost is the share made: the client is told
    /// so, rather than told it failed while the share stays.
    #[tokio::test]
    async fn a_write_that_landed_unacknowledged_is_a_made_share() {
        let store = Arc::new(TestStore { refuse: "shares/", lands: true, ..Default::default() });
        let id = ShareId::generate_for(&Username::parse("alice").unwrap());
        let sessions = failing_sessions(store.clone(), &id);
        let made = sessions.create(&record_for("alice"), Bytes::from_static(b"{\"a\":1}")).await;
        assert_eq!(made.unwrap().id, id);
        assert_eq!(read_all(&sessions, &id).await, &b"{\"a\":1}"[..]);
        assert_eq!(store.inner.list(None).try_collect::<Vec<_>>().await.unwrap().len(), 1);
    }

    /// A share stored as two objects by an earlier version is read, changed, listed and
    /// deleted where it is.
    #[tokio::test]
    async fn shares_in_the_older_layout_keep_working() {
        let (store, memory) = store_with(Arc::new(ShareId::generate_for));
        let store = store.with_caches(std::time::Duration::from_secs(60), Metrics::new());
        let alice = Username::parse("alice").unwrap();
        let id = ShareId::parse("HzKozOxIxl4dO0YijPu0q").unwrap();
        let record = serde_json::to_vec(&record_for("alice")).unwrap();
        memory.put(&id_path(&id), record.into()).await.unwrap();
        let document = crate::compression::gzip(b"{\"old\":true}");
        memory.put(&document_path(&alice, &id), document.into()).await.unwrap();

        let gunzip = |b: Bytes| crate::compression::gunzip(&b, 1 << 20).unwrap();
        // Twice: the second read knows the layout and fetches record and document at once.
        for _ in 0..2 {
            assert_eq!(gunzip(read_all(&store, &id).await), &b"{\"old\":true}"[..]);
        }
        let changed = store.update_record(&id, |r| {
            r.title = "renamed".into();
            Ok::<_, ()>(())
        });
        assert_eq!(changed.await.unwrap().title, "renamed");
        assert_eq!(store.record(&id).await.unwrap().0.title, "renamed");
        assert_eq!(gunzip(read_all(&store, &id).await), &b"{\"old\":true}"[..]);
        let listed: Vec<ShareId> =
            store.list_owned(&alice).await.unwrap().into_iter().map(|d| d.id).collect();
        assert_eq!(listed, std::slice::from_ref(&id));
        store.delete(&alice, &id).await.unwrap();
        assert!(stored_paths(&memory).await.is_empty());
        assert!(matches!(store.open(&id, None).await, Err(StorageError::NotFound { .. })));
    }

    #[tokio::test]
    async fn concurrent_updates_all_land_and_gc_removes_what_is_expired_or_orphaned() {
        let (store, memory) = store_with(Arc::new(ShareId::generate_for));
        let alice = Username::parse("alice").unwrap();
        let document = Bytes::from_static(b"{\"kept\": \"as it was\"}");
        let share = store.create(&record_for("alice"), document.clone()).await.unwrap();
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
        assert_eq!(read_all(&store, &share.id).await, document, "the document is untouched");

        // Expired now; plus a record without a document and a document without a record.
        store
            .update_record(&share.id, |r| {
                r.expires_at = Some(Utc::now() - chrono::Duration::seconds(1));
                Ok::<_, ()>(())
            })
            .await
            .unwrap();
        let lost = ShareId::generate_for(&alice);
        let record = serde_json::to_vec(&record_for("alice")).unwrap();
        memory.put(&id_path(&lost), record.into()).await.unwrap();
        let stray = ShareId::generate_for(&alice);
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

    /// A refused change reads only the record's line; an accepted one the whole share, once.
    #[tokio::test]
    async fn a_refused_change_never_reads_the_whole_share() {
        let counting = Arc::new(TestStore::default());
        let state = ConditionalWritesState::default();
        state.set(ConditionalWrites::Supported);
        let store =
            SessionStore::new(counting.clone(), true, state, Arc::new(ShareId::generate_for));
        let share = store.create(&record_for("alice"), Bytes::from_static(b"{}")).await.unwrap();
        let whole_reads = || counting.whole_reads.load(std::sync::atomic::Ordering::SeqCst);
        let refused = store.update_record(&share.id, |_| Err::<(), _>("not the owner")).await;
        assert!(matches!(refused, Err(UpdateError::Rejected("not the owner"))));
        assert_eq!(whole_reads(), 0);
        let accepted = store.update_record(&share.id, |r| {
            r.title = "new".into();
            Ok::<_, ()>(())
        });
        assert_eq!(accepted.await.unwrap().title, "new");
        assert_eq!(whole_reads(), 1);
    }

    /// Storage matches the tag itself only when the record is known without the object.
    #[tokio::test]
    async fn a_matching_etag_is_not_modified_when_the_record_is_cached() {
        let (store, _) = store_with(Arc::new(ShareId::generate_for));
        let uncached = store.clone();
        let cached = store.with_caches(std::time::Duration::from_secs(60), Metrics::new());
        let share = cached.create(&record_for("alice"), Bytes::from_static(b"{}")).await.unwrap();
        let (_, OpenedSession::Found { etag: Some(etag), .. }) =
            cached.open(&share.id, None).await.unwrap()
        else {
            panic!("expected an ETag")
        };
        let (record, opened) = cached.open(&share.id, Some(&etag)).await.unwrap();
        assert!(matches!(opened, OpenedSession::NotModified));
        assert_eq!(record.username, "alice");
        let (_, opened) = cached.open(&share.id, Some("\"other\"")).await.unwrap();
        assert!(matches!(opened, OpenedSession::Found { .. }));
        // Not cached: the whole object is read (the route compares the tag).
        let (_, opened) = uncached.open(&share.id, Some(&etag)).await.unwrap();
        assert!(matches!(opened, OpenedSession::Found { etag: Some(e), .. } if e == etag));
    }

    /// S3's reply to a PUT is lost, the client retries, and the retry is refused because the
    /// first attempt landed: that is our write, not someone else's (else the share would be
    /// created twice, once where no client was told).
    #[tokio::test]
    async fn a_refused_retry_of_our_own_write_counts_as_written() {
        let (store, _) = store_with(Arc::new(ShareId::generate_for));
        let path = Path::from("shares/abc/abcdef");
        let parts = |tail: &'static [u8]| {
            PutPayload::from_iter([Bytes::from_static(b"{\"line\":1}\n"), Bytes::from_static(tail)])
        };
        assert!(store.claim(&path, parts(b"1.0.0")).await.unwrap());
        assert!(store.claim(&path, parts(b"1.0.0")).await.unwrap(), "our own bytes are ours");
        assert!(!store.claim(&path, parts(b"1.0.1")).await.unwrap(), "someone else's are not");
        assert!(!store.claim(&path, parts(b"1.0.0+")).await.unwrap(), "nor longer ones");
    }
}
