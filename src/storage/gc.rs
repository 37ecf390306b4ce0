//! `session-share gc`: what expiry, failed creates and interrupted deletes leave behind.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use object_store::ObjectMeta;

use super::{
    SessionStore, StorageError, layout,
    share_file::{self, StoredRecord},
    store::Slot,
};
use crate::domain::{ShareId, Username};

/// What `gc` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Expired shares deleted (a marker keeps their ids from being used again).
    pub expired: usize,
    /// Writes of failed creates that landed too late to count, emptied.
    pub late: usize,
    /// Revisions whose share is gone or no longer keeps them.
    pub revisions: usize,
    pub probes: usize,
}

impl SessionStore {
    /// Deletes expired shares, the documents of creates that landed after their deadline,
    /// revisions nothing keeps (a delete or a re-share cut short), and probe leftovers. What
    /// is younger than `grace` is left alone (a re-share writes its old revision before the
    /// share that lists it). Every step writes only over the version it read, or deletes what
    /// nothing refers to, so several collectors and the service can run at once.
    pub async fn collect_garbage(
        &self,
        now: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> Result<GcReport, StorageError> {
        let mut report = GcReport::default();
        let cutoff = now - grace;
        let mut shares: HashMap<(Username, ShareId), Option<Slot>> = HashMap::new();
        let mut revisions: Vec<(Username, ShareId, u32, ObjectMeta)> = Vec::new();
        for meta in super::list_under(self.store.as_ref(), layout::SESSIONS).await? {
            match layout::parse(&meta.location) {
                Some(layout::Stored::Share { owner, id }) => {
                    let slot =
                        self.collect_share(&owner, &id, &meta, now, cutoff, &mut report).await?;
                    shares.insert((owner, id), slot);
                }
                Some(layout::Stored::Revision { owner, id, revision }) => {
                    revisions.push((owner, id, revision, meta))
                }
                None => {}
            }
        }
        for (owner, id, revision, meta) in revisions {
            let old = meta.last_modified < cutoff;
            let garbage = match shares.get(&(owner.clone(), id.clone())) {
                // A revision the record lists is kept; so is the latest revision's file, left
                // by a re-share cut short: the next re-share lists it, and a record read
                // before that re-share landed would not. Newer records list only revisions
                // this one lists or newer ones, so nothing older can become kept again.
                Some(Some(Slot::Live(record))) => {
                    old && revision < record.revision
                        && !record.earlier.iter().any(|r| r.revision == revision)
                }
                // Deleted: its revisions go, whatever their age (it gets no new ones).
                Some(Some(Slot::Dead)) => true,
                // No share (or a failed create's marker): a share may be made there meanwhile,
                // so it is looked at again, fresh, before anything beside it goes.
                Some(Some(Slot::Withdrawn)) | None => old && self.no_share_at(&owner, &id).await?,
                // The share's file is not one of ours: leave what is beside it to an operator.
                Some(None) => false,
            };
            if garbage {
                self.delete_path(&meta.location).await?;
                report.revisions += 1;
            }
        }
        for meta in super::list_under(self.store.as_ref(), layout::PROBES).await? {
            if meta.last_modified < cutoff {
                self.delete_path(&meta.location).await?;
                report.probes += 1;
            }
        }
        Ok(report)
    }

    /// Whether no live share is at `owner`'s `id` now.
    async fn no_share_at(&self, owner: &Username, id: &ShareId) -> Result<bool, StorageError> {
        Ok(match self.read_header(&layout::share(owner, id)).await {
            Ok(found) => !matches!(found.map(|f| f.slot()), Some(Slot::Live(_))),
            Err(StorageError::Corrupt { .. }) => false,
            Err(e) => return Err(e),
        })
    }

    /// Collects one share if it is garbage; answers what it is now (`None` if unreadable).
    async fn collect_share(
        &self,
        owner: &Username,
        id: &ShareId,
        meta: &ObjectMeta,
        now: DateTime<Utc>,
        cutoff: DateTime<Utc>,
        report: &mut GcReport,
    ) -> Result<Option<Slot>, StorageError> {
        let found = match self.read_header(&meta.location).await {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(None),
            Err(StorageError::Corrupt { path, reason }) => {
                tracing::warn!(%path, %reason, "gc: leaving an object that is not a share");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let slot = found.slot();
        match (&slot, &found.record) {
            (Slot::Live(record), _) if record.is_expired(now) => {
                match self.bury(owner, id, found.version).await {
                    Ok(()) => {
                        report.expired += 1;
                        return Ok(Some(Slot::Dead));
                    }
                    // Changed meanwhile (a PATCH of its expiry, say): next run.
                    Err(StorageError::ChangedMeanwhile { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            // A create's write that landed past its deadline: never shown, and its client was
            // told it failed. Its document goes; a marker stays for the task's next share.
            (Slot::Withdrawn, StoredRecord::Share(_)) if found.last_modified < cutoff => {
                let marker = share_file::marker(StoredRecord::Withdrawn, owner, now);
                if self.put_over(&meta.location, marker, found.version).await.is_ok() {
                    report.late += 1;
                }
            }
            _ => {}
        }
        Ok(Some(slot))
    }
}
