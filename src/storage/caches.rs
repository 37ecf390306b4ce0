//! What a replica remembers between requests, each bounded in entries.
//!
//! - **Records**, by share id, for `--metadata-cache-ttl`: a change made through another
//!   replica is seen here within it. Reads use them to let storage answer `If-None-Match` and
//!   to decide access to a share page or a revision without reading the share again.
//! - **Listing order**: when a share was made, or that its id is dead. Neither ever changes,
//!   so a listing sorts an owner's shares without reading each of them again.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use moka::future::Cache;

use crate::{
    domain::{ShareId, ShareRecord},
    metrics::Metrics,
};

/// About 1 KB each at most (title, description, tags, excerpt): tens of megabytes at worst.
const RECORDS: u64 = 20_000;
/// An id and a time: under 100 bytes each.
const ORDER: u64 = 500_000;

#[derive(Clone)]
pub struct Caches {
    records: Option<Cache<ShareId, ShareRecord>>,
    order: Cache<ShareId, Order>,
    metrics: Arc<Metrics>,
}

/// Where a share sorts in its owner's listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Made(DateTime<Utc>),
    /// Deleted or expired for good: never listed.
    Dead,
}

impl Caches {
    /// No record cache (every read asks storage); listing order is still remembered.
    pub fn off() -> Self {
        Self {
            records: None,
            order: Cache::builder().max_capacity(ORDER).build(),
            metrics: Metrics::new(),
        }
    }

    pub fn new(ttl: std::time::Duration, metrics: Arc<Metrics>) -> Self {
        let records = (!ttl.is_zero())
            .then(|| Cache::builder().max_capacity(RECORDS).time_to_live(ttl).build());
        Self { records, metrics, ..Self::off() }
    }

    pub async fn record(&self, id: &ShareId) -> Option<ShareRecord> {
        let cache = self.records.as_ref()?;
        let found = cache.get(id).await;
        self.metrics.cache("records", found.is_some());
        found
    }

    pub async fn remember(&self, id: &ShareId, record: &ShareRecord) {
        if let Some(cache) = &self.records {
            cache.insert(id.clone(), record.clone()).await;
        }
        self.order.insert(id.clone(), Order::Made(record.created_at)).await;
    }

    pub async fn forget(&self, id: &ShareId) {
        if let Some(cache) = &self.records {
            cache.invalidate(id).await;
        }
    }

    pub async fn dead(&self, id: &ShareId) {
        self.forget(id).await;
        self.order.insert(id.clone(), Order::Dead).await;
    }

    pub async fn order(&self, id: &ShareId) -> Option<Order> {
        self.order.get(id).await
    }
}
