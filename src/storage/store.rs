//! [`SessionStore`]: the shares in object storage, and the requests every operation on them
//! shares (writes with the file's content type, reads of a header or a whole object).

use std::{hash::Hash, sync::Arc};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::{
    Attribute, Attributes, GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions,
    PutPayload, UpdateVersion, path::Path,
};

use super::{
    ConditionalWritesState, OpenedStore, StorageBounds, StorageError,
    caches::Caches,
    owners::Owners,
    share_file::{self, FIRST_READ, MAX_HEADER, StoredRecord},
};
use crate::{
    domain::{IdKey, LinkKey, ShareId, ShareRecord, Username},
    metrics::Metrics,
};

/// Draws the random ids of shares that no task leads to. Production uses
/// [`ShareId::generate_for`]; tests inject collisions.
pub type IdSource = Arc<dyn Fn(&Username) -> ShareId + Send + Sync>;

/// Revisions a share keeps by default (`--max-revisions`), and the most it may be set to (the
/// list of earlier revisions rides in the record, which a gzip header bounds).
pub const DEFAULT_MAX_REVISIONS: u32 = 20;
pub const MAX_REVISIONS_LIMIT: u32 = 100;

/// Striped per-replica locks: changes of one share queue here instead of racing in storage;
/// storage's `If-Match` still decides between replicas.
const LOCK_STRIPES: usize = 64;
/// Whole shares held in memory at once by changes (each at most a stored document).
const CONCURRENT_REWRITES: usize = 2;

/// Stores and serves shares (see [`super::layout`] for where, [`super::share_file`] for how).
/// Cheap to clone; every clone shares the caches.
#[derive(Clone)]
pub struct SessionStore {
    pub(super) store: Arc<dyn ObjectStore>,
    /// Whether objects keep a content type and encoding (S3 does, the local file system not).
    content_types: bool,
    pub(super) conditional: ConditionalWritesState,
    pub(super) bounds: StorageBounds,
    pub(super) random_ids: IdSource,
    id_key: Arc<tokio::sync::OnceCell<IdKey>>,
    link_key: Arc<tokio::sync::OnceCell<LinkKey>>,
    pub(super) owners: Owners,
    pub(super) caches: Caches,
    pub(super) max_revisions: u32,
    locks: Arc<Vec<tokio::sync::Mutex<()>>>,
    pub(super) rewrites: Arc<tokio::sync::Semaphore>,
}

/// A stored object's record with what the object's metadata says of it.
#[derive(Debug, Clone)]
pub(super) struct Found {
    pub record: StoredRecord,
    pub version: UpdateVersion,
    pub last_modified: DateTime<Utc>,
}

/// What a conditional read of a header found.
// Short-lived, matched at once: boxing the record would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum Header {
    /// The object is still the version named.
    Unchanged,
    Found(Found),
    Missing,
}

/// What a share's key holds, as readers must see it.
// Short-lived, matched at once: boxing the record would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(super) enum Slot {
    Live(ShareRecord),
    /// Deleted or expired and collected: the id is never used again.
    Dead,
    /// A failed create's marker, or a create's write that landed after its deadline: as good
    /// as empty, but it takes an `If-Match` to replace.
    Withdrawn,
}

impl Found {
    pub fn slot(&self) -> Slot {
        match &self.record {
            StoredRecord::Share(record) if landed_late(record, self.last_modified) => {
                Slot::Withdrawn
            }
            StoredRecord::Share(record) => Slot::Live(record.clone()),
            StoredRecord::Deleted(_) => Slot::Dead,
            StoredRecord::Withdrawn(_) => Slot::Withdrawn,
        }
    }
}

/// A create's write counts only if storage stamped it by the deadline in its record: past
/// it, the service has told the client the create failed (see `create::settle`).
pub(super) fn landed_late(record: &ShareRecord, last_modified: DateTime<Utc>) -> bool {
    record.pending_until.is_some_and(|deadline| last_modified > deadline)
}

impl SessionStore {
    pub fn new(
        opened: &OpenedStore,
        conditional: ConditionalWritesState,
        bounds: StorageBounds,
    ) -> Self {
        let store = opened.store.clone();
        Self {
            owners: Owners::new(store.clone()),
            store,
            content_types: opened.supports_content_type,
            conditional,
            bounds,
            random_ids: Arc::new(ShareId::generate_for),
            id_key: Arc::default(),
            link_key: Arc::default(),
            caches: Caches::off(),
            max_revisions: DEFAULT_MAX_REVISIONS,
            locks: Arc::new((0..LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect()),
            rewrites: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_REWRITES)),
        }
    }

    /// Remember records for reads for `ttl` (none if zero). A change made through this replica
    /// is seen by its next read; one made through another replica, within `ttl`.
    pub fn with_caches(mut self, ttl: std::time::Duration, metrics: Arc<Metrics>) -> Self {
        self.caches = Caches::new(ttl, metrics);
        self
    }

    /// Keep at most `n` revisions per share (1 to [`MAX_REVISIONS_LIMIT`]).
    pub fn with_max_revisions(mut self, n: u32) -> Self {
        self.max_revisions = n.clamp(1, MAX_REVISIONS_LIMIT);
        self
    }

    pub fn with_random_ids(mut self, ids: IdSource) -> Self {
        self.random_ids = ids;
        self
    }

    /// Storage answers (a missing object is an answer).
    pub async fn ping(&self) -> Result<(), StorageError> {
        let path = Path::from(super::layout::HEALTH);
        match self.store.head(&path).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::from_store("check", &path, e)),
        }
    }

    /// The secret behind task share ids: read from storage once, made the first time any
    /// replica needs it.
    pub(super) async fn id_key(&self) -> Result<IdKey, StorageError> {
        let load = super::secrets::load_or_make(self.store.as_ref(), super::layout::ID_KEY);
        self.id_key.get_or_try_init(|| async { Ok(IdKey::from_bytes(load.await?)) }).await.cloned()
    }

    /// The secret signed links are signed with: read from storage once, made the first time
    /// any replica needs it.
    pub async fn link_key(&self) -> Result<LinkKey, StorageError> {
        let load = super::secrets::load_or_make(self.store.as_ref(), super::layout::LINK_KEY);
        self.link_key
            .get_or_try_init(|| async { Ok(LinkKey::from_bytes(load.await?)) })
            .await
            .cloned()
    }

    /// Writes a share file (a revision or a marker), telling storage it is gzip-encoded JSON
    /// where storage keeps such things (then a presigned URL or a bucket browser shows JSON).
    pub(super) async fn put(
        &self,
        path: &Path,
        object: PutPayload,
        mode: PutMode,
    ) -> object_store::Result<()> {
        let mut attributes = Attributes::new();
        if self.content_types {
            attributes.insert(Attribute::ContentType, "application/json".into());
            attributes.insert(Attribute::ContentEncoding, "gzip".into());
        }
        let options = PutOptions { mode, attributes, ..Default::default() };
        self.store.put_opts(path, object, options).await.map(drop)
    }

    /// The record at `path`, reading only the header (a ranged read); `None` if nothing is there.
    pub(super) async fn read_header(&self, path: &Path) -> Result<Option<Found>, StorageError> {
        match self.read_header_unless(path, None).await? {
            Header::Found(found) => Ok(Some(found)),
            Header::Missing => Ok(None),
            Header::Unchanged => unreachable!("asked without a condition"),
        }
    }

    /// As [`Self::read_header`], unless the object's ETag is still `unless` (then storage
    /// answers "not modified", and nothing is read).
    pub(super) async fn read_header_unless(
        &self,
        path: &Path,
        unless: Option<&str>,
    ) -> Result<Header, StorageError> {
        let mut want = FIRST_READ;
        loop {
            let options = GetOptions {
                range: Some((0..want).into()),
                if_none_match: unless.map(str::to_owned),
                ..Default::default()
            };
            let result = match self.store.get_opts(path, options).await {
                Ok(result) => result,
                Err(object_store::Error::NotModified { .. }) => return Ok(Header::Unchanged),
                Err(object_store::Error::NotFound { .. }) => return Ok(Header::Missing),
                Err(e) => return Err(StorageError::from_store("read", path, e)),
            };
            let (version, last_modified, size) =
                (version_of(&result.meta), result.meta.last_modified, result.meta.size);
            let bytes =
                result.bytes().await.map_err(|e| StorageError::from_store("read", path, e))?;
            match share_file::parse_header(&bytes).map_err(|e| corrupt(path, e))? {
                Some((record, _)) => {
                    return Ok(Header::Found(Found { record, version, last_modified }));
                }
                None if size > want && want < MAX_HEADER as u64 => want = MAX_HEADER as u64,
                None => return Err(corrupt(path, share_file::FormatError::Truncated)),
            }
        }
    }

    /// The whole object at `path` with its record and the header's length; `None` if nothing
    /// is there.
    pub(super) async fn read_whole(
        &self,
        path: &Path,
    ) -> Result<Option<(Found, usize, Bytes)>, StorageError> {
        let result = match self.store.get(path).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(StorageError::from_store("read", path, e)),
        };
        let (version, last_modified) = (version_of(&result.meta), result.meta.last_modified);
        let bytes = result.bytes().await.map_err(|e| StorageError::from_store("read", path, e))?;
        let (record, header_len) = share_file::parse_header(&bytes)
            .map_err(|e| corrupt(path, e))?
            .ok_or_else(|| corrupt(path, share_file::FormatError::Truncated))?;
        Ok(Some((Found { record, version, last_modified }, header_len, bytes)))
    }

    pub(super) async fn delete_path(&self, path: &Path) -> Result<(), StorageError> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::from_store("delete", path, e)),
        }
    }

    /// Changes of one share on this replica queue here.
    pub(super) fn lock_for(&self, id: &ShareId) -> &tokio::sync::Mutex<()> {
        use std::hash::Hasher;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut hasher);
        &self.locks[hasher.finish() as usize % self.locks.len()]
    }
}

pub(super) fn version_of(meta: &object_store::ObjectMeta) -> UpdateVersion {
    UpdateVersion { e_tag: meta.e_tag.clone(), version: meta.version.clone() }
}

pub(super) fn corrupt(path: &Path, reason: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt { path: path.to_string(), reason: reason.to_string() }
}
