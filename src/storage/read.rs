//! Reading shares: by id (its prefix leads to the owner's folder through the owner index) or
//! by share code (the folder is named), the latest revision or an earlier one. A read is one
//! storage request in the steady state: the header of the object says who may see it before
//! any of the document streams.

use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::GetOptions;

use super::{
    SessionStore, StorageError, layout,
    share_file::{self, SplitError},
    store::{Found, Header, Slot, corrupt, version_of},
};
use crate::domain::{ShareId, ShareRecord, Username};

pub enum Opened {
    /// The compressed document (a deflate stream and its gzip trailer), streaming: `etag` as
    /// the store spells it; `compressed_len` its length.
    Found {
        etag: Option<String>,
        compressed_len: u64,
        rest: BoxStream<'static, object_store::Result<Bytes>>,
    },
    /// The store itself matched the `if_none_match` it was given.
    NotModified,
}

impl SessionStore {
    /// The folders `id` may be in: its owner's, when a share code names them, else those of
    /// the owners of its prefix (see [`super::owners`]).
    pub(super) async fn folders(
        &self,
        id: &ShareId,
        owner: Option<&Username>,
    ) -> Result<Vec<Username>, StorageError> {
        Ok(match owner {
            Some(owner) => vec![owner.clone()],
            None => self.owners.with_prefix(id.prefix()).await?.as_ref().clone(),
        })
    }

    /// Opens share `id` (in `owner`'s folder, when the reader names it): its record, then its
    /// latest document. `if_none_match` is an entity tag the reader has; storage is asked to
    /// match it only when it is the tag of the object a remembered record was read from, so
    /// that "not modified" means that very record, which decides who may see the share.
    pub async fn open(
        &self,
        id: &ShareId,
        owner: Option<&Username>,
        if_none_match: Option<&str>,
    ) -> Result<(ShareRecord, Opened), StorageError> {
        for folder in self.folders(id, owner).await? {
            let path = layout::share(&folder, id);
            let cached = match if_none_match {
                Some(tag) => self.caches.record(id).await.filter(|known| {
                    known.record.username == folder && super::etag_matches(tag, Some(&known.etag))
                }),
                None => None,
            };
            let asked = cached.as_ref().map(|known| known.etag.clone());
            match self.open_path(&path, asked).await? {
                Read::Missing => continue,
                Read::NotModified => {
                    let known = cached.expect("only asked with a remembered record");
                    return Ok((known.record, Opened::NotModified));
                }
                Read::Found(found, opened) => match found.slot() {
                    Slot::Live(record) => {
                        self.caches.remember(id, &record, found.version.e_tag.as_deref()).await;
                        return Ok((record, opened));
                    }
                    Slot::Dead => {
                        self.caches.dead(id).await;
                        break;
                    }
                    Slot::Withdrawn => break,
                },
            }
        }
        Err(StorageError::NotFound { path: format!("share {id}") })
    }

    /// Opens revision `revision` of share `id`. The latest's record decides who may see it
    /// (options apply to every revision) and whether the share keeps that revision; the
    /// revision's own says its size and messages. Both are read at once, fresh: two storage
    /// requests, one round trip.
    pub async fn open_revision(
        &self,
        id: &ShareId,
        owner: Option<&Username>,
        revision: u32,
        if_none_match: Option<&str>,
    ) -> Result<(ShareRecord, Opened), StorageError> {
        let owner = match owner {
            Some(owner) => owner.clone(),
            None => match self.folders(id, None).await?.as_slice() {
                [only] => only.clone(),
                _ => self.record(id, None).await?.username,
            },
        };
        let path = layout::revision(&owner, id, revision);
        let (latest, archived) = tokio::join!(
            self.record(id, Some(&owner)),
            self.open_path(&path, if_none_match.map(str::to_owned))
        );
        let latest = latest?;
        if revision == latest.revision {
            return self.open(id, Some(&owner), if_none_match).await;
        }
        let missing = || StorageError::NoSuchRevision { path: format!("share {id}"), revision };
        if !latest.earlier.iter().any(|r| r.revision == revision) {
            return Err(missing());
        }
        let (found, opened) = match archived? {
            Read::Missing => return Err(missing()),
            Read::NotModified => return Ok((latest, Opened::NotModified)),
            Read::Found(found, opened) => (found, opened),
        };
        let share_file::StoredRecord::Share(mut shown) = found.record else {
            return Err(corrupt(&path, "not a revision of a share"));
        };
        // The owner's options of now, this revision's document.
        shown.title = latest.title.clone();
        shown.description = latest.description.clone();
        shown.tags = latest.tags.clone();
        shown.visibility = latest.visibility;
        shown.link_generation = latest.link_generation;
        shown.expires_at = latest.expires_at;
        shown.earlier = latest.earlier.clone();
        Ok((shown, opened))
    }

    /// Reads the object at `path` up to the end of its header.
    async fn open_path(
        &self,
        path: &object_store::path::Path,
        if_none_match: Option<String>,
    ) -> Result<Read, StorageError> {
        let options = GetOptions { if_none_match, ..Default::default() };
        let result = match self.store.get_opts(path, options).await {
            Ok(result) => result,
            Err(object_store::Error::NotModified { .. }) => return Ok(Read::NotModified),
            Err(object_store::Error::NotFound { .. }) => return Ok(Read::Missing),
            Err(e) => return Err(StorageError::from_store("read", path, e)),
        };
        let (version, last_modified, size) =
            (version_of(&result.meta), result.meta.last_modified, result.meta.size);
        let etag = result.meta.e_tag.clone();
        let (record, header_len, rest) =
            share_file::split(result.into_stream()).await.map_err(|e| match e {
                SplitError::Read(e) => StorageError::from_store("read", path, e),
                SplitError::Format(e) => corrupt(path, e),
            })?;
        let opened =
            Opened::Found { etag, compressed_len: size.saturating_sub(header_len as u64), rest };
        Ok(Read::Found(Found { record, version, last_modified }, opened))
    }

    /// The share's record, fresh from storage (a ranged read of its header).
    pub async fn record(
        &self,
        id: &ShareId,
        owner: Option<&Username>,
    ) -> Result<ShareRecord, StorageError> {
        for folder in self.folders(id, owner).await? {
            let found = self.read_header(&layout::share(&folder, id)).await?;
            let etag = found.as_ref().and_then(|found| found.version.e_tag.clone());
            match found.map(|found| found.slot()) {
                None => continue,
                Some(Slot::Live(record)) => {
                    self.caches.remember(id, &record, etag.as_deref()).await;
                    return Ok(record);
                }
                Some(Slot::Dead) => {
                    self.caches.dead(id).await;
                    break;
                }
                Some(Slot::Withdrawn) => break,
            }
        }
        Err(StorageError::NotFound { path: format!("share {id}") })
    }

    /// The share's record as it is in storage now, for the pages: a remembered record is
    /// confirmed by the ETag it was read from (storage answers "not modified" without sending
    /// anything), else read. A change made through any replica counts at once.
    pub async fn current_record(
        &self,
        id: &ShareId,
        owner: Option<&Username>,
    ) -> Result<ShareRecord, StorageError> {
        let known = match self.caches.record(id).await {
            Some(known) if owner.is_none_or(|o| *o == known.record.username) => known,
            _ => return self.record(id, owner).await,
        };
        let path = layout::share(&known.record.username, id);
        let found = match self.read_header_unless(&path, Some(&known.etag)).await? {
            Header::Unchanged => return Ok(known.record),
            Header::Missing => None,
            Header::Found(found) => Some(found),
        };
        let etag = found.as_ref().and_then(|found| found.version.e_tag.clone());
        match found.map(|found| found.slot()) {
            Some(Slot::Live(record)) if owner.is_none_or(|o| *o == record.username) => {
                self.caches.remember(id, &record, etag.as_deref()).await;
                Ok(record)
            }
            Some(Slot::Dead) => {
                self.caches.dead(id).await;
                Err(StorageError::NotFound { path: format!("share {id}") })
            }
            _ => {
                self.caches.forget(id).await;
                Err(StorageError::NotFound { path: format!("share {id}") })
            }
        }
    }
}

/// What a read of one object found.
// Short-lived, matched at once: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Read {
    Missing,
    NotModified,
    Found(Found, Opened),
}
