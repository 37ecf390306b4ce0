use std::sync::Arc;

use chrono::{DateTime, Utc};
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, path::Path};
use serde::{Deserialize, Serialize};

use super::StorageError;
use crate::{
    domain::{ApiKey, KeyHash, Username},
    metrics::Metrics,
};

/// What storage knows about a key: never the key, only whose it is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KeyRecord {
    pub key_id: String,
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("unknown API key")]
    Unknown,
    #[error("API key {key_id} was revoked")]
    Revoked { key_id: String },
    #[error("no key has the id {0}")]
    NoSuchKeyId(String),
    #[error("key id {0} is ambiguous; give more of it")]
    AmbiguousKeyId(String),
    #[error("invalid label: {0}")]
    InvalidLabel(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Issues, checks, lists and revokes API keys, in the same object store as the sessions
/// (`keys/<sha256>.json`), so any number of service replicas and the CLI see the same keys.
#[derive(Clone)]
pub struct KeyStore {
    store: Arc<dyn ObjectStore>,
    verdicts: Option<VerdictCache>,
}

/// Recent answers of [`KeyStore::authenticate`], by key hash (never by key).
#[derive(Clone)]
struct VerdictCache {
    verdicts: moka::future::Cache<String, Verdict>,
    metrics: Arc<Metrics>,
}

#[derive(Clone)]
enum Verdict {
    Valid(Username),
    Unknown,
    Revoked { key_id: String },
}

/// About 200 bytes each: 20 MB at most. Made-up keys sent on reads fill it too (each is an
/// `Unknown` verdict), so it is bounded well below what matters; a key pushed out is simply
/// looked up again.
const VERDICT_CACHE_ENTRIES: u64 = 100_000;

fn record_path(hash: &KeyHash) -> Path {
    super::layout::key(hash)
}

impl KeyStore {
    pub const MAX_LABEL_LEN: usize = 100;

    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store, verdicts: None }
    }

    /// Remember each key check's answer for `ttl` (none if zero): a key made or revoked by
    /// the CLI or another replica takes effect here within `ttl`.
    pub fn with_cache(mut self, ttl: std::time::Duration, metrics: Arc<Metrics>) -> Self {
        if !ttl.is_zero() {
            self.verdicts = Some(VerdictCache {
                verdicts: moka::future::Cache::builder()
                    .max_capacity(VERDICT_CACHE_ENTRIES)
                    .time_to_live(ttl)
                    .build(),
                metrics,
            });
        }
        self
    }

    /// Makes a key for `owner`. The returned [`ApiKey`] is the only copy of the secret.
    pub async fn create(
        &self,
        owner: &Username,
        label: Option<String>,
    ) -> Result<(ApiKey, KeyRecord), KeyStoreError> {
        if let Some(label) = &label {
            if label.chars().count() > Self::MAX_LABEL_LEN || label.chars().any(char::is_control) {
                return Err(KeyStoreError::InvalidLabel(format!(
                    "at most {} characters, no control characters",
                    Self::MAX_LABEL_LEN
                )));
            }
        }
        let key = ApiKey::generate();
        let hash = key.hash();
        let record = KeyRecord {
            key_id: hash.key_id().to_owned(),
            username: owner.to_string(),
            label,
            created_at: Utc::now(),
            revoked_at: None,
        };
        self.write(&hash, &record, PutMode::Create).await?;
        Ok((key, record))
    }

    /// Whose key this is. Unknown and revoked keys are refused.
    pub async fn authenticate(&self, key: &ApiKey) -> Result<Username, KeyStoreError> {
        let hash = key.hash();
        let verdict = match &self.verdicts {
            None => self.look_up(&hash).await?,
            Some(cache) => match cache.verdicts.get(hash.as_str()).await {
                Some(verdict) => {
                    cache.metrics.cache("keys", true);
                    verdict
                }
                None => {
                    cache.metrics.cache("keys", false);
                    // Storage failures are not remembered: the next request asks again.
                    let verdict = self.look_up(&hash).await?;
                    cache.verdicts.insert(hash.as_str().to_owned(), verdict.clone()).await;
                    verdict
                }
            },
        };
        match verdict {
            Verdict::Valid(user) => Ok(user),
            Verdict::Unknown => Err(KeyStoreError::Unknown),
            Verdict::Revoked { key_id } => Err(KeyStoreError::Revoked { key_id }),
        }
    }

    async fn look_up(&self, hash: &KeyHash) -> Result<Verdict, KeyStoreError> {
        let record = match self.read(&record_path(hash)).await {
            Err(StorageError::NotFound { .. }) => return Ok(Verdict::Unknown),
            other => other?,
        };
        if record.revoked_at.is_some() {
            return Ok(Verdict::Revoked { key_id: record.key_id });
        }
        let user = Username::parse(&record.username).map_err(|e| StorageError::Corrupt {
            path: format!("keys/{}…", record.key_id),
            reason: e.to_string(),
        })?;
        Ok(Verdict::Valid(user))
    }

    /// Every key record, oldest first.
    pub async fn list(&self) -> Result<Vec<KeyRecord>, KeyStoreError> {
        let mut records = Vec::new();
        for path in self.record_paths().await? {
            records.push(self.read(&path).await?);
        }
        records.sort_by_key(|r| r.created_at);
        Ok(records)
    }

    /// Revokes the key whose id (or a unique prefix of its hash) is `key_id`. Revoking twice
    /// is not an error; the first revocation time is kept.
    pub async fn revoke(&self, key_id: &str) -> Result<KeyRecord, KeyStoreError> {
        let key_id = key_id.trim().to_ascii_lowercase();
        if key_id.len() < 6 || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(KeyStoreError::NoSuchKeyId(key_id));
        }
        let matches: Vec<Path> = self
            .record_paths()
            .await?
            .into_iter()
            .filter(|p| p.filename().is_some_and(|f| f.starts_with(&key_id)))
            .collect();
        let path = match matches.as_slice() {
            [] => return Err(KeyStoreError::NoSuchKeyId(key_id)),
            [one] => one,
            _ => return Err(KeyStoreError::AmbiguousKeyId(key_id)),
        };
        let mut record = self.read(path).await?;
        if record.revoked_at.is_none() {
            record.revoked_at = Some(Utc::now());
            let hash = path
                .filename()
                .and_then(|f| f.strip_suffix(".json"))
                .and_then(KeyHash::parse)
                .ok_or_else(|| StorageError::Corrupt {
                    path: path.to_string(),
                    reason: "not named by a key hash".into(),
                })?;
            self.write(&hash, &record, PutMode::Overwrite).await?;
        }
        Ok(record)
    }

    async fn record_paths(&self) -> Result<Vec<Path>, StorageError> {
        let metas = super::list_under(self.store.as_ref(), super::layout::KEYS).await?;
        Ok(metas.into_iter().map(|m| m.location).collect())
    }

    async fn read(&self, path: &Path) -> Result<KeyRecord, StorageError> {
        let bytes = async { self.store.get(path).await?.bytes().await }
            .await
            .map_err(|e| StorageError::from_store("read", path, e))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| StorageError::Corrupt { path: path.to_string(), reason: e.to_string() })
    }

    async fn write(
        &self,
        hash: &KeyHash,
        record: &KeyRecord,
        mode: PutMode,
    ) -> Result<(), StorageError> {
        let path = record_path(hash);
        let bytes = serde_json::to_vec_pretty(record).expect("KeyRecord serializes");
        self.store
            .put_opts(&path, bytes.into(), PutOptions { mode, ..Default::default() })
            .await
            .map(drop)
            .map_err(|e| StorageError::from_store("write", &path, e))
    }
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;
    use object_store::memory::InMemory;

    use super::*;

    #[tokio::test]
    async fn issue_check_list_revoke() {
        let memory = Arc::new(InMemory::new());
        let keys = KeyStore::new(memory.clone());
        let alice = Username::parse("alice").unwrap();
        let (key, record) = keys.create(&alice, Some("laptop".into())).await.unwrap();
        assert_eq!(keys.authenticate(&key).await.unwrap(), alice);
        assert!(matches!(
            keys.authenticate(&ApiKey::presented("ssk_nope")).await,
            Err(KeyStoreError::Unknown)
        ));

        // Nothing stored holds the secret.
        let all: Vec<_> = memory.list(None).try_collect().await.unwrap();
        for meta in all {
            let bytes = memory.get(&meta.location).await.unwrap().bytes().await.unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(key.expose_secret()));
            assert!(!meta.location.as_ref().contains(key.expose_secret()));
        }

        assert_eq!(keys.list().await.unwrap(), vec![record.clone()]);
        let revoked = keys.revoke(&record.key_id).await.unwrap();
        assert!(revoked.revoked_at.is_some());
        assert!(matches!(keys.authenticate(&key).await, Err(KeyStoreError::Revoked { .. })));
        assert_eq!(keys.revoke(&record.key_id).await.unwrap().revoked_at, revoked.revoked_at);
        assert!(matches!(keys.revoke("abcdef").await, Err(KeyStoreError::NoSuchKeyId(_))));
    }
}
