//! Test doubles for the storage unit tests: an in-memory store that misbehaves as told.
//! (Integration tests use real S3 servers and proxies instead.)

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use async_trait::async_trait;
use futures::{TryStreamExt, stream::BoxStream};
use object_store::{
    GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result, memory::InMemory, path::Path,
};

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    None,
    /// Writes after the first `n` fail, and land nowhere.
    FailWritesAfter(usize),
    /// Writes under `sessions/` land, and their replies are lost (the caller sees an error).
    LoseReplies,
    /// Writes under `sessions/` fail at once and land `delay` later (a proxy that held them).
    LandLate {
        delay: std::time::Duration,
    },
    /// As `LandLate`, for the first write under `sessions/` only.
    LandLateFirst {
        delay: std::time::Duration,
    },
}

#[derive(Debug, Clone)]
pub struct Misbehaving {
    pub inner: Arc<InMemory>,
    misbehaviour: Misbehaviour,
    writes: Arc<AtomicUsize>,
    session_writes: Arc<AtomicUsize>,
}

impl Misbehaving {
    pub fn new(misbehaviour: Misbehaviour) -> Self {
        Self::over(Arc::new(InMemory::new()), misbehaviour)
    }

    /// Another view of the same objects, misbehaving otherwise.
    pub fn over(inner: Arc<InMemory>, misbehaviour: Misbehaviour) -> Self {
        Self { inner, misbehaviour, writes: Arc::default(), session_writes: Arc::default() }
    }

    /// Every path stored, sorted.
    pub async fn paths(&self) -> Vec<String> {
        let mut all: Vec<String> =
            self.inner.list(None).map_ok(|m| m.location.to_string()).try_collect().await.unwrap();
        all.sort();
        all
    }
}

fn failed() -> object_store::Error {
    object_store::Error::Generic { store: "test", source: "the connection was lost".into() }
}

impl std::fmt::Display for Misbehaving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Misbehaving({:?})", self.misbehaviour)
    }
}

#[async_trait]
impl ObjectStore for Misbehaving {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst);
        let session = location.as_ref().starts_with("sessions/");
        let nth_session =
            if session { self.session_writes.fetch_add(1, Ordering::SeqCst) } else { usize::MAX };
        let late = match self.misbehaviour {
            Misbehaviour::LandLate { delay } if session => Some(delay),
            Misbehaviour::LandLateFirst { delay } if nth_session == 0 => Some(delay),
            _ => None,
        };
        if let Some(delay) = late {
            let (inner, location) = (self.inner.clone(), location.clone());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = inner.put_opts(&location, payload, opts).await;
            });
            return Err(failed());
        }
        match self.misbehaviour {
            Misbehaviour::FailWritesAfter(allowed) if n >= allowed => Err(failed()),
            Misbehaviour::LoseReplies if session => {
                self.inner.put_opts(location, payload, opts).await?;
                Err(failed())
            }
            _ => self.inner.put_opts(location, payload, opts).await,
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: object_store::CopyOptions,
    ) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
