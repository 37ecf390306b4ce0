//! Every storage request bounded in time, retried after a fault (see [`super::retry`]), and
//! in a tracing span: operation, path, duration, outcome.
//!
//! Wraps the store [`super::open_store`] opens, so the sessions, keys, probe and gc all go
//! through it. Bounds ([`StorageBounds`]): a request must be answered within `timeout`
//! (connect and first byte, retries included); an upload gets `timeout` plus its size at
//! `min_rate`; a download or listing may not stall for longer than `timeout` between two
//! chunks; and none outlasts the request's deadline (`crate::deadline`). Past a bound the
//! request is tried again while the retry policy allows, then fails, and the client gets a
//! prompt 503. A listing that breaks goes on after the last name it had. Successes and expected answers (not found, a refused condition) are logged at
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

use super::retry::{self, DeadlinePassed, RetryBudget, TimedOut};
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
    budget: Arc<RetryBudget>,
}

impl TracedStore {
    pub fn new(inner: Arc<dyn ObjectStore>, bounds: StorageBounds, metrics: Arc<Metrics>) -> Self {
        Self { inner, bounds, metrics, budget: Arc::default() }
    }

    /// `request()` within `bound` (and the request's deadline), tried again after a fault.
    async fn retried<T, F, Fut>(
        &self,
        operation: &'static str,
        path: &Path,
        bound: Duration,
        request: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        retried(operation, path, bound, &self.metrics, &self.budget, request).await
    }
}

fn timed_out(bound: Duration) -> object_store::Error {
    object_store::Error::Generic { store: "storage", source: Box::new(TimedOut(bound)) }
}

fn deadline_passed() -> object_store::Error {
    object_store::Error::Generic { store: "storage", source: Box::new(DeadlinePassed) }
}

/// See [`TracedStore::retried`].
async fn retried<T, F, Fut>(
    operation: &'static str,
    path: &Path,
    bound: Duration,
    metrics: &Metrics,
    budget: &RetryBudget,
    mut request: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut taken = 0;
    let mut attempt = 1;
    loop {
        let Some(bound) = crate::deadline::bound(bound) else { return Err(deadline_passed()) };
        let error = match traced(operation, path, bound, metrics, request()).await {
            Ok(value) => {
                budget.answered(taken);
                return Ok(value);
            }
            Err(error) if retry::is_answer(&error) => {
                budget.answered(taken);
                return Err(error);
            }
            Err(error) => error,
        };
        if attempt >= retry::MAX_ATTEMPTS || !retry::is_transient(&error) {
            return Err(error);
        }
        let pause = retry::pause(attempt);
        // A pause that the deadline would end gains nothing.
        if crate::deadline::bound(Duration::MAX).is_none_or(|left| left <= pause) {
            return Err(error);
        }
        let Some(cost) = budget.take(&error) else {
            tracing::warn!(operation, %path, "storage retry budget spent: not retrying");
            return Err(error);
        };
        taken += cost;
        metrics.storage_retry(operation);
        tracing::debug!(operation, %path, attempt, ?pause, error = %error, "retrying a storage request");
        tokio::time::sleep(pause).await;
        attempt += 1;
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
        // Within a request, its deadline bounds the wait too (a body streamed to a client
        // after the handler is done has none).
        let Some(wait) = crate::deadline::bound(idle) else {
            return Some((Err(deadline_passed()), None));
        };
        match tokio::time::timeout(wait, stream.next()).await {
            Ok(Some(item)) => Some((item, Some(stream))),
            Ok(None) => None,
            Err(_) => {
                tracing::warn!(?wait, "storage stream stalled");
                Some((Err(timed_out(wait)), None))
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
        crate::deadline::extend(bound.saturating_sub(self.bounds.timeout));
        self.retried("put", location, bound, || {
            self.inner.put_opts(location, payload.clone(), opts.clone())
        })
        .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let bound = self.bounds.timeout;
        traced("put_multipart", location, bound, &self.metrics, async {
            self.inner.put_multipart_opts(location, opts).await
        })
        .await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let operation = if options.head { "head" } else { "get" };
        let bound = self.bounds.timeout;
        let mut result = self
            .retried(operation, location, bound, || self.inner.get_opts(location, options.clone()))
            .await?;
        if let GetResultPayload::Stream(stream) = result.payload {
            result.payload = GetResultPayload::Stream(idle_bounded(stream, bound));
        }
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let bound = self.bounds.timeout;
        self.retried("get_ranges", location, bound, || self.inner.get_ranges(location, ranges))
            .await
    }

    /// One object at a time, each retried (this service never deletes in batches).
    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let (inner, metrics, budget) =
            (self.inner.clone(), self.metrics.clone(), self.budget.clone());
        let bound = self.bounds.timeout;
        locations
            .then(move |location| {
                let (inner, metrics, budget) = (inner.clone(), metrics.clone(), budget.clone());
                async move {
                    let location = location?;
                    retried("delete", &location, bound, &metrics, &budget, || {
                        let (inner, location) = (inner.clone(), location.clone());
                        async move {
                            let once =
                                futures::stream::once(futures::future::ready(Ok(location.clone())));
                            inner.delete_stream(once.boxed()).next().await.unwrap_or(Ok(location))
                        }
                    })
                    .await
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        tracing::debug!(operation = "list", prefix = ?prefix.map(Path::as_ref), "storage list");
        self.resuming_list(prefix.cloned(), None)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        tracing::debug!(operation = "list", prefix = ?prefix.map(Path::as_ref), %offset, "storage list");
        self.resuming_list(prefix.cloned(), Some(offset.clone()))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let path = prefix.cloned().unwrap_or_default();
        self.retried("list", &path, self.bounds.timeout, || self.inner.list_with_delimiter(prefix))
            .await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.retried("copy", to, self.bounds.timeout, || {
            self.inner.copy_opts(from, to, options.clone())
        })
        .await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.retried("rename", to, self.bounds.timeout, || {
            self.inner.rename_opts(from, to, options.clone())
        })
        .await
    }
}

impl TracedStore {
    /// A listing (after `offset`, if given) that, when it breaks on a fault, goes on after the
    /// last name it had, as a retry would: within the retry policy and the deadline.
    fn resuming_list(
        &self,
        prefix: Option<Path>,
        offset: Option<Path>,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        struct Listing {
            inner: Arc<dyn ObjectStore>,
            prefix: Option<Path>,
            after: Option<Path>,
            stream: BoxStream<'static, Result<ObjectMeta>>,
            attempt: u32,
            taken: u32,
            budget: Arc<RetryBudget>,
            metrics: Arc<Metrics>,
            idle: Duration,
        }
        fn open(
            inner: &Arc<dyn ObjectStore>,
            prefix: Option<&Path>,
            after: Option<&Path>,
            idle: Duration,
        ) -> BoxStream<'static, Result<ObjectMeta>> {
            let stream = match after {
                Some(after) => inner.list_with_offset(prefix, after),
                None => inner.list(prefix),
            };
            idle_bounded(stream, idle)
        }
        let idle = self.bounds.timeout;
        let listing = Listing {
            stream: open(&self.inner, prefix.as_ref(), offset.as_ref(), idle),
            inner: self.inner.clone(),
            prefix,
            after: offset,
            attempt: 1,
            taken: 0,
            budget: self.budget.clone(),
            metrics: self.metrics.clone(),
            idle,
        };
        let items = futures::stream::unfold(Some(listing), |state| async move {
            let mut listing = state?;
            loop {
                match listing.stream.next().await {
                    Some(Ok(meta)) => {
                        listing.after = Some(meta.location.clone());
                        return Some((Ok(meta), Some(listing)));
                    }
                    None => {
                        listing.budget.answered(listing.taken);
                        return None;
                    }
                    Some(Err(error)) => {
                        let pause = retry::pause(listing.attempt);
                        let retry = listing.attempt < retry::MAX_ATTEMPTS
                            && retry::is_transient(&error)
                            && crate::deadline::bound(Duration::MAX).is_some_and(|l| l > pause);
                        let cost = if retry { listing.budget.take(&error) } else { None };
                        let Some(cost) = cost else { return Some((Err(error), None)) };
                        listing.taken += cost;
                        listing.attempt += 1;
                        listing.metrics.storage_retry("list");
                        tracing::debug!(error = %error, after = ?listing.after, "listing again after a fault");
                        tokio::time::sleep(pause).await;
                        listing.stream = open(
                            &listing.inner,
                            listing.prefix.as_ref(),
                            listing.after.as_ref(),
                            listing.idle,
                        );
                    }
                }
            }
        });
        counted_listing(items.boxed(), self.metrics.clone())
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
