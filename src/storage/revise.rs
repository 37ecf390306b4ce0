//! Adding a revision to a share: `PUT` by its owner, or sharing its task again. The session
//! the share had is kept as a revision, then the share is written over the version read, so
//! that two writers cannot both win; deleting removes the share with its revisions (`bury`).

use chrono::Utc;
use object_store::{PutPayload, UpdateVersion};

use super::{
    SessionStore, StorageError, layout,
    share_file::{self, StoredRecord},
    store::{Slot, corrupt},
    writes::{Created, MAX_ATTEMPTS, NewShare, is_refusal},
};
use crate::domain::{ShareId, Username};

/// What adding a revision found.
pub(super) enum Revised {
    /// Boxed: a record is far larger than the other answers.
    Made(Box<Created>),
    /// Nothing is at the id.
    Missing,
    /// The id's share was deleted or expired: it is never used again.
    Dead,
    /// What a failed create left, at this version: as good as empty.
    Withdrawn(UpdateVersion),
}

/// How a revision is added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Revise<'a> {
    /// Sharing a task again: an expired share is made dead (the task gets a new link).
    Task,
    /// `PUT` by the owner, on the version they read when they send one.
    Put { if_match: Option<&'a str> },
}

impl SessionStore {
    /// Replaces the session of `owner`'s share `id` (`PUT`): the session it had becomes a
    /// revision. `if_match` is the entity tag the owner read, if they want the change only on
    /// that version.
    pub async fn replace(
        &self,
        owner: &Username,
        id: &ShareId,
        share: &NewShare,
        if_match: Option<&str>,
    ) -> Result<Created, StorageError> {
        match self.revise(owner, id, share, Revise::Put { if_match }).await? {
            Revised::Made(created) => Ok(*created),
            Revised::Missing | Revised::Dead | Revised::Withdrawn(_) => {
                Err(StorageError::NotFound { path: format!("share {id}") })
            }
        }
    }

    /// Adds `share` as the next revision of the live share at `id`: the latest is kept as a
    /// revision of its own (as it is: a standard gzip file), then the new one is written over
    /// it, only if it is still the version read. An expired share shared again dies instead
    /// (it is never revived).
    pub(super) async fn revise(
        &self,
        owner: &Username,
        id: &ShareId,
        share: &NewShare,
        how: Revise<'_>,
    ) -> Result<Revised, StorageError> {
        let path = layout::share(owner, id);
        let _queued = self.lock_for(id).lock().await;
        let _room = self.rewrites.acquire().await.expect("the semaphore is never closed");
        for round in 0..MAX_ATTEMPTS {
            let read = self.read_settled(round > 0, || self.read_whole(&path)).await?;
            let Some((found, header_len, object)) = read else {
                return Ok(Revised::Missing);
            };
            let latest = match found.slot() {
                Slot::Live(record) => record,
                Slot::Dead => {
                    self.caches.dead(id).await;
                    return Ok(Revised::Dead);
                }
                Slot::Withdrawn => return Ok(Revised::Withdrawn(found.version)),
            };
            if let Revise::Put { if_match: Some(tag) } = how {
                if !super::etag_matches(tag, found.version.e_tag.as_deref()) {
                    return Err(StorageError::ChangedMeanwhile { path: path.to_string() });
                }
            }
            if latest.is_expired(Utc::now()) {
                if how == Revise::Task {
                    match self.bury(owner, id, found.version).await {
                        Ok(()) => return Ok(Revised::Dead),
                        Err(StorageError::ChangedMeanwhile { .. }) => continue,
                        Err(e) => return Err(e),
                    }
                }
                return Err(StorageError::Expired { path: path.to_string() });
            }
            if object.slice(header_len..) == share.compressed.bytes() {
                // The very document of the latest revision: no revision to add, but the
                // options it carries still apply (the share may have been changed since).
                if !share.options.changes(&latest) {
                    return Ok(Revised::Made(Box::new(Created {
                        id: id.clone(),
                        record: latest,
                        updated: true,
                    })));
                }
                let mut changed = latest.clone();
                share.options.apply(&mut changed);
                changed.pending_until = None;
                let header = share_file::header(&StoredRecord::Share(changed.clone()))
                    .map_err(|e| corrupt(&path, e))?;
                let rewritten = PutPayload::from_iter([header, object.slice(header_len..)]);
                match self.put_over_confirmed(&path, rewritten, found.version).await {
                    Ok(()) => {
                        self.caches.wrote(id, &changed).await;
                        return Ok(Revised::Made(Box::new(Created {
                            id: id.clone(),
                            record: changed,
                            updated: true,
                        })));
                    }
                    Err(e) if is_refusal(&e) => continue,
                    Err(e) => return Err(StorageError::from_store("write", &path, e)),
                }
            }
            // Kept as it is, first: if what follows fails, nothing is lost. A re-share cut
            // short before may have left this revision's file: it is written again, so that
            // it holds the share as it is now, and is new to gc (which never deletes the
            // latest revision's file: the next re-share lists it).
            let archive = layout::revision(owner, id, latest.revision);
            let kept = PutPayload::from(object.clone());
            match self.put_new(&archive, kept.clone()).await {
                Ok(()) => {}
                Err(e) if is_refusal(&e) => {
                    if let Err(e) = self.put(&archive, kept, object_store::PutMode::Overwrite).await
                    {
                        return Err(StorageError::from_store("write", &archive, e));
                    }
                }
                Err(e) => return Err(StorageError::from_store("write", &archive, e)),
            }
            let mut next = latest.clone();
            next.revision = latest.revision + 1;
            next.revised_at = Utc::now();
            next.size = share.size;
            next.message_count = share.message_count;
            next.redactions = share.redactions;
            next.task_excerpt = share.task_excerpt.clone();
            next.pending_until = None;
            next.earlier.push(latest.this_revision());
            // The options this share carries replace the share's; the others stay.
            share.options.apply(&mut next);
            let keep = self.max_revisions.saturating_sub(1) as usize;
            let dropped: Vec<u32> = next
                .earlier
                .drain(..next.earlier.len().saturating_sub(keep))
                .map(|r| r.revision)
                .collect();
            let object = share_file::object(&StoredRecord::Share(next.clone()), &share.compressed)
                .map_err(|e| corrupt(&path, e))?;
            // The write may have landed though its answer was lost: if our bytes are there,
            // the revision is made, and the client is told so.
            let written = self.put_over_confirmed(&path, object.clone(), found.version).await;
            match written {
                Ok(()) => {
                    self.caches.wrote(id, &next).await;
                    for revision in dropped {
                        let old = layout::revision(owner, id, revision);
                        if let Err(error) = self.delete_path(&old).await {
                            tracing::warn!(%error, "an old revision stays until gc");
                        }
                    }
                    return Ok(Revised::Made(Box::new(Created {
                        id: id.clone(),
                        record: next,
                        updated: true,
                    })));
                }
                Err(e) if is_refusal(&e) => {
                    if matches!(how, Revise::Put { if_match: Some(_) }) {
                        return Err(StorageError::ChangedMeanwhile { path: path.to_string() });
                    }
                    tracing::debug!(share_id = %id, "share changed under us; re-reading");
                }
                Err(e) => return Err(StorageError::from_store("write", &path, e)),
            }
        }
        Err(StorageError::Contended { path: path.to_string() })
    }

    /// Replaces the share at `path` (at `version`) by a marker that keeps its id from ever
    /// being used again, then deletes its earlier revisions.
    pub(super) async fn bury(
        &self,
        owner: &Username,
        id: &ShareId,
        version: UpdateVersion,
    ) -> Result<(), StorageError> {
        let path = layout::share(owner, id);
        let marker = share_file::marker(StoredRecord::Deleted, owner, Utc::now());
        match self.put_over_confirmed(&path, marker, version).await {
            Ok(()) => {}
            Err(e) if is_refusal(&e) => {
                return Err(StorageError::ChangedMeanwhile { path: path.to_string() });
            }
            Err(e) => return Err(StorageError::from_store("write", &path, e)),
        }
        self.caches.dead(id).await;
        // The share is gone once its marker is written: revisions left by a fault now are
        // deleted by the next delete or by gc, and do not make the answer a failure.
        if let Err(error) = self.delete_revisions(owner, id).await {
            tracing::warn!(%error, share_id = %id, "revisions of a deleted share stay until gc");
        }
        Ok(())
    }
}
