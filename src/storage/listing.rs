//! An owner's shares, newest first by when each was made.
//!
//! Storage lists an owner's folder in name order, and names (ids) say nothing of time, so the
//! order comes from each share's record: a replica remembers when each share was made (that
//! never changes), and reads records only for shares it has not seen and, fresh, for the page
//! it answers. A change of options or a new revision leaves a share where it was in the order.

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};

use super::{SessionStore, StorageError, caches::Order, layout, store::Slot};
use crate::domain::{ShareId, ShareRecord, Username};

/// Records read at once while listing.
const CONCURRENCY: usize = 16;

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
        let mut ids: Vec<(Username, ShareId)> = Vec::new();
        for owner in owners {
            let folder = layout::owner_folder(owner);
            let listed = self
                .store
                .list_with_delimiter(Some(&folder))
                .await
                .map_err(|e| StorageError::from_store("list", &folder, e))?;
            ids.extend(listed.objects.iter().filter_map(|meta| {
                match layout::parse(&meta.location)? {
                    layout::Stored::Share { owner, id } => Some((owner, id)),
                    layout::Stored::Revision { .. } => None,
                }
            }));
        }
        // When each was made: remembered, or read (and its record kept for the page).
        let mut fresh = std::collections::HashMap::new();
        let mut order = Vec::with_capacity(ids.len());
        let mut unknown = Vec::new();
        let owner_of: std::collections::HashMap<ShareId, Username> =
            ids.iter().map(|(owner, id)| (id.clone(), owner.clone())).collect();
        for (owner, id) in ids {
            match self.caches.order(&id).await {
                Some(Order::Made(at)) => order.push(ListPosition { created_at: at, id }),
                Some(Order::Dead) => {}
                None => unknown.push((owner, id)),
            }
        }
        let read: Vec<(ShareId, Option<ShareRecord>)> = futures::stream::iter(unknown)
            .map(|(owner, id)| async move {
                let record = self.live_record(&owner, &id).await?;
                Ok::<_, StorageError>((id, record))
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        for (id, record) in read {
            if let Some(record) = record {
                order.push(ListPosition { created_at: record.created_at, id: id.clone() });
                fresh.insert(id, record);
            }
        }
        order.sort_by(|a, b| a.key().cmp(&b.key()));
        if let Some(after) = after {
            order.retain(|p| p.key() > after.key());
        }
        let total = order.len();
        let mut records = futures::stream::iter(order.into_iter().map(|position| {
            let known = fresh.remove(&position.id);
            let owner = owner_of[&position.id].clone();
            async move {
                // Fresh: an owner sees their changes at once, whichever replica made them.
                let record = match known {
                    Some(record) => Some(record),
                    None => self.live_record(&owner, &position.id).await?,
                };
                Ok::<_, StorageError>((position, record))
            }
        }))
        .buffered(CONCURRENCY);
        let now = Utc::now();
        let (mut items, mut last, mut scanned) = (Vec::new(), None, 0);
        while let Some(next) = records.next().await {
            let (position, record) = next?;
            scanned += 1;
            let Some(record) = record else { continue };
            if record.is_expired(now) || !keep(&record) {
                continue;
            }
            items.push((position.id.clone(), record));
            last = Some(position);
            if items.len() == limit {
                break;
            }
        }
        let next = if items.len() == limit && scanned < total { last } else { None };
        Ok(ListPage { items, next })
    }

    /// The record of `owner`'s share `id` if it is live (read from storage).
    async fn live_record(
        &self,
        owner: &Username,
        id: &ShareId,
    ) -> Result<Option<ShareRecord>, StorageError> {
        let found = self.read_header(&layout::share(owner, id)).await?;
        let etag = found.as_ref().and_then(|f| f.version.e_tag.clone());
        match found.map(|f| f.slot()) {
            Some(Slot::Live(record)) => {
                self.caches.remember(id, &record, etag.as_deref()).await;
                Ok(Some(record))
            }
            Some(Slot::Dead) => {
                self.caches.dead(id).await;
                Ok(None)
            }
            Some(Slot::Withdrawn) | None => Ok(None),
        }
    }
}
