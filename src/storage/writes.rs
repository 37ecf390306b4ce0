//! The conditional writes every change of a share is made of, and what a change makes.
//! Each writes where nothing is, or over the version read, so that of two writers one wins;
//! a write whose answer was lost is read back rather than guessed.

use chrono::{DateTime, Utc};
use object_store::{ObjectStoreExt, PutMode, PutPayload, UpdateVersion, path::Path};

use super::{ConditionalWrites, SessionStore, StorageError, share_file::Compressed};
use crate::domain::{ShareId, ShareOptions, ShareRecord};

/// A validated document to store, with what is kept beside it.
pub struct NewShare {
    pub compressed: Compressed,
    /// The document's size as uploaded.
    pub size: u64,
    pub message_count: u64,
    pub task_excerpt: String,
    pub options: ShareOptions,
    /// Credentials replaced in it before it was stored.
    pub redactions: u32,
}

/// A share made or revised, as its client is told.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: ShareId,
    pub record: ShareRecord,
    /// An existing share got this revision (or already had this very document).
    pub updated: bool,
}

/// Rounds of read-and-write against concurrent writers before giving up with a conflict.
pub(super) const MAX_ATTEMPTS: usize = 10;
/// Reads of what a failed create's write left before its answer stays open (each within the
/// storage bound).
pub(super) const READ_BACK_ATTEMPTS: usize = 5;

pub(super) use super::objects::is_refusal;

impl SessionStore {
    /// Writes where nothing is. A store found not to honour `If-None-Match` is noted, and
    /// written to anyway (the caller looked first).
    pub(super) async fn put_new(
        &self,
        path: &Path,
        object: PutPayload,
    ) -> object_store::Result<()> {
        match self.put(path, object.clone(), PutMode::Create).await {
            Err(object_store::Error::NotImplemented { .. }) => {
                self.conditional.set(ConditionalWrites::Unsupported);
                self.put(path, object, PutMode::Overwrite).await
            }
            other => other,
        }
    }

    /// Writes over the object's `version` only. Stores without `If-Match` (the local file
    /// system, one host): the version is compared just before, under this replica's lock for
    /// the share, which changes hold.
    pub(super) async fn put_over(
        &self,
        path: &Path,
        object: PutPayload,
        version: UpdateVersion,
    ) -> object_store::Result<()> {
        match self.put(path, object.clone(), PutMode::Update(version.clone())).await {
            Err(object_store::Error::NotImplemented { .. }) => {
                let changed = || object_store::Error::Precondition {
                    path: path.to_string(),
                    source: "changed since it was read".into(),
                };
                match self.store.head(path).await {
                    Ok(meta) if meta.e_tag == version.e_tag => {
                        self.put(path, object, PutMode::Overwrite).await
                    }
                    Ok(_) | Err(object_store::Error::NotFound { .. }) => Err(changed()),
                    Err(e) => Err(e),
                }
            }
            other => other,
        }
    }

    /// Whether `path` holds exactly `object`, written in time (see [`SessionStore::settle`]).
    pub(super) async fn holds(
        &self,
        path: &Path,
        object: &PutPayload,
        deadline: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let found = match self.store.get(path).await {
            Ok(found) if found.meta.size != object.content_length() as u64 => return Ok(false),
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(StorageError::from_store("read", path, e)),
        };
        let in_time = found.meta.last_modified <= deadline;
        let stored = found.bytes().await.map_err(|e| StorageError::from_store("read", path, e))?;
        let mut rest = &stored[..];
        let ours = object.iter().all(|part| match rest.split_at_checked(part.len()) {
            Some((head, tail)) if head == &part[..] => {
                rest = tail;
                true
            }
            _ => false,
        });
        if ours {
            tracing::info!(%path, in_time, "a write whose answer was lost is stored");
        }
        Ok(ours && in_time)
    }

    /// `read()`; when `after_write` (a write of ours may have landed unseen), read again after a
    /// fault for as long as the request's deadline allows: answering "failed" on a read fault
    /// then could say the opposite of what happened.
    pub(super) async fn read_settled<T, F, Fut>(
        &self,
        after_write: bool,
        mut read: F,
    ) -> Result<T, StorageError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StorageError>>,
    {
        let mut rounds = if after_write { READ_BACK_ATTEMPTS } else { 1 };
        loop {
            rounds -= 1;
            match read().await {
                Err(StorageError::Unavailable { .. })
                    if rounds > 0 && !crate::deadline::passed() => {}
                other => return other,
            }
        }
    }

    /// Whether `path` holds exactly `object` (a few tries, within the request's deadline);
    /// `None` if storage cannot tell.
    pub(super) async fn read_back(&self, path: &Path, object: &PutPayload) -> Option<bool> {
        let whenever = DateTime::<Utc>::MAX_UTC;
        for _ in 0..READ_BACK_ATTEMPTS {
            if crate::deadline::passed() {
                return None;
            }
            if let Ok(ours) = self.holds(path, object, whenever).await {
                return Some(ours);
            }
        }
        None
    }

    /// A write over `version` whose answer may have been lost: if it did not answer, what is
    /// stored is read back, and our bytes there mean it was made (the client is told so).
    pub(super) async fn put_over_confirmed(
        &self,
        path: &Path,
        object: PutPayload,
        version: UpdateVersion,
    ) -> object_store::Result<()> {
        match self.put_over(path, object.clone(), version).await {
            Err(error) if !is_refusal(&error) => match self.read_back(path, &object).await {
                Some(true) => Ok(()),
                _ => Err(error),
            },
            written => written,
        }
    }
}
