use std::sync::{
    Arc,
    atomic::{AtomicU8, Ordering},
};

use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions};

/// Whether the store refuses to overwrite an object written with `If-None-Match: *`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionalWrites {
    /// Not known yet: the probe has not reached storage.
    Unknown = 0,
    Supported = 1,
    /// The store overwrites silently or refuses the header: ids are then claimed with a
    /// check-then-write, which is not atomic (see README).
    Unsupported = 2,
}

impl ConditionalWrites {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Supported => "supported",
            Self::Unsupported => "unsupported",
        }
    }
}

/// The probe's result, shared between the create path and the health route.
#[derive(Debug, Clone, Default)]
pub struct ConditionalWritesState(Arc<AtomicU8>);

impl ConditionalWritesState {
    pub fn get(&self) -> ConditionalWrites {
        match self.0.load(Ordering::Relaxed) {
            1 => ConditionalWrites::Supported,
            2 => ConditionalWrites::Unsupported,
            _ => ConditionalWrites::Unknown,
        }
    }

    pub fn set(&self, value: ConditionalWrites) {
        self.0.store(value as u8, Ordering::Relaxed);
    }
}

/// Writes a scratch object twice with `PutMode::Create`; a store that honours conditional
/// writes refuses the second. Errors other than "refused" mean storage is not reachable.
pub async fn probe_conditional_writes(
    store: &dyn ObjectStore,
) -> Result<ConditionalWrites, object_store::Error> {
    let path = super::layout::probe();
    let create = || PutOptions { mode: PutMode::Create, ..Default::default() };
    let first = store.put_opts(&path, "first".into(), create()).await;
    let result = match first {
        Err(object_store::Error::NotImplemented { .. }) => {
            return Ok(ConditionalWrites::Unsupported);
        }
        // Nothing written, or nothing known to be: a write that landed unanswered is what
        // `gc` collects from `_probe/`.
        Err(e) => return Err(e),
        Ok(_) => match store.put_opts(&path, "second".into(), create()).await {
            Err(object_store::Error::AlreadyExists { .. }) => Ok(ConditionalWrites::Supported),
            Ok(_) | Err(object_store::Error::NotImplemented { .. }) => {
                Ok(ConditionalWrites::Unsupported)
            }
            Err(e) => Err(e),
        },
    };
    // The first write landed: the scratch object goes whatever the second said. A failed
    // delete leaves it to `gc`.
    let _ = store.delete(&path).await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The second write fails (storage went away between the two): the probe reports the
    /// failure and still takes its scratch object back.
    #[tokio::test]
    async fn a_failed_probe_leaves_nothing_behind() {
        use crate::storage::testing::{Misbehaving, Misbehaviour};
        let store = Misbehaving::new(Misbehaviour::FailWritesAfter(1));
        assert!(probe_conditional_writes(&store).await.is_err());
        assert!(store.paths().await.is_empty(), "{:?}", store.paths().await);
    }

    #[tokio::test]
    async fn memory_and_local_stores_support_conditional_writes() {
        let memory = object_store::memory::InMemory::new();
        assert_eq!(probe_conditional_writes(&memory).await.unwrap(), ConditionalWrites::Supported);
        let dir = tempfile::tempdir().unwrap();
        let local = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        assert_eq!(probe_conditional_writes(&local).await.unwrap(), ConditionalWrites::Supported);
    }
}
