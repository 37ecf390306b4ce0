//! Request bodies read as bytes: a session is stored exactly as uploaded, so it is never
//! deserialized into Rust types; `T` only supplies the schema shown in the OpenAPI document.
//! Every body is bounded in size, in time, and in the memory all uploads hold at once.

use std::{marker::PhantomData, sync::Arc};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use poem::{Body, Request, RequestBody, http::header};
use poem_openapi::{
    impl_apirequest_for_payload,
    payload::{ParsePayload, Payload},
    registry::{MetaSchemaRef, Registry},
    types::Type,
};
use tokio::sync::OwnedSemaphorePermit;

use crate::{
    compression::GunzipError,
    error::{ApiError, ErrorCode},
    metrics::Metrics,
    state::Uploads,
};

/// `application/json`, or `application/<anything>+json`, with any parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence.strip_prefix("application/").is_some_and(|sub| sub == "json" || sub.ends_with("+json"))
}

/// A JSON request body, not yet read. Read it with [`JsonUpload::read`] once the caller is
/// authenticated, so an unauthenticated client cannot make us buffer 64 MiB.
pub struct JsonUpload<T> {
    body: Body,
    declared_len: Option<u64>,
    /// `Content-Encoding`, lower-cased; `None` or `identity` for a plain body.
    encoding: Option<String>,
    _schema: PhantomData<fn() -> T>,
}

impl<T: Type> Payload for JsonUpload<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        is_json(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type> ParsePayload for JsonUpload<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let declared_len = request.header(header::CONTENT_LENGTH).and_then(|v| v.parse().ok());
        let encoding = request
            .header(header::CONTENT_ENCODING)
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty() && e != "identity");
        Ok(Self { body: body.take()?, declared_len, encoding, _schema: PhantomData })
    }
}

impl_apirequest_for_payload!(JsonUpload<T>, T: Type);

impl<T> JsonUpload<T> {
    /// Reads the body, refusing it as soon as it is known to exceed `limit` bytes: at once from
    /// `Content-Length`, else as the chunks arrive. A `Content-Encoding: gzip` body is
    /// decompressed, and `limit` applies to it both before and after.
    /// The body, and its share of the in-flight budget (`--max-inflight-bodies`), held while
    /// the returned guard lives: keep it until the request is done with the bytes.
    pub async fn read(
        self,
        limit: u64,
        uploads: &Uploads,
        metrics: &Arc<Metrics>,
    ) -> Result<(Bytes, InFlight), ApiError> {
        let counted = metrics.upload();
        let gzipped = match self.encoding.as_deref() {
            None => false,
            Some("gzip" | "x-gzip") => true,
            Some(other) => {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedMediaType,
                    format!("Content-Encoding {other} is not accepted: send gzip or no encoding"),
                ));
            }
        };
        let (bytes, mut held) = self.read_raw(limit, uploads).await?;
        // The body is here: the request's storage work gets its whole deadline from now.
        crate::deadline::restart();
        metrics.bytes_in(bytes.len() as u64);
        if !gzipped {
            return Ok((bytes, InFlight { _budget: held, _counted: counted }));
        }
        let plain = cpu(bytes.len() * 4, move || {
            crate::compression::gunzip(&bytes, limit).map_err(|e| match e {
                GunzipError::TooLarge { limit } => ApiError::payload_too_large(limit),
                e @ GunzipError::Invalid(_) => ApiError::invalid_request(e.to_string()),
            })
        })
        .await?;
        // The decompressed bytes take their room in the budget too.
        if !reserve(&mut held, plain.len().div_ceil(1024), uploads).await {
            return Err(ApiError::server_busy());
        }
        Ok((plain, InFlight { _budget: held, _counted: counted }))
    }

    async fn read_raw(
        self,
        limit: u64,
        uploads: &Uploads,
    ) -> Result<(Bytes, Option<OwnedSemaphorePermit>), ApiError> {
        let (stall, started) = (uploads.stall, tokio::time::Instant::now());
        let mut held: Option<OwnedSemaphorePermit> = None;
        let mut chunks = self.body.into_bytes_stream();
        if self.declared_len.is_some_and(|n| n > limit) {
            return Err(ApiError::payload_too_large(limit));
        }
        let declared = self.declared_len.unwrap_or(u64::MAX).min(limit) as usize;
        let mut buffer = BytesMut::new();
        loop {
            // A body that stops arriving, or trickles, holds a buffer and a connection: it
            // must keep coming (at most `stall` between chunks) and, past a grace period, at
            // `min_rate` on average.
            let trickle = started + uploads.grace + rate_time(buffer.len(), uploads.min_rate);
            let deadline = trickle.min(tokio::time::Instant::now() + stall);
            let chunk = match tokio::time::timeout_at(deadline, chunks.next()).await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(_) if deadline == trickle => {
                    return Err(ApiError::invalid_request(format!(
                        "the request body is arriving more slowly than this server accepts ({} bytes a second)",
                        uploads.min_rate
                    )));
                }
                Err(_) => {
                    return Err(ApiError::invalid_request(format!(
                        "the request body stopped arriving for {} s",
                        stall.as_secs()
                    )));
                }
            };
            let chunk = chunk.map_err(|e| {
                ApiError::invalid_request(format!("could not read the request body: {e}"))
            })?;
            if (buffer.len() + chunk.len()) as u64 > limit {
                return Err(ApiError::payload_too_large(limit));
            }
            // Room in the in-flight budget for these bytes, as they arrive (never for what a
            // client merely declares); a short wait, then 503.
            let held_kib = held.as_ref().map_or(0, OwnedSemaphorePermit::num_permits);
            let needed = (buffer.len() + chunk.len()).div_ceil(1024).saturating_sub(held_kib);
            if needed > 0 && !reserve(&mut held, needed, uploads).await {
                return Err(ApiError::server_busy());
            }
            if buffer.capacity() - buffer.len() < chunk.len() {
                // A client's Content-Length reserves nothing before its bytes come: the buffer
                // doubles with what has arrived, and takes the whole declared size in one step
                // once a quarter of it is here (one last copy of at most a quarter, instead of
                // a doubling that holds the old and the new buffer at once).
                let received = buffer.len() + chunk.len();
                let target = if received >= declared / 4 {
                    declared.max(received)
                } else {
                    (2 * buffer.len()).max(64 * 1024).max(received).min(declared.max(received))
                };
                buffer.reserve(target - buffer.len());
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok((buffer.freeze(), held))
    }
}

/// An upload's place in the in-flight budget and in the `uploads_in_flight` gauge: keep it
/// until the request is done with the bytes.
pub struct InFlight {
    _budget: Option<OwnedSemaphorePermit>,
    _counted: crate::metrics::UploadGuard,
}

/// Adds `kib` KiB to what `held` has of the in-flight budget, waiting at most [`BUSY_WAIT`]
/// for room; `false` if there was none.
async fn reserve(held: &mut Option<OwnedSemaphorePermit>, kib: usize, uploads: &Uploads) -> bool {
    let wanted = uploads.inflight.clone().acquire_many_owned(kib as u32);
    match tokio::time::timeout(BUSY_WAIT, wanted).await {
        Ok(Ok(permit)) => {
            match held.as_mut() {
                Some(held) => held.merge(permit),
                None => *held = Some(permit),
            }
            true
        }
        _ => false,
    }
}

/// How long an upload waits for room in the in-flight budget before a 503.
const BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long `bytes` take at `rate` bytes a second.
fn rate_time(bytes: usize, rate: u64) -> std::time::Duration {
    std::time::Duration::from_secs_f64(bytes as f64 / rate.max(1) as f64)
}

/// Bodies up to this size are parsed, checked and compressed on the async worker: well under
/// a millisecond, where a hand-off to the blocking pool and back costs more than the work.
const INLINE_CPU_BYTES: usize = 64 * 1024;

/// CPU work on a body of `bytes` bytes: inline when small, else on the blocking pool, so that
/// parsing and validating tens of megabytes never holds up the async workers.
pub async fn cpu<T: Send + 'static>(
    bytes: usize,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    if bytes <= INLINE_CPU_BYTES {
        return work();
    }
    tokio::task::spawn_blocking(work).await.map_err(ApiError::internal)?
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_is_application_json_or_a_json_suffix() {
        for yes in ["application/json", "Application/JSON; charset=utf-8", "application/vnd.x+json"]
        {
            assert!(super::is_json(yes), "{yes}");
        }
        for no in ["text/json", "application/jsonx", "text/plain", "", "application/"] {
            assert!(!super::is_json(no), "{no}");
        }
    }
}
