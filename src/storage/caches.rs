//! What a replica remembers between requests, each bounded in entries.
//!
//! - **Records**, by share id, with the ETag of the stored object they were read from. A
//!   record is never trusted as it is: a page confirms it with storage by that ETag (a
//!   conditional read that storage answers "not modified" without a body), so a share made
//!   private or deleted through any replica is refused here at once; and storage may answer a
//!   client's `If-None-Match` by itself only when the tag is the one the record was read from.
//!   After a write through this replica the record is forgotten: the next read reads it.
//! - **Listing indexes**, per owner (see [`super::listing`]).
//! - **Shares seen**: ids this replica has read or written. Sharing such a task again reads the
//!   share first instead of trying a create that storage would refuse.

use std::sync::Arc;

use moka::future::Cache;

use super::owner_index::Index;
use crate::{
    domain::{ShareId, ShareRecord, Username},
    metrics::Metrics,
};

/// About 1 KB each at most (title, description, tags, excerpt): tens of megabytes at worst.
const RECORDS: u64 = 20_000;
/// An id: under 100 bytes each.
const SEEN: u64 = 500_000;
/// Shares kept in listing indexes, all owners together: a record is about 1 KB, so a few
/// hundred megabytes at most.
const LISTED: u64 = 300_000;
/// How long a record no one asks for is kept: every use confirms it with storage anyway.
const RECORD_IDLE: std::time::Duration = std::time::Duration::from_secs(600);

/// A share's record as read, and the ETag of the object it was read from.
#[derive(Debug, Clone)]
pub struct Known {
    pub record: ShareRecord,
    pub etag: String,
}

#[derive(Clone)]
pub struct Caches {
    records: Option<Cache<ShareId, Known>>,
    /// Owners' listing indexes (see `listing`), weighed by their shares.
    listings: Cache<Username, Arc<Index>>,
    seen: Cache<ShareId, ()>,
    metrics: Arc<Metrics>,
}

impl Caches {
    /// No record cache (every read asks storage); shares seen are still remembered.
    pub fn off() -> Self {
        Self {
            records: None,
            listings: Cache::builder()
                .weigher(|_, index: &Arc<Index>| u32::try_from(index.len() + 1).unwrap_or(u32::MAX))
                .max_capacity(LISTED)
                .build(),
            seen: Cache::builder().max_capacity(SEEN).build(),
            metrics: Metrics::new(),
        }
    }

    pub fn new(ttl: std::time::Duration, metrics: Arc<Metrics>) -> Self {
        let records = (!ttl.is_zero())
            .then(|| Cache::builder().max_capacity(RECORDS).time_to_idle(RECORD_IDLE).build());
        Self { records, metrics, ..Self::off() }
    }

    pub async fn record(&self, id: &ShareId) -> Option<Known> {
        let cache = self.records.as_ref()?;
        let found = cache.get(id).await;
        self.metrics.cache("records", found.is_some());
        found
    }

    /// `record`, as read from the object whose ETag is `etag` (none known: only that it was seen
    /// is kept).
    pub async fn remember(&self, id: &ShareId, record: &ShareRecord, etag: Option<&str>) {
        if let Some(cache) = &self.records {
            match etag {
                Some(etag) => {
                    let known = Known { record: record.clone(), etag: etag.to_owned() };
                    cache.insert(id.clone(), known).await;
                }
                None => cache.invalidate(id).await,
            }
        }
        self.seen.insert(id.clone(), ()).await;
    }

    /// This replica wrote `record`: it is seen, the record is read again
    /// when next needed (with the ETag storage gives it).
    pub async fn wrote(&self, id: &ShareId, record: &ShareRecord) {
        self.remember(id, record, None).await;
    }

    pub async fn forget(&self, id: &ShareId) {
        if let Some(cache) = &self.records {
            cache.invalidate(id).await;
        }
    }

    pub async fn dead(&self, id: &ShareId) {
        self.forget(id).await;
        self.seen.insert(id.clone(), ()).await;
    }

    /// `owner`'s listing index as this replica last made it current.
    pub async fn listing(&self, owner: &Username) -> Option<Arc<Index>> {
        let found = self.listings.get(owner).await;
        self.metrics.cache("listings", found.is_some());
        found
    }

    pub async fn keep_listing(&self, owner: &Username, index: Arc<Index>) {
        self.listings.insert(owner.clone(), index).await;
    }

    /// Whether this replica has read or written share `id` (live or dead).
    pub fn seen(&self, id: &ShareId) -> bool {
        self.seen.contains_key(id)
    }
}
