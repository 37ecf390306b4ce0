//! Checking keys this service did not issue, for deployments whose users live elsewhere
//! (`--auth-url`): the key is forwarded as `Syntx-Api-Key`; a 200 with JSON `{username}` means
//! valid. Answers are cached by key hash (never the key), rejections for a shorter time.

use std::time::Duration;

use moka::future::Cache;
use serde::Deserialize;

use crate::domain::{ApiKey, Username};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteVerdict {
    Valid(Username),
    Invalid,
}

#[derive(Debug, thiserror::Error)]
#[error("the key service at {url} did not answer usefully: {reason}")]
pub struct RemoteKeysUnavailable {
    pub url: String,
    pub reason: String,
}

#[derive(Clone)]
pub struct RemoteKeys {
    url: String,
    client: reqwest::Client,
    accepted: Cache<String, Username>,
    refused: Cache<String, ()>,
}

#[derive(Deserialize)]
struct RemoteAnswer {
    username: String,
}

/// Cached answers per kind; bounded so a flood of random keys cannot exhaust memory.
const CACHE_CAPACITY: u64 = 100_000;

impl RemoteKeys {
    /// `ttl` is how long an accepted key is trusted; rejections are kept a tenth of that
    /// (at least a second, at most a minute), so a key just made elsewhere works soon.
    pub fn new(url: String, ttl: Duration) -> anyhow::Result<Self> {
        let refused_ttl = (ttl / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
        Ok(Self {
            url,
            client: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(3))
                .timeout(Duration::from_secs(5))
                .build()?,
            accepted: Cache::builder().max_capacity(CACHE_CAPACITY).time_to_live(ttl).build(),
            refused: Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(refused_ttl)
                .build(),
        })
    }

    pub async fn check(&self, key: &ApiKey) -> Result<RemoteVerdict, RemoteKeysUnavailable> {
        let hash = key.hash().as_str().to_owned();
        if let Some(user) = self.accepted.get(&hash).await {
            return Ok(RemoteVerdict::Valid(user));
        }
        if self.refused.contains_key(&hash) {
            return Ok(RemoteVerdict::Invalid);
        }
        let unavailable = |reason: String| RemoteKeysUnavailable { url: self.url.clone(), reason };
        let resp = self
            .client
            .get(&self.url)
            .header("Syntx-Api-Key", key.expose_secret())
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        let status = resp.status();
        if matches!(status.as_u16(), 401 | 403 | 404) {
            self.refused.insert(hash, ()).await;
            return Ok(RemoteVerdict::Invalid);
        }
        if !status.is_success() {
            return Err(unavailable(format!("status {status}")));
        }
        let answer: RemoteAnswer =
            resp.json().await.map_err(|e| unavailable(e.without_url().to_string()))?;
        match Username::parse(&answer.username) {
            Ok(user) => {
                self.accepted.insert(hash, user.clone()).await;
                Ok(RemoteVerdict::Valid(user))
            }
            Err(e) => Err(unavailable(format!("it answered an unusable username: {e}"))),
        }
    }
}
