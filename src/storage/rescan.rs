//! `session-share scan`: shares stored before credentials were looked for (or under
//! `--secret-policy off`), checked again, and on request rewritten without them.

use super::{
    SessionStore, StorageError, layout,
    share_file::{self, Compressed, StoredRecord},
    store::corrupt,
    writes::is_refusal,
};
use crate::domain::{ShareId, Username};

/// What a document becomes without its credentials.
pub struct Cleaned {
    pub document: Vec<u8>,
    /// The rule that found each credential, in document order.
    pub rules: Vec<String>,
}

/// A stored document with credentials in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub owner: Username,
    pub id: ShareId,
    pub revision: u32,
    pub rules: Vec<String>,
    /// `Some(true)`: rewritten without them; `Some(false)`: it changed while it was scanned,
    /// and was left for the next run; `None`: not asked to rewrite.
    pub redacted: Option<bool>,
}

/// What a scan went through.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanReport {
    pub documents: usize,
    pub hits: Vec<Hit>,
}

impl SessionStore {
    /// Runs `clean` over every stored document (each share's latest and earlier revisions),
    /// of `owner`'s shares or everyone's. With `rewrite`, a document `clean` changes is stored
    /// again as cleaned, over the version read (a concurrent change wins), its record saying
    /// its new size and how many credentials were removed.
    pub async fn rescan(
        &self,
        owner: Option<&Username>,
        rewrite: bool,
        clean: impl Fn(&[u8]) -> Option<Cleaned>,
    ) -> Result<ScanReport, StorageError> {
        let folder = match owner {
            Some(owner) => layout::owner_folder(owner),
            None => object_store::path::Path::from(layout::SESSIONS),
        };
        let mut report = ScanReport::default();
        for meta in super::list_under(self.store.as_ref(), folder.as_ref()).await? {
            let (owner, id, archived) = match layout::parse(&meta.location) {
                Some(layout::Stored::Share { owner, id }) => (owner, id, None),
                Some(layout::Stored::Revision { owner, id, revision }) => {
                    (owner, id, Some(revision))
                }
                None => continue,
            };
            let path = meta.location;
            let Some((found, _, object)) = self.read_whole(&path).await? else { continue };
            let StoredRecord::Share(mut record) = found.record else { continue };
            let limit = record.size.max(1 << 20);
            let document = crate::compression::gunzip(&object, limit)
                .map_err(|e| corrupt(&path, e.to_string()))?;
            report.documents += 1;
            let Some(cleaned) = clean(&document) else { continue };
            let mut hit = Hit {
                owner: owner.clone(),
                id: id.clone(),
                revision: archived.unwrap_or(record.revision),
                rules: cleaned.rules.clone(),
                redacted: None,
            };
            if rewrite {
                record.size = cleaned.document.len() as u64;
                record.redactions += cleaned.rules.len() as u32;
                let object = share_file::object(
                    &StoredRecord::Share(record.clone()),
                    &Compressed::of(&cleaned.document),
                )
                .map_err(|e| corrupt(&path, e))?;
                hit.redacted = Some(match self.put_over(&path, object, found.version).await {
                    Ok(()) => true,
                    Err(e) if is_refusal(&e) => false,
                    Err(e) => return Err(StorageError::from_store("write", &path, e)),
                });
                if hit.redacted == Some(true) {
                    self.caches.forget(&id).await;
                    if let Some(revision) = archived {
                        self.note_rewritten_revision(&owner, &id, revision, &record).await?;
                    }
                }
            }
            report.hits.push(hit);
        }
        Ok(report)
    }

    /// The latest record lists each earlier revision's size and redactions: it says what a
    /// rewrite of one made of it.
    async fn note_rewritten_revision(
        &self,
        owner: &Username,
        id: &ShareId,
        revision: u32,
        rewritten: &crate::domain::ShareRecord,
    ) -> Result<(), StorageError> {
        let noted = self
            .update_options(owner, id, |latest| {
                if let Some(entry) = latest.earlier.iter_mut().find(|r| r.revision == revision) {
                    entry.size = rewritten.size;
                    entry.redactions = rewritten.redactions;
                }
                Ok::<(), std::convert::Infallible>(())
            })
            .await;
        match noted {
            Ok(_) | Err(super::UpdateError::Storage(StorageError::NotFound { .. })) => Ok(()),
            Err(super::UpdateError::Storage(e)) => Err(e),
            Err(super::UpdateError::Rejected(never)) => match never {},
        }
    }
}
