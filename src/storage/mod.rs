//! Object storage: where sessions and key hashes live, behind one `Arc<dyn ObjectStore>`.
//!
//! Layout (below the configured prefix):
//! - `shares/<id prefix>/<id>`: a share, as its record's line and the stored document (see
//!   [`packed`]); the id's prefix is its owner's, so an id alone and an owner's listing both
//!   lead here.
//! - `ids/<id>.json` and `sessions/<username>/<id>.json`: a share made before that layout,
//!   its record and its document.
//! - `keys/<sha256 of key>.json`: who a key belongs to; never the key itself.
//! - `_probe/<random>`: scratch objects of the start-up conditional-write probe.

mod backend;
mod gc;
mod key_store;
mod packed;
mod probe;
mod session_store;
mod traced;

pub use backend::{OpenedStore, S3Options, StorageUrl, open_store, open_store_bounded};
pub use gc::GcReport;
pub use key_store::{KeyRecord, KeyStore, KeyStoreError};
pub use probe::{ConditionalWrites, ConditionalWritesState, probe_conditional_writes};
pub use session_store::{
    CreatedShare, IdSource, OpenedSession, OwnedDocument, SessionStore, ShareRecord,
    StoredEncoding, UpdateError,
};
pub use traced::StorageBounds;

/// A storage failure, saying what was being done and where.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("not found: {path}")]
    NotFound { path: String },
    #[error("storage failed to {operation} {path}: {source}")]
    Unavailable {
        operation: &'static str,
        path: String,
        #[source]
        source: object_store::Error,
    },
    /// Storage refused the service itself: wrong credentials, no permission, or no such
    /// bucket. Retrying will not help; an operator must.
    #[error(
        "storage refused to {operation} {path}: {source}; check the S3 credentials, that the \
         bucket exists, and the bucket's policy"
    )]
    Refused {
        operation: &'static str,
        path: String,
        #[source]
        source: object_store::Error,
    },
    #[error("stored object {path} is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("could not find a free id after {attempts} attempts")]
    IdsExhausted { attempts: usize },
}

impl StorageError {
    pub(crate) fn from_store(
        operation: &'static str,
        path: &object_store::path::Path,
        source: object_store::Error,
    ) -> Self {
        let path = path.to_string();
        match source {
            // A write answered "not found" is about the bucket, not the object.
            object_store::Error::NotFound { .. } if operation == "write" => {
                Self::Refused { operation, path, source }
            }
            // S3 answers 404 for a missing bucket as for a missing object; its body says which.
            object_store::Error::NotFound { source: ref body, .. }
                if body.to_string().contains("NoSuchBucket") =>
            {
                Self::Refused { operation, path, source }
            }
            object_store::Error::NotFound { .. } => Self::NotFound { path },
            object_store::Error::Unauthenticated { .. }
            | object_store::Error::PermissionDenied { .. } => {
                Self::Refused { operation, path, source }
            }
            source => Self::Unavailable { operation, path, source },
        }
    }
}

/// Every object below `prefix`.
pub(crate) async fn list_under(
    store: &dyn object_store::ObjectStore,
    prefix: &str,
) -> Result<Vec<object_store::ObjectMeta>, StorageError> {
    use futures::TryStreamExt;
    let prefix = object_store::path::Path::from(prefix);
    store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| StorageError::from_store("list", &prefix, e))
}
