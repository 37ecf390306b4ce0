//! The owner index: `owners/<id prefix>/<username>`, one empty object per owner, written once
//! when their first share is made. An id starts with its owner's prefix, so a read by id alone
//! lists `owners/<prefix>/` to find the folder (`sessions/<username>/`) the share is in. Owners
//! never change, so a replica remembers what it has found and asks storage once per prefix.

use std::sync::Arc;

use futures::TryStreamExt;
use moka::future::Cache;
use object_store::{ObjectStore, PutMode, PutOptions};

use super::{StorageError, layout};
use crate::domain::Username;

/// Prefixes with their owners, and owners whose entry is known to be written: a name and a
/// prefix each, about 100 bytes, so tens of megabytes at most.
const CAPACITY: u64 = 200_000;
/// How long a prefix with no owner is believed to have none (an owner's first share may have
/// been made through another replica since).
const UNKNOWN_FOR: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Clone)]
pub struct Owners {
    store: Arc<dyn ObjectStore>,
    by_prefix: Cache<String, Arc<Vec<Username>>>,
    none_for: Cache<String, ()>,
    written: Cache<Username, ()>,
}

impl Owners {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self {
            store,
            by_prefix: Cache::builder().max_capacity(CAPACITY).build(),
            none_for: Cache::builder().max_capacity(CAPACITY).time_to_live(UNKNOWN_FOR).build(),
            written: Cache::builder().max_capacity(CAPACITY).build(),
        }
    }

    /// The owners whose ids start with `prefix`: one, nearly always; none for ids this service
    /// did not make. (Two owners share a prefix only past millions of owners.)
    pub async fn with_prefix(&self, prefix: &str) -> Result<Arc<Vec<Username>>, StorageError> {
        if let Some(found) = self.by_prefix.get(prefix).await {
            return Ok(found);
        }
        if self.none_for.get(prefix).await.is_some()
            || prefix.len() != crate::domain::ShareId::OWNER_PREFIX_LEN
        {
            return Ok(Arc::default());
        }
        let path = layout::owners_of(prefix);
        let owners: Vec<Username> = self
            .store
            .list(Some(&path))
            .map_ok(|meta| meta.location.filename().and_then(|name| Username::parse(name).ok()))
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| StorageError::from_store("list", &path, e))?
            .into_iter()
            .flatten()
            .collect();
        if owners.is_empty() {
            self.none_for.insert(prefix.to_owned(), ()).await;
            return Ok(Arc::default());
        }
        let owners = Arc::new(owners);
        self.by_prefix.insert(prefix.to_owned(), owners.clone()).await;
        Ok(owners)
    }

    /// Makes sure ids of `owner` lead to their folder: one write the first time this replica
    /// sees the owner, none after.
    pub async fn ensure(&self, owner: &Username) -> Result<(), StorageError> {
        if self.written.get(owner).await.is_some() {
            return Ok(());
        }
        let path = layout::owner_entry(owner);
        let create = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store.put_opts(&path, "".into(), create).await {
            Ok(_)
            | Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => {}
            // A store without conditional writes: writing the empty entry again is harmless.
            Err(object_store::Error::NotImplemented { .. }) => {
                self.store
                    .put_opts(&path, "".into(), PutOptions::default())
                    .await
                    .map_err(|e| StorageError::from_store("write", &path, e))?;
            }
            Err(e) => return Err(StorageError::from_store("write", &path, e)),
        }
        self.written.insert(owner.clone(), ()).await;
        let prefix = owner.id_prefix();
        self.none_for.invalidate(&prefix).await;
        if let Some(known) = self.by_prefix.get(&prefix).await {
            if !known.contains(owner) {
                let mut more = known.as_ref().clone();
                more.push(owner.clone());
                self.by_prefix.insert(prefix, Arc::new(more)).await;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    #[tokio::test]
    async fn an_owner_written_once_is_found_by_prefix() {
        let store = Arc::new(InMemory::new());
        let owners = Owners::new(store.clone());
        let alice = Username::parse("alice").unwrap();
        assert!(owners.with_prefix(&alice.id_prefix()).await.unwrap().is_empty());
        owners.ensure(&alice).await.unwrap();
        owners.ensure(&alice).await.unwrap();
        assert_eq!(*owners.with_prefix(&alice.id_prefix()).await.unwrap(), vec![alice.clone()]);
        // Another replica, knowing nothing yet, finds it in storage.
        let other = Owners::new(store);
        assert_eq!(*other.with_prefix(&alice.id_prefix()).await.unwrap(), vec![alice]);
        assert!(other.with_prefix("short").await.unwrap().is_empty());
    }
}
