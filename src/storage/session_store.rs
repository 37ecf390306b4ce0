use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use object_store::{
    Attribute, Attributes, GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    path::Path,
};
use serde::{Deserialize, Serialize};

use super::{ConditionalWrites, ConditionalWritesState, StorageError};
use crate::domain::{ShareId, Username};

/// Draws share ids. Production uses [`ShareId::generate`]; tests inject collisions.
pub type IdSource = Arc<dyn Fn() -> ShareId + Send + Sync>;

/// Ids are 126 random bits, so a second draw is already astronomically rare; the bound only
/// keeps a misbehaving store from looping us forever.
const MAX_ID_ATTEMPTS: usize = 8;

/// Stores and serves session documents. Cheap to clone.
#[derive(Clone)]
pub struct SessionStore {
    store: Arc<dyn ObjectStore>,
    supports_content_type: bool,
    conditional: ConditionalWritesState,
    ids: IdSource,
}

#[derive(Debug, Clone)]
pub struct CreatedShare {
    pub id: ShareId,
    pub created_at: DateTime<Utc>,
}

pub enum OpenedSession {
    Found { etag: Option<String>, size: u64, body: BoxStream<'static, object_store::Result<Bytes>> },
    NotModified { etag: Option<String> },
}

/// The id lookup record at `ids/<id>.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdRecord {
    username: String,
    created_at: DateTime<Utc>,
}

fn document_path(owner: &Username, id: &ShareId) -> Path {
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
        Self { store, supports_content_type, conditional, ids }
    }

    /// Stores `document` for `owner` under a fresh id.
    ///
    /// The id is claimed first (`ids/<id>.json`, written only if absent), then the document is
    /// written. The document is the commit point: until it exists no read returns the share,
    /// and if writing it fails the claim is withdrawn and the caller gets the error.
    pub async fn create(
        &self,
        owner: &Username,
        document: Bytes,
    ) -> Result<CreatedShare, StorageError> {
        let created_at = Utc::now();
        let record = IdRecord { username: owner.to_string(), created_at };
        let record = Bytes::from(serde_json::to_vec(&record).expect("IdRecord serializes"));
        for _ in 0..MAX_ID_ATTEMPTS {
            let id = (self.ids)();
            if !self.claim(&id_path(&id), record.clone()).await? {
                tracing::warn!(share_id = %id, "drew an id that is taken; drawing again");
                continue;
            }
            match self.claim(&document_path(owner, &id), document.clone()).await {
                Ok(true) => return Ok(CreatedShare { id, created_at }),
                Ok(false) => {
                    // Only reachable on a store without conditional writes, racing another
                    // writer on the same id; leave both objects to their owner and redraw.
                    tracing::warn!(share_id = %id, "document path already taken; drawing again");
                }
                Err(e) => {
                    if let Err(cleanup) = self.store.delete(&id_path(&id)).await {
                        tracing::warn!(share_id = %id, error = %cleanup,
                            "could not withdraw the id claim of a failed create; gc will");
                    }
                    return Err(e);
                }
            }
        }
        Err(StorageError::IdsExhausted { attempts: MAX_ID_ATTEMPTS })
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
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
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

    async fn put(&self, path: &Path, bytes: Bytes, mode: PutMode) -> object_store::Result<()> {
        let mut attributes = Attributes::new();
        if self.supports_content_type {
            attributes.insert(Attribute::ContentType, "application/json".into());
        }
        let options = PutOptions { mode, attributes, ..Default::default() };
        self.store.put_opts(path, PutPayload::from_bytes(bytes), options).await.map(drop)
    }

    /// Opens `owner`'s share `id` for streaming: one storage read. `if_none_match` is the
    /// client's header; a match answers `NotModified` without the body.
    pub async fn open(
        &self,
        owner: &Username,
        id: &ShareId,
        if_none_match: Option<&str>,
    ) -> Result<OpenedSession, StorageError> {
        let path = document_path(owner, id);
        let wanted: Vec<&str> =
            if_none_match.map(|h| h.split(',').map(str::trim).collect()).unwrap_or_default();
        // Stores that quote their ETags (S3) can answer the condition themselves.
        let options = GetOptions {
            if_none_match: (wanted.len() == 1).then(|| wanted[0].to_owned()),
            ..Default::default()
        };
        let result = match self.store.get_opts(&path, options).await {
            Ok(result) => result,
            Err(object_store::Error::NotModified { .. }) => {
                return Ok(OpenedSession::NotModified {
                    etag: wanted.first().map(|s| (*s).to_owned()),
                });
            }
            Err(e) => return Err(StorageError::from_store("read", &path, e)),
        };
        let etag = result.meta.e_tag.as_deref().map(http_etag);
        if let Some(etag) = &etag {
            if wanted.iter().any(|w| *w == "*" || w.trim_start_matches("W/") == etag) {
                return Ok(OpenedSession::NotModified { etag: Some(etag.clone()) });
            }
        }
        let size = result.meta.size;
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

    /// Who owns share `id`, from its id lookup record.
    pub async fn owner_of(&self, id: &ShareId) -> Result<Username, StorageError> {
        let path = id_path(id);
        let bytes = self
            .store
            .get(&path)
            .await
            .map_err(|e| StorageError::from_store("read", &path, e))?
            .bytes()
            .await
            .map_err(|e| StorageError::from_store("read", &path, e))?;
        let corrupt = |reason: String| StorageError::Corrupt { path: path.to_string(), reason };
        let record: IdRecord = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        Username::parse(&record.username).map_err(|e| corrupt(e.to_string()))
    }
}

/// Stores differ in how they spell ETags (S3 quotes them, the local file system does not);
/// HTTP wants them quoted.
fn http_etag(stored: &str) -> String {
    if stored.starts_with('"') || stored.starts_with("W/") {
        stored.to_owned()
    } else {
        format!("\"{stored}\"")
    }
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;
    use object_store::memory::InMemory;

    use super::*;

    fn store_with(ids: IdSource) -> (SessionStore, Arc<InMemory>) {
        let memory = Arc::new(InMemory::new());
        let state = ConditionalWritesState::default();
        state.set(ConditionalWrites::Supported);
        (SessionStore::new(memory.clone(), true, state, ids), memory)
    }

    async fn read_all(store: &SessionStore, owner: &Username, id: &ShareId) -> Bytes {
        match store.open(owner, id, None).await.unwrap() {
            OpenedSession::Found { body, .. } => {
                let chunks: Vec<Bytes> = body.try_collect().await.unwrap();
                chunks.concat().into()
            }
            OpenedSession::NotModified { .. } => panic!("no condition was given"),
        }
    }

    #[tokio::test]
    async fn a_taken_id_is_never_overwritten() {
        let fixed = ShareId::parse("AAAAAAAAAAAAAAAAAAAAA").unwrap();
        let draws = std::sync::Mutex::new(vec![ShareId::generate(), fixed.clone(), fixed.clone()]);
        let ids: IdSource = Arc::new(move || draws.lock().unwrap().pop().unwrap());
        let (store, _) = store_with(ids);
        let alice = Username::parse("alice").unwrap();
        let bob = Username::parse("bob").unwrap();
        let first = store.create(&alice, Bytes::from_static(b"{\"a\":1}")).await.unwrap();
        let second = store.create(&bob, Bytes::from_static(b"{\"b\":2}")).await.unwrap();
        assert_eq!(first.id, fixed);
        assert_ne!(second.id, fixed);
        assert_eq!(read_all(&store, &alice, &first.id).await, &b"{\"a\":1}"[..]);
        assert_eq!(store.owner_of(&first.id).await.unwrap(), alice);
        assert_eq!(store.owner_of(&second.id).await.unwrap(), bob);
    }

    /// Storage that accepts id claims but fails every document write, as a full disk or a
    /// dropped connection would half-way through a create.
    #[derive(Debug)]
    struct RefusesDocuments(InMemory);

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
            if location.as_ref().starts_with("sessions/") {
                return Err(object_store::Error::Generic { store: "test", source: "disk full".into() });
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
        async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<object_store::GetResult> {
            self.0.get_opts(location, options).await
        }
        fn delete_stream(
            &self,
            locations: BoxStream<'static, object_store::Result<Path>>,
        ) -> BoxStream<'static, object_store::Result<Path>> {
            self.0.delete_stream(locations)
        }
        fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
            self.0.list(prefix)
        }
        async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<object_store::ListResult> {
            self.0.list_with_delimiter(prefix).await
        }
        async fn copy_opts(&self, from: &Path, to: &Path, options: object_store::CopyOptions) -> object_store::Result<()> {
            self.0.copy_opts(from, to, options).await
        }
    }

    #[tokio::test]
    async fn a_create_that_fails_half_way_leaves_nothing_readable() {
        let store = Arc::new(RefusesDocuments(InMemory::new()));
        let state = ConditionalWritesState::default();
        state.set(ConditionalWrites::Supported);
        let id = ShareId::generate();
        let drawn = id.clone();
        let sessions = SessionStore::new(store.clone(), true, state, Arc::new(move || drawn.clone()));
        let alice = Username::parse("alice").unwrap();

        let err = sessions.create(&alice, Bytes::from_static(b"{}")).await.unwrap_err();
        assert!(matches!(err, StorageError::Unavailable { operation: "write", .. }), "{err}");
        // The id claim was withdrawn: neither lookup finds a session.
        assert!(matches!(sessions.owner_of(&id).await, Err(StorageError::NotFound { .. })));
        assert!(matches!(sessions.open(&alice, &id, None).await, Err(StorageError::NotFound { .. })));
        let left: Vec<_> = store.list(None).try_collect().await.unwrap();
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    #[tokio::test]
    async fn a_matching_etag_is_not_modified() {
        let (store, _) = store_with(Arc::new(ShareId::generate));
        let alice = Username::parse("alice").unwrap();
        let share = store.create(&alice, Bytes::from_static(b"{}")).await.unwrap();
        let OpenedSession::Found { etag: Some(etag), .. } =
            store.open(&alice, &share.id, None).await.unwrap()
        else {
            panic!("expected an ETag")
        };
        assert!(etag.starts_with('"'));
        assert!(matches!(
            store.open(&alice, &share.id, Some(&etag)).await.unwrap(),
            OpenedSession::NotModified { .. }
        ));
        assert!(matches!(
            store.open(&alice, &share.id, Some("\"other\"")).await.unwrap(),
            OpenedSession::Found { .. }
        ));
    }
}
