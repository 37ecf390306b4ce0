//! An owner's shares, newest first by when each was made, at a cost that does not grow with
//! how many there are.
//!
//! A LIST of the owner's folder names every share with its ETag, and a share's ETag changes
//! whenever its record or its document does. A replica keeps an index of the owner's shares:
//! each one's record with the ETag it was read at. A share whose ETag in the LIST is the one
//! the index has is current; only new and changed shares are read. So a warm page, a search or
//! a tag filter costs the LIST alone, and a change made through any replica shows at once.
//!
//! A replica that has no index yet (after a restart, a deploy, or a new replica) reads the
//! owner's snapshot first (`listings/<username>.json.gz`, the index as gzip JSON, one request),
//! and checks it against the LIST the same way. Whoever has read many records to bring an
//! index up to date writes the snapshot again. The snapshot is a cache of the share objects and
//! never the truth: a lost, stale or corrupt one costs reads, never a wrong answer, and writing
//! it needs no condition (last writer wins; each entry carries the ETag it is true for).

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::{
    SessionStore, StorageError, layout,
    owner_index::{Entry, Index},
    store::Slot,
};
use crate::domain::{ShareId, ShareRecord, Username};

/// Records read at once while listing.
const CONCURRENCY: usize = 16;
/// An index that took this many reads to bring up to date is written as the owner's snapshot:
/// the next cold replica then reads at most about this many.
pub const REWRITE_AFTER: usize = 20;

/// Where a page starts: after this share, in newest-first order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPosition {
    pub created_at: DateTime<Utc>,
    pub id: ShareId,
}

impl ListPosition {
    /// Newest first; ties broken by id so the order is total.
    fn key(&self) -> (std::cmp::Reverse<DateTime<Utc>>, std::cmp::Reverse<&ShareId>) {
        (std::cmp::Reverse(self.created_at), std::cmp::Reverse(&self.id))
    }
}

/// One page of a listing.
pub struct ListPage {
    pub items: Vec<(ShareId, ShareRecord)>,
    /// Where the next page starts, if there may be one.
    pub next: Option<ListPosition>,
}

/// The snapshot as stored (`gunzip | jq` reads it).
#[derive(Serialize, Deserialize)]
struct Snapshot {
    owner: Username,
    written_at: DateTime<Utc>,
    shares: Index,
}

impl SessionStore {
    /// Up to `limit` of `owner`'s live, unexpired shares that `keep` accepts, newest first,
    /// after `after`.
    pub async fn list_page(
        &self,
        owner: &Username,
        after: Option<&ListPosition>,
        limit: usize,
        keep: impl Fn(&ShareRecord) -> bool,
    ) -> Result<ListPage, StorageError> {
        self.list_page_of(std::slice::from_ref(owner), after, limit, keep).await
    }

    /// As [`Self::list_page`], over the shares of all of `owners` together (a team's).
    pub async fn list_page_of(
        &self,
        owners: &[Username],
        after: Option<&ListPosition>,
        limit: usize,
        keep: impl Fn(&ShareRecord) -> bool,
    ) -> Result<ListPage, StorageError> {
        let now = Utc::now();
        let mut indexes = Vec::with_capacity(owners.len());
        for owner in owners {
            indexes.push((owner, self.owner_index(owner).await?));
        }
        // Borrowed while sorted: only the page's records are copied.
        let mut shares: Vec<(ListPosition, &ShareRecord)> = indexes
            .iter()
            .flat_map(|(owner, index)| {
                index.iter().filter_map(|(id, entry)| {
                    let record = entry.record.as_ref()?;
                    // An owner's folder holds only their shares; a prefix shared with another
                    // owner never brings theirs here, but the record says whose it is.
                    (record.username == **owner && !record.is_expired(now) && keep(record)).then(
                        || (ListPosition { created_at: record.created_at, id: id.clone() }, record),
                    )
                })
            })
            .filter(|(position, _)| after.is_none_or(|after| position.key() > after.key()))
            .collect();
        shares.sort_unstable_by(|a, b| a.0.key().cmp(&b.0.key()));
        let more = shares.len() > limit;
        shares.truncate(limit);
        let next = more.then(|| shares.last().map(|(position, _)| position.clone())).flatten();
        Ok(ListPage {
            items: shares
                .into_iter()
                .map(|(position, record)| (position.id, record.clone()))
                .collect(),
            next,
        })
    }

    /// `owner`'s index, current as of a LIST made now: from this replica's memory or the
    /// owner's snapshot, with every share that is new or changed since read again.
    pub async fn owner_index(&self, owner: &Username) -> Result<Arc<Index>, StorageError> {
        let folder = layout::owner_folder(owner);
        let listed = self
            .store
            .list_with_delimiter(Some(&folder))
            .await
            .map_err(|e| StorageError::from_store("list", &folder, e))?;
        let listed: Vec<(ShareId, String)> = listed
            .objects
            .iter()
            .filter_map(|meta| match layout::parse(&meta.location)? {
                layout::Stored::Share { id, .. } => Some((id, listed_etag(meta))),
                layout::Stored::Revision { .. } => None,
            })
            .collect();
        let (known, remembered) = match self.caches.listing(owner).await {
            Some(index) => (index, true),
            None => (Arc::new(self.read_snapshot(owner).await), false),
        };
        let stale: Vec<(ShareId, String)> = listed
            .iter()
            .filter(|(id, etag)| known.get(id).is_none_or(|entry| entry.etag != *etag))
            .cloned()
            .collect();
        let unchanged = stale.is_empty() && known.len() == listed.len();
        if unchanged {
            if !remembered {
                self.caches.keep_listing(owner, known.clone()).await;
            }
            return Ok(known);
        }
        let read: Vec<(ShareId, Entry)> = futures::stream::iter(stale.iter().cloned())
            .map(|(id, etag)| async move {
                let entry = self.entry(owner, &id, etag).await?;
                Ok::<_, StorageError>((id, entry))
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        let mut index: Index = listed
            .into_iter()
            .filter_map(|(id, _)| known.get(&id).map(|entry| (id, entry.clone())))
            .collect();
        for (id, entry) in read {
            if let Some(record) = &entry.record {
                self.caches.remember(&id, record, Some(&entry.etag)).await;
            }
            index.insert(id, entry);
        }
        let index = Arc::new(index);
        self.caches.keep_listing(owner, index.clone()).await;
        if stale.len() >= REWRITE_AFTER || (!remembered && known.is_empty() && !index.is_empty()) {
            self.write_snapshot(owner, &index).await;
        }
        Ok(index)
    }

    /// What `owner`'s share `id` is now; `etag` is the LIST's, kept if storage gives none.
    async fn entry(
        &self,
        owner: &Username,
        id: &ShareId,
        etag: String,
    ) -> Result<Entry, StorageError> {
        let path = layout::share(owner, id);
        let found = match self.read_header(&path).await {
            Ok(found) => found,
            // Not a share of ours: never listed, and not read again until it changes.
            Err(StorageError::Corrupt { .. }) => return Ok(Entry { etag, record: None }),
            Err(e) => return Err(e),
        };
        let Some(found) = found else { return Ok(Entry { etag, record: None }) };
        // The LIST's spelling of the ETag is what the next LIST is compared with; storage's
        // own, only if the object changed between the two.
        let bare = |tag: &str| tag.trim_matches('"').to_owned();
        let etag = match &found.version.e_tag {
            Some(got) if bare(got) != bare(&etag) => got.clone(),
            _ => etag,
        };
        let record = match found.slot() {
            Slot::Live(record) => Some(record),
            Slot::Dead => {
                self.caches.dead(id).await;
                None
            }
            Slot::Withdrawn => None,
        };
        Ok(Entry { etag, record })
    }

    /// The owner's snapshot, or an empty index if there is none or it cannot be read (a
    /// snapshot only saves reads: without it every share is read).
    async fn read_snapshot(&self, owner: &Username) -> Index {
        let path = layout::listing_snapshot(owner);
        let bytes = match self.store.get(&path).await {
            Ok(found) => found.bytes().await,
            Err(object_store::Error::NotFound { .. }) => return Index::new(),
            Err(e) => Err(e),
        };
        let parsed = bytes.map_err(|e| e.to_string()).and_then(|bytes| {
            let json =
                crate::compression::gunzip(&bytes, 512 * 1024 * 1024).map_err(|e| e.to_string())?;
            serde_json::from_slice::<Snapshot>(&json).map_err(|e| e.to_string())
        });
        match parsed {
            Ok(snapshot) if snapshot.owner == *owner => snapshot.shares,
            Ok(_) => Index::new(),
            Err(error) => {
                tracing::warn!(%path, %error, "a listing snapshot that cannot be read: reading the shares");
                Index::new()
            }
        }
    }

    /// Writes `owner`'s snapshot; a failure only means the next cold replica reads more.
    async fn write_snapshot(&self, owner: &Username, index: &Index) {
        let path = layout::listing_snapshot(owner);
        let snapshot =
            Snapshot { owner: owner.clone(), written_at: Utc::now(), shares: index.clone() };
        let json = serde_json::to_vec(&snapshot).expect("a snapshot serializes");
        let gzip: Bytes = crate::compression::gzip(&json);
        let written =
            self.put(&path, PutPayload::from(gzip), object_store::PutMode::Overwrite).await;
        if let Err(error) = written {
            tracing::warn!(%path, %error, "the listing snapshot was not written");
        }
    }
}

/// The ETag a LIST gives an object; a store that gives none is compared by time and size.
fn listed_etag(meta: &object_store::ObjectMeta) -> String {
    meta.e_tag.clone().unwrap_or_else(|| {
        format!("{}-{}", meta.last_modified.timestamp_nanos_opt().unwrap_or(0), meta.size)
    })
}
