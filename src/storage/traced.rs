//! Every storage request bounded in time and in a tracing span: operation, path, duration,
//! outcome.
//!
//! Wraps the store [`super::open_store`] opens, so the sessions, keys, probe and gc all go
//! through it. Bounds ([`StorageBounds`]): a request must be answered within `timeout`
//! (connect and first byte, retries included); an upload gets `timeout` plus its size at
//! `min_rate`; a download or listing may not stall for longer than `timeout` between two
//! chunks. Past a bound the request fails, and the client gets a prompt 503. Successes and expected answers (not found, a refused condition) are logged at
//! `debug` (`RUST_LOG=session_share::storage=debug`); failures at `warn`. For a GET, the
//! duration is until the response starts; the body streams afterwards.

use std::{
    fmt,
    future::Future,
    ops::Range,
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
    path::Path,
};
use tracing::Instrument;

use crate::metrics::Metrics;

/// How long storage may take (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageBounds {
    pub timeout: Duration,
    /// Bytes per second an upload must at least move.
    pub min_rate: u64,
}

impl Default for StorageBounds {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(10), min_rate: 1024 * 1024 }
    }
}

impl StorageBounds {
    /// How long an upload of `bytes` may take.
    pub fn for_upload(&self, bytes: usize) -> Duration {
        self.timeout + Duration::from_secs_f64(bytes as f64 / self.min_rate.max(1) as f64)
    }
}

#[derive(Debug)]
pub struct TracedStore {
    inner: Arc<dyn ObjectStore>,
    bounds: StorageBounds,
    metrics: Arc<Metrics>,
}

impl TracedStore {
    pub fn new(inner: Arc<dyn ObjectStore>, bounds: StorageBounds, metrics: Arc<Metrics>) -> Self {
        Self { inner, bounds, metrics }
    }

    async fn traced<T>(
        &self,
        operation: &'static str,
        path: &Path,
        bound: Duration,
        request: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        traced(operation, path, bound, &self.metrics, request).await
    }
}

fn timed_out(bound: Duration) -> object_store::Error {
    object_store::Error::Generic {
        store: "storage",
        source: format!("no answer within {bound:?} (--storage-timeout)").into(),
    }
}

/// `stream`, failing if it stalls for longer than `idle` between two items. Fused: polling it
/// again after its end answers the end again (`GetResult::bytes` does, on an empty object).
fn idle_bounded<T: Send + 'static>(
    stream: BoxStream<'static, Result<T>>,
    idle: Duration,
) -> BoxStream<'static, Result<T>> {
    futures::stream::unfold(Some(stream), move |state| async move {
        let mut stream = state?;
        match tokio::time::timeout(idle, stream.next()).await {
            Ok(Some(item)) => Some((item, Some(stream))),
            Ok(None) => None,
            Err(_) => {
                tracing::warn!(?idle, "storage stream stalled");
                Some((Err(timed_out(idle)), None))
            }
        }
    })
    .fuse()
    .boxed()
}

/// A listing, counted in `metrics` when it ends or fails (its duration is the whole
/// listing's, however many pages storage sent).
fn counted_listing<T: Send + 'static>(
    stream: BoxStream<'static, Result<T>>,
    metrics: Arc<Metrics>,
) -> BoxStream<'static, Result<T>> {
    let started = Instant::now();
    let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (on_error, at_end, seen) = (metrics.clone(), metrics, failed.clone());
    let ended = futures::stream::once(async move {
        if !seen.load(std::sync::atomic::Ordering::Relaxed) {
            at_end.storage("list", started.elapsed().as_secs_f64(), false);
        }
    })
    .filter_map(|()| async { None });
    stream
        .inspect(move |item| {
            if item.is_err() && !failed.swap(true, std::sync::atomic::Ordering::Relaxed) {
                on_error.storage("list", started.elapsed().as_secs_f64(), true);
            }
        })
        .chain(ended)
        .boxed()
}

impl fmt::Display for TracedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

async fn traced<T>(
    operation: &'static str,
    path: &Path,
    bound: Duration,
    metrics: &Metrics,
    request: impl Future<Output = Result<T>>,
) -> Result<T> {
    let span = tracing::debug_span!("storage", operation, path = %path);
    let started = Instant::now();
    let result = match tokio::time::timeout(bound, request.instrument(span.clone())).await {
        Ok(result) => result,
        Err(_) => Err(timed_out(bound)),
    };
    let elapsed = started.elapsed().as_secs_f64();
    let elapsed_ms = elapsed * 1000.0;
    let _entered = span.enter();
    let failed = match &result {
        Ok(_) => {
            tracing::debug!(elapsed_ms, "storage request done");
            false
        }
        Err(
            e @ (object_store::Error::NotFound { .. }
            | object_store::Error::NotModified { .. }
            | object_store::Error::AlreadyExists { .. }
            | object_store::Error::Precondition { .. }),
        ) => {
            tracing::debug!(elapsed_ms, answer = %e, "storage request answered");
            false
        }
        Err(e) => {
            tracing::warn!(elapsed_ms, error = %e, "storage request failed");
            true
        }
    };
    metrics.storage(operation, elapsed, failed);
    result
}

#[async_trait]
impl ObjectStore for TracedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let bound = self.bounds.for_upload(payload.content_length());
        self.traced("put", location, bound, self.inner.put_opts(location, payload, opts)).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let bound = self.bounds.timeout;
        self.traced("put_multipart", location, bound, self.inner.put_multipart_opts(location, opts))
            .await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let operation = if options.head { "head" } else { "get" };
        let bound = self.bounds.timeout;
        let mut result =
            self.traced(operation, location, bound, self.inner.get_opts(location, options)).await?;
        if let GetResultPayload::Stream(stream) = result.payload {
            result.payload = GetResultPayload::Stream(idle_bounded(stream, bound));
        }
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let bound = self.bounds.timeout;
        self.traced("get_ranges", location, bound, self.inner.get_ranges(location, ranges)).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let _entered = tracing::debug_span!("storage", operation = "delete").entered();
        // One deletion counted per object: storage is asked once per object (or in batches).
        let metrics = self.metrics.clone();
        let started = Instant::now();
        idle_bounded(self.inner.delete_stream(locations), self.bounds.timeout)
            .inspect(move |deleted| {
                let failed =
                    matches!(deleted, Err(e) if !matches!(e, object_store::Error::NotFound { .. }));
                metrics.storage("delete", started.elapsed().as_secs_f64(), failed);
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        tracing::debug!(operation = "list", prefix = ?prefix.map(Path::as_ref), "storage list");
        let listing = idle_bounded(self.inner.list(prefix), self.bounds.timeout);
        counted_listing(listing, self.metrics.clone())
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        tracing::debug!(operation = "list", prefix = ?prefix.map(Path::as_ref), %offset, "storage list");
        let listing =
            idle_bounded(self.inner.list_with_offset(prefix, offset), self.bounds.timeout);
        counted_listing(listing, self.metrics.clone())
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let path = prefix.cloned().unwrap_or_default();
        self.traced("list", &path, self.bounds.timeout, self.inner.list_with_delimiter(prefix))
            .await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.traced("copy", to, self.bounds.timeout, self.inner.copy_opts(from, to, options)).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.traced("rename", to, self.bounds.timeout, self.inner.rename_opts(from, to, options))
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use object_store::{ObjectStoreExt, memory::InMemory};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn each_request_is_logged_with_operation_path_and_duration() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let store =
            TracedStore::new(Arc::new(InMemory::new()), StorageBounds::default(), Metrics::new());
        let path = Path::from("sessions/alice/abc.json");
        store.put(&path, PutPayload::from_static(b"{}")).await.unwrap();
        store.get(&path).await.unwrap();
        assert!(store.head(&Path::from("missing")).await.is_err());
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        for (operation, path) in [
            ("put", "sessions/alice/abc.json"),
            ("get", "sessions/alice/abc.json"),
            ("head", "missing"),
        ] {
            let line = log
                .lines()
                .find(|l| l.contains(&format!("operation=\"{operation}\"")) && l.contains(path))
                .unwrap_or_else(|| panic!("no {operation} line in:\n{log}"));
            assert!(line.contains("elapsed_ms="), "{line}");
        }
        assert!(log.contains("storage request answered"), "a miss is an answer, not a failure");
    }
}
