//! Changing a share's options, and deleting it: both by its owner, both without losing a
//! concurrent change (each writes only over the version it read).

use object_store::PutPayload;

use super::{
    SessionStore, StorageError, layout,
    share_file::{self, StoredRecord},
    store::{Found, Slot, corrupt},
    writes::{MAX_ATTEMPTS, is_refusal},
};
use crate::domain::{ShareId, ShareRecord, Username};

/// Why a change did not happen.
#[derive(Debug)]
pub enum UpdateError<E> {
    /// The change itself refused (e.g. not the owner).
    Rejected(E),
    Storage(StorageError),
}

impl<E> From<StorageError> for UpdateError<E> {
    fn from(e: StorageError) -> Self {
        Self::Storage(e)
    }
}

impl SessionStore {
    /// Whose live share `id` is, if anyone's.
    pub async fn owner_of(&self, id: &ShareId) -> Result<Option<Username>, StorageError> {
        match self.record(id, None).await {
            Ok(record) => Ok(Some(record.username)),
            Err(StorageError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Applies `change` to the options of `owner`'s share `id`. The record is a header in
    /// front of the compressed document: it is rewritten and the document bytes copied back
    /// unchanged, only over the version read (`If-Match`); if another change won, it is read
    /// again and `change` applied again. So a change moves the compressed document twice (one
    /// read, one write): S3 has no way to rewrite the start of an object alone.
    pub async fn update_options<E>(
        &self,
        owner: &Username,
        id: &ShareId,
        mut change: impl FnMut(&mut ShareRecord) -> Result<(), E>,
    ) -> Result<ShareRecord, UpdateError<E>> {
        let path = layout::share(owner, id);
        let _queued = self.lock_for(id).lock().await;
        let _room = self.rewrites.acquire().await.expect("the semaphore is never closed");
        for round in 0..MAX_ATTEMPTS {
            // Past the first round a write of ours may have landed unseen: a read fault then
            // must not end in a "failed" that says the opposite of what happened.
            let read = self.read_settled(round > 0, || self.read_whole(&path)).await?;
            let Some((found, header_len, object)) = read else {
                return Err(not_found(id).into());
            };
            let Found { version, .. } = found.clone();
            let Slot::Live(mut record) = found.slot() else { return Err(not_found(id).into()) };
            let before = record.clone();
            change(&mut record).map_err(UpdateError::Rejected)?;
            // A share is confirmed once changed: its deadline mattered only for its create.
            record.pending_until = None;
            if record == before {
                // Nothing to change (or this very change landed though its answer was lost).
                return Ok(record);
            }
            let header = share_file::header(&StoredRecord::Share(record.clone()))
                .map_err(|e| corrupt(&path, e))?;
            let rewritten = PutPayload::from_iter([header, object.slice(header_len..)]);
            match self.put_over_confirmed(&path, rewritten, version).await {
                Ok(()) => {
                    self.caches.wrote(id, &record).await;
                    return Ok(record);
                }
                Err(e) if is_refusal(&e) => {
                    tracing::debug!(share_id = %id, "share changed under us; re-reading");
                }
                Err(e) => return Err(StorageError::from_store("write", &path, e).into()),
            }
        }
        Err(StorageError::Contended { path: path.to_string() }.into())
    }

    /// Deletes `owner`'s share `id` and its earlier revisions: a marker takes its place, so
    /// that its id is never used for another share (a link handed out never shows something
    /// else). `false`: `owner` has no such share (deleting it again is not an error, and
    /// finishes a delete that was cut short).
    pub async fn delete(&self, owner: &Username, id: &ShareId) -> Result<bool, StorageError> {
        let path = layout::share(owner, id);
        let _queued = self.lock_for(id).lock().await;
        for round in 0..MAX_ATTEMPTS {
            let read = self.read_settled(round > 0, || self.read_header(&path)).await?;
            let Some(found) = read else { return Ok(false) };
            match found.slot() {
                // Already deleted; its revisions may remain if that delete was cut short (gc
                // takes them if this cannot).
                Slot::Dead => {
                    if let Err(error) = self.delete_revisions(owner, id).await {
                        tracing::warn!(%error, share_id = %id, "revisions of a deleted share stay until gc");
                    }
                    return Ok(true);
                }
                // Never a share (a failed create's): nothing to delete.
                Slot::Withdrawn => return Ok(false),
                Slot::Live(_) => {}
            }
            match self.bury(owner, id, found.version).await {
                Err(StorageError::ChangedMeanwhile { .. }) => continue,
                other => return other.map(|()| true),
            }
        }
        Err(StorageError::Contended { path: path.to_string() })
    }

    pub(super) async fn delete_revisions(
        &self,
        owner: &Username,
        id: &ShareId,
    ) -> Result<(), StorageError> {
        for meta in
            super::list_under(self.store.as_ref(), layout::revisions(owner, id).as_ref()).await?
        {
            self.delete_path(&meta.location).await?;
        }
        Ok(())
    }
}

fn not_found(id: &ShareId) -> StorageError {
    StorageError::NotFound { path: format!("share {id}") }
}
