//! What every request goes through before and after routing, so that every answer, whatever
//! refused the request, is the JSON error the README promises.
//!
//! - The request's storage work gets its deadline (`--request-timeout`, [`crate::deadline`]).
//! - `.` and `..` path segments, encoded or not, are refused with 400 `INVALID_PATH`: poem
//!   resolves them while routing, so `/api/sessions/%2E%2E` would quietly become `/api`.
//! - URLs over [`MAX_URI_BYTES`] answer 414 and request headers over [`MAX_HEADER_BYTES`] 431,
//!   as JSON. (Past hyper's own hard limits, 64 KiB of URL or 100 headers, hyper answers with
//!   a bare status before any of this runs.)
//! - Errors that escape the routes (a refused CORS origin, poem's own) become JSON.
//! - A 405 carries `Allow`, as HTTP requires.
//! - A body a route did not read to its end (a refusal before or while reading it) is read
//!   and discarded before the answer goes out, while the client sends it briskly: up to
//!   [`DRAIN_BYTES`] in [`DRAIN_TIME`], no pause over [`DRAIN_PAUSE`], at least
//!   [`DRAIN_RATE`] after the first [`DRAIN_PAUSE`]. A client still sending then reads the
//!   refusal instead of a broken pipe (Node's fetch, the extension's client, reports EPIPE
//!   otherwise). Past a bound the answer says `Connection: close`, and the connection is
//!   closed after it.
//! - Every answer says `X-Content-Type-Options: nosniff`, and `X-Robots-Tag: noindex` unless
//!   the route said otherwise (a public share's page under `--allow-indexing`): what users
//!   share is not for search engines unless the operator decides it is.
//! - Caches are told what is private: an answer to a request that carried a key or a signed
//!   link (either may have decided it) says `Cache-Control: private, no-store`, and one to a
//!   link `X-Robots-Tag: noindex` whatever the share; every answer varies on the key
//!   headers; a read that says nothing of caching is `no-cache` (a cache keeps it but asks
//!   again, with its `ETag`, so a share made private stops at once), and an error `no-store`.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};
use percent_encoding::percent_decode_str;
use poem::{Body, Endpoint, IntoResponse, Request, Response, http::StatusCode};

use crate::{
    error::{ApiError, ErrorCode},
    router::RouteTable,
};

/// Longest URL (path and query) answered normally; ids and share codes need under 200.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most bytes of request headers (names and values) answered normally.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// At most this much of a body a route left is read, for at most [`DRAIN_TIME`]; a client
/// that pauses longer than [`DRAIN_PAUSE`], or sends slower than [`DRAIN_RATE`] bytes a
/// second once that long has passed, is not waited for.
pub const DRAIN_BYTES: u64 = 128 * 1024 * 1024;
pub const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);
pub const DRAIN_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);
pub const DRAIN_RATE: u64 = 64 * 1024;

pub async fn envelope<E: Endpoint>(
    next: E,
    mut req: Request,
    routes: Arc<RouteTable>,
    request_timeout: std::time::Duration,
) -> poem::Result<Response> {
    let declared =
        req.header(poem::http::header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    // An answer to a key or a signed link is for its holder alone.
    let linked = req.uri().query().is_some_and(|q| q.split('&').any(|p| p.starts_with("link=")));
    let keyed = linked || KEY_HEADERS.iter().any(|h| req.headers().contains_key(*h));
    let read = matches!(*req.method(), poem::http::Method::GET | poem::http::Method::HEAD);
    let body = has_body(&req, declared).then(|| Leftover::share(&mut req));
    let mut resp = crate::deadline::scope(request_timeout, answer(next, req, &routes)).await;
    if let Some(body) = body {
        if !body.finish(declared).await {
            resp.headers_mut().insert(
                poem::http::header::CONNECTION,
                poem::http::HeaderValue::from_static("close"),
            );
        }
    }
    caching(&mut resp, keyed, read);
    let headers = resp.headers_mut();
    headers.insert("x-content-type-options", poem::http::HeaderValue::from_static("nosniff"));
    if linked || !headers.contains_key("x-robots-tag") {
        headers.insert("x-robots-tag", poem::http::HeaderValue::from_static("noindex"));
    }
    Ok(resp)
}

/// The headers a key may come in: an answer to a request with one may depend on it.
const KEY_HEADERS: [&str; 2] = ["syntx-api-key", "authorization"];

/// What shared caches (a proxy, a CDN) may do with an answer: see the module docs.
fn caching(resp: &mut Response, keyed: bool, read: bool) {
    use poem::http::{HeaderValue, header};
    let status = resp.status();
    let headers = resp.headers_mut();
    if keyed {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    } else if !headers.contains_key(header::CACHE_CONTROL) {
        let policy = if status.is_client_error() || status.is_server_error() {
            "no-store"
        } else if read {
            "no-cache"
        } else {
            "no-store"
        };
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    let vary = match headers.get(header::VARY).and_then(|v| v.to_str().ok()) {
        Some(vary) if !vary.is_empty() => format!("{vary}, Syntx-Api-Key, Authorization"),
        _ => "Syntx-Api-Key, Authorization".to_owned(),
    };
    if let Ok(vary) = HeaderValue::from_str(&vary) {
        headers.insert(header::VARY, vary);
    }
}

/// Whether a request carries a body (one that may be left unread), given its declared length.
fn has_body(req: &Request, declared: Option<u64>) -> bool {
    req.headers().contains_key(poem::http::header::TRANSFER_ENCODING)
        || declared.is_some_and(|n| n > 0)
}

/// A request body handed to the routes through a shared handle, so that what they leave can
/// still be read when they are done.
struct Leftover {
    stream: Arc<tokio::sync::Mutex<Option<BoxStream<'static, std::io::Result<Bytes>>>>>,
    ended: Arc<AtomicBool>,
}

impl Leftover {
    fn share(req: &mut Request) -> Self {
        let stream =
            Arc::new(tokio::sync::Mutex::new(Some(req.take_body().into_bytes_stream().boxed())));
        let ended = Arc::new(AtomicBool::new(false));
        let handed = futures::stream::unfold(
            (stream.clone(), ended.clone()),
            |(stream, ended)| async move {
                let next = match stream.lock().await.as_mut() {
                    Some(stream) => stream.next().await,
                    None => None,
                };
                match next {
                    Some(item) => Some((item, (stream, ended))),
                    None => {
                        ended.store(true, Ordering::SeqCst);
                        None
                    }
                }
            },
        );
        req.set_body(Body::from_bytes_stream(handed));
        Self { stream, ended }
    }

    /// Reads what is left of the body (within the bounds); `true` if all of it was read.
    async fn finish(self, declared: Option<u64>) -> bool {
        if self.ended.load(Ordering::SeqCst) {
            return true;
        }
        if declared.is_some_and(|n| n > DRAIN_BYTES) {
            return false;
        }
        let Some(mut stream) = self.stream.lock().await.take() else { return true };
        let started = tokio::time::Instant::now();
        let read_all = async {
            let mut read = 0u64;
            loop {
                let chunk = match tokio::time::timeout(DRAIN_PAUSE, stream.next()).await {
                    Ok(Some(Ok(chunk))) => chunk,
                    Ok(None) => return true,
                    Ok(Some(Err(_))) | Err(_) => return false,
                };
                read += chunk.len() as u64;
                let elapsed = started.elapsed();
                let brisk = elapsed < DRAIN_PAUSE
                    || read as f64 >= DRAIN_RATE as f64 * elapsed.as_secs_f64();
                if read > DRAIN_BYTES || !brisk {
                    return false;
                }
            }
        };
        tokio::time::timeout(DRAIN_TIME, read_all).await.unwrap_or(false)
    }
}

async fn answer<E: Endpoint>(next: E, req: Request, routes: &RouteTable) -> Response {
    if let Some(refused) = refuse_early(&req) {
        return refused.into_response();
    }
    let path = req.uri().path().to_owned();
    let mut resp = match next.call(req).await {
        Ok(resp) => resp.into_response(),
        Err(err) => {
            // A route's own refusal, or an extractor's: still that route's (for metrics).
            let operation = err.data::<poem_openapi::OperationId>().copied();
            let mut resp = escaped(err).into_response();
            if let Some(operation) = operation {
                resp.set_data(operation);
            }
            resp
        }
    };
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
        let allowed: Vec<&str> =
            routes.allowed(&path).unwrap_or_default().iter().map(|m| m.as_str()).collect();
        if let Ok(value) = allowed.join(", ").parse() {
            resp.headers_mut().insert(poem::http::header::ALLOW, value);
        }
    }
    resp
}

fn refuse_early(req: &Request) -> Option<ApiError> {
    let uri_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return Some(ApiError::new(
            ErrorCode::UriTooLong,
            format!("the URL is longer than {MAX_URI_BYTES} bytes"),
        ));
    }
    let header_bytes: usize =
        req.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Some(ApiError::new(
            ErrorCode::HeadersTooLarge,
            format!("the request headers are larger than {MAX_HEADER_BYTES} bytes"),
        ));
    }
    let climbs = req.uri().path().split('/').any(|segment| {
        let decoded = percent_decode_str(segment).decode_utf8_lossy();
        decoded == "." || decoded == ".." || decoded.contains('/')
    });
    climbs.then(ApiError::invalid_path)
}

/// An error that reached here as an error: a route's refusal, an extractor's (content type,
/// key, parameter), or one from poem itself.
fn escaped(err: poem::Error) -> ApiError {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        return api.clone();
    }
    if err.is::<poem_openapi::error::ContentTypeError>()
        || err.is::<poem_openapi::error::AuthorizationError>()
        || err.is::<poem_openapi::error::ParseParamError>()
        || err.is::<poem_openapi::error::ParsePathError>()
        || err.is::<poem_openapi::error::ParseRequestPayloadError>()
    {
        return ApiError::from_request_error(err);
    }
    if err.is::<poem::error::CorsError>() {
        return ApiError::new(
            ErrorCode::AccessDenied,
            format!(
                "cross-origin request refused: {err}; the server's --cors-origins lists the \
                 origins that may call it"
            ),
        );
    }
    let status = err.status();
    let code = match status.as_u16() {
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        413 => ErrorCode::PayloadTooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        _ if status.is_client_error() => ErrorCode::InvalidRequest,
        _ => return ApiError::internal(err),
    };
    ApiError::new(code, err.to_string())
}
