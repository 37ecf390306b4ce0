//! `session-share gc`: what expiry, failed creates and interrupted deletes leave behind.

use chrono::{DateTime, Utc};
use object_store::ObjectStoreExt;

use super::{SessionStore, ShareRecord, StorageError, list_under, session_store::document_path};
use crate::domain::{ShareId, Username};

/// What `gc` removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub expired: usize,
    pub orphaned_records: usize,
    pub orphaned_documents: usize,
    pub probes: usize,
}

impl SessionStore {
    /// Deletes expired shares, and what failed creates and interrupted deletes of the older
    /// two-object layout left behind (records without a document, documents without a
    /// record) once older than `grace`, so that a create in flight is never mistaken for a
    /// leftover. (A share in one object has no halves to leave.) Every step is an idempotent
    /// delete, so several collectors (and the service) can run at once.
    pub async fn collect_garbage(
        &self,
        now: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> Result<GcReport, StorageError> {
        let mut report = GcReport::default();
        let cutoff = now - grace;
        for meta in list_under(self.store.as_ref(), "shares").await? {
            let Some(id) = meta.location.filename().and_then(|f| ShareId::parse(f).ok()) else {
                continue;
            };
            let Some(record) = found(self.packed_record(&id).await)? else { continue };
            if record.is_expired(now) {
                self.delete_path(&meta.location).await?;
                self.forget(&id).await;
                report.expired += 1;
            }
        }
        let mut recorded = std::collections::HashSet::new();
        for meta in list_under(self.store.as_ref(), "ids").await? {
            let Some(id) = meta.location.filename().and_then(|f| f.strip_suffix(".json")) else {
                continue;
            };
            let Ok(id) = ShareId::parse(id) else { continue };
            let Some(record) = found(self.older_record(&id).await)? else { continue };
            let owner = Username::parse(&record.username).expect("record() checked the username");
            if record.is_expired(now) {
                self.delete(&owner, &id).await?;
                report.expired += 1;
                continue;
            }
            recorded.insert(id.clone());
            if record.created_at < cutoff {
                let path = document_path(&owner, &id);
                match self.store.head(&path).await {
                    Ok(_) => {}
                    Err(object_store::Error::NotFound { .. }) => {
                        self.delete(&owner, &id).await?;
                        report.orphaned_records += 1;
                    }
                    Err(e) => return Err(StorageError::from_store("check", &path, e)),
                }
            }
        }
        for meta in list_under(self.store.as_ref(), "sessions").await? {
            let id = meta
                .location
                .filename()
                .and_then(|f| f.strip_suffix(".json"))
                .and_then(|f| ShareId::parse(f).ok());
            let Some(id) = id else { continue };
            if meta.last_modified < cutoff && !recorded.contains(&id) {
                // Re-check: a record written after our listing is not an orphan's.
                if matches!(self.older_record(&id).await, Err(StorageError::NotFound { .. })) {
                    self.delete_path(&meta.location).await?;
                    report.orphaned_documents += 1;
                }
            }
        }
        for meta in list_under(self.store.as_ref(), "_probe").await? {
            if meta.last_modified < cutoff {
                self.delete_path(&meta.location).await?;
                report.probes += 1;
            }
        }
        Ok(report)
    }
}

/// A record gc can act on: `None` when it is gone (deleted meanwhile) or corrupt (logged and
/// left for an operator); storage failures stop the run.
fn found(
    read: Result<(ShareRecord, object_store::UpdateVersion), StorageError>,
) -> Result<Option<ShareRecord>, StorageError> {
    match read {
        Ok((record, _)) => Ok(Some(record)),
        Err(StorageError::NotFound { .. }) => Ok(None),
        Err(StorageError::Corrupt { path, reason }) => {
            tracing::warn!(%path, %reason, "gc: skipping a corrupt share record");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
