//! The service's secrets in storage (`config/id-key`, `config/link-key`): 32 random bytes
//! each, made by whichever replica needs one first, read by every other.

use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, path::Path};

use super::{StorageError, objects::is_refusal};

/// The secret at `path`; made (64 hex digits) if there is none. Two replicas making one at
/// once agree: the second write is refused and that replica reads the first's.
pub async fn load_or_make(store: &dyn ObjectStore, path: &str) -> Result<[u8; 32], StorageError> {
    let path = Path::from(path);
    for _ in 0..3 {
        if let Some(key) = read(store, &path).await? {
            return Ok(key);
        }
        let fresh: [u8; 32] = rand::random();
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        match store.put_opts(&path, hex::encode(fresh).into(), options).await {
            Ok(_) => return Ok(fresh),
            Err(e) if is_refusal(&e) => {}
            Err(e) => return Err(StorageError::from_store("write", &path, e)),
        }
    }
    Err(StorageError::Corrupt { path: path.to_string(), reason: "keeps changing".into() })
}

async fn read(store: &dyn ObjectStore, path: &Path) -> Result<Option<[u8; 32]>, StorageError> {
    let bytes = match store.get(path).await {
        Ok(found) => found.bytes().await.map_err(|e| StorageError::from_store("read", path, e))?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(StorageError::from_store("read", path, e)),
    };
    let corrupt =
        || StorageError::Corrupt { path: path.to_string(), reason: "not 64 hex digits".into() };
    let raw = hex::decode(String::from_utf8_lossy(&bytes).trim()).map_err(|_| corrupt())?;
    Ok(Some(raw.try_into().map_err(|_| corrupt())?))
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;
    use crate::storage::layout;

    #[tokio::test]
    async fn the_first_key_made_is_the_one_everybody_reads() {
        let store = InMemory::new();
        let (a, b) = tokio::join!(
            load_or_make(&store, layout::ID_KEY),
            load_or_make(&store, layout::ID_KEY)
        );
        assert_eq!(a.unwrap(), b.unwrap());
        let again = load_or_make(&store, layout::ID_KEY).await.unwrap();
        let stored = store.get(&Path::from(layout::ID_KEY)).await.unwrap().bytes().await.unwrap();
        assert_eq!(stored, hex::encode(again));
        let other = load_or_make(&store, layout::LINK_KEY).await.unwrap();
        assert_ne!(other, again, "each secret its own");
    }
}
