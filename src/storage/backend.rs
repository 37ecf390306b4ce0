use super::traced::StorageBounds;
use std::{path::PathBuf, str::FromStr, sync::Arc, time::Duration};

use object_store::{
    ClientOptions, ObjectStore, RetryConfig, aws::AmazonS3Builder, local::LocalFileSystem,
    memory::InMemory, prefix::PrefixStore,
};

/// Where the service keeps its data: `file://<dir>`, `memory://` or `s3://<bucket>[/<prefix>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    File(PathBuf),
    Memory,
    S3 { bucket: String, prefix: Option<String> },
}

impl FromStr for StorageUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(dir) = s.strip_prefix("file://") {
            if dir.is_empty() {
                return Err("file:// needs a directory, e.g. file://./data".into());
            }
            Ok(Self::File(PathBuf::from(dir)))
        } else if s == "memory://" {
            Ok(Self::Memory)
        } else if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = match rest.split_once('/') {
                Some((bucket, prefix)) => (bucket, prefix.trim_matches('/')),
                None => (rest, ""),
            };
            if bucket.is_empty() {
                return Err("s3:// needs a bucket, e.g. s3://sessions".into());
            }
            let prefix = (!prefix.is_empty()).then(|| prefix.to_owned());
            Ok(Self::S3 { bucket: bucket.to_owned(), prefix })
        } else {
            Err(format!(
                "unsupported storage {s:?}: use file://<dir>, memory:// or s3://<bucket>[/<prefix>]"
            ))
        }
    }
}

impl std::fmt::Display for StorageUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(dir) => write!(f, "file://{}", dir.display()),
            Self::Memory => f.write_str("memory://"),
            Self::S3 { bucket, prefix: None } => write!(f, "s3://{bucket}"),
            Self::S3 { bucket, prefix: Some(p) } => write!(f, "s3://{bucket}/{p}"),
        }
    }
}

/// S3 settings that override the standard `AWS_*` environment variables. The service itself
/// leaves them empty (operators use the environment); tests fill them so that parallel tests
/// need not share process-wide variables.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub allow_http: Option<bool>,
}

/// An opened store and what it can do.
#[derive(Clone)]
pub struct OpenedStore {
    pub store: Arc<dyn ObjectStore>,
    /// Whether objects can carry a Content-Type (the local file system cannot).
    pub supports_content_type: bool,
}

impl std::fmt::Debug for OpenedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpenedStore({})", self.store)
    }
}

/// Opens the configured store with the default bounds; see [`open_store_bounded`].
pub fn open_store(url: &StorageUrl, s3: &S3Options) -> anyhow::Result<OpenedStore> {
    open_store_bounded(url, s3, StorageBounds::default(), crate::metrics::Metrics::new())
}

/// Opens the configured store; every request it makes is bounded by `bounds` and traced
/// (see [`super::traced`]) and counted in `metrics`.
pub fn open_store_bounded(
    url: &StorageUrl,
    s3: &S3Options,
    bounds: StorageBounds,
    metrics: Arc<crate::metrics::Metrics>,
) -> anyhow::Result<OpenedStore> {
    let mut opened = open_untraced(url, s3)?;
    opened.store = Arc::new(super::traced::TracedStore::new(opened.store, bounds, metrics));
    Ok(opened)
}

fn open_untraced(url: &StorageUrl, s3: &S3Options) -> anyhow::Result<OpenedStore> {
    Ok(match url {
        StorageUrl::File(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                anyhow::anyhow!("cannot create storage directory {}: {e}", dir.display())
            })?;
            OpenedStore {
                store: Arc::new(LocalFileSystem::new_with_prefix(dir)?),
                supports_content_type: false,
            }
        }
        StorageUrl::Memory => {
            OpenedStore { store: Arc::new(InMemory::new()), supports_content_type: true }
        }
        StorageUrl::S3 { bucket, prefix } => {
            // Our defaults first, then the standard AWS_* environment on top (as
            // `AmazonS3Builder::from_env` reads it), so AWS_TIMEOUT etc. still override.
            let mut builder = AmazonS3Builder::new()
                // One retry policy, the service's own (`super::retry`: bounded by the request's
                // deadline, with a budget), rather than object_store's on top of it.
                .with_retry(RetryConfig { max_retries: 0, ..RetryConfig::default() })
                .with_client_options(
                    ClientOptions::new()
                        .with_connect_timeout(Duration::from_secs(5))
                        .with_timeout(Duration::from_secs(120)),
                );
            for (key, value) in std::env::vars() {
                if let Some(key) = key.strip_prefix("AWS_") {
                    if let Ok(key) = format!("aws_{}", key.to_ascii_lowercase()).parse() {
                        builder = builder.with_config(key, value);
                    }
                }
            }
            builder = builder.with_bucket_name(bucket);
            if let Some(endpoint) = &s3.endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            if let Some(region) = &s3.region {
                builder = builder.with_region(region);
            }
            if let Some(id) = &s3.access_key_id {
                builder = builder.with_access_key_id(id);
            }
            if let Some(secret) = &s3.secret_access_key {
                builder = builder.with_secret_access_key(secret);
            }
            if let Some(allow) = s3.allow_http {
                builder = builder.with_allow_http(allow);
            }
            let store: Arc<dyn ObjectStore> = Arc::new(builder.build()?);
            let store = match prefix {
                Some(prefix) => Arc::new(PrefixStore::new(store, prefix.as_str())),
                None => store,
            };
            OpenedStore { store, supports_content_type: true }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_storage_form() {
        assert_eq!("file://./data".parse(), Ok(StorageUrl::File("./data".into())));
        assert_eq!("memory://".parse(), Ok(StorageUrl::Memory));
        assert_eq!(
            "s3://bucket".parse(),
            Ok(StorageUrl::S3 { bucket: "bucket".into(), prefix: None })
        );
        assert_eq!(
            "s3://bucket/a/b/".parse(),
            Ok(StorageUrl::S3 { bucket: "bucket".into(), prefix: Some("a/b".into()) })
        );
        for bad in ["", "s3://", "file://", "gs://x", "./data"] {
            assert!(bad.parse::<StorageUrl>().is_err(), "{bad}");
        }
    }
}
