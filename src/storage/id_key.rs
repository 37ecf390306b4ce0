//! `config/id-key`: the secret behind task share ids, made by whichever replica needs it first.

use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, path::Path};

use super::{StorageError, layout};
use crate::domain::IdKey;

/// The stored key; made (64 hex digits) if there is none. Two replicas making one at once
/// agree: the second write is refused and that replica reads the first's.
pub async fn load_or_make(store: &dyn ObjectStore) -> Result<IdKey, StorageError> {
    let path = Path::from(layout::ID_KEY);
    for _ in 0..3 {
        if let Some(key) = read(store, &path).await? {
            return Ok(key);
        }
        let fresh = IdKey::generate();
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        match store.put_opts(&path, hex::encode(fresh.as_bytes()).into(), options).await {
            Ok(_) => return Ok(fresh),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => {}
            Err(e) => return Err(StorageError::from_store("write", &path, e)),
        }
    }
    Err(StorageError::Corrupt { path: path.to_string(), reason: "keeps changing".into() })
}

async fn read(store: &dyn ObjectStore, path: &Path) -> Result<Option<IdKey>, StorageError> {
    let bytes = match store.get(path).await {
        Ok(found) => found.bytes().await.map_err(|e| StorageError::from_store("read", path, e))?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(StorageError::from_store("read", path, e)),
    };
    let corrupt =
        || StorageError::Corrupt { path: path.to_string(), reason: "not 64 hex digits".into() };
    let raw = hex::decode(String::from_utf8_lossy(&bytes).trim()).map_err(|_| corrupt())?;
    Ok(Some(IdKey::from_bytes(raw.try_into().map_err(|_| corrupt())?)))
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    #[tokio::test]
    async fn the_first_key_made_is_the_one_everybody_reads() {
        let store = InMemory::new();
        let (a, b) = tokio::join!(load_or_make(&store), load_or_make(&store));
        assert_eq!(a.unwrap().as_bytes(), b.unwrap().as_bytes());
        let again = load_or_make(&store).await.unwrap();
        let stored = store.get(&Path::from(layout::ID_KEY)).await.unwrap().bytes().await.unwrap();
        assert_eq!(stored, hex::encode(again.as_bytes()));
    }
}
