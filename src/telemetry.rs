//! Structured logs to stderr (stdout is kept for command output such as a new key), and the
//! request log: method, route, status, latency, request id. Never bodies, never keys.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, PathPattern, Request, Response, http::HeaderValue};
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::configuration::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    // Already initialised (tests start several apps in one process): keep the first.
    let _ = result;
}

const REQUEST_ID: &str = "x-request-id";

/// A client's own request id is kept when it is short and plain; otherwise we make one.
fn request_id(req: &Request) -> String {
    req.header(REQUEST_ID)
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| nanoid::nanoid!(16))
}

pub async fn log_requests<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let started = Instant::now();
    let request_id = request_id(&req);
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", %request_id);
    let mut resp = match next.call(req).instrument(span).await {
        Ok(resp) => resp.into_response(),
        Err(err) => err.into_response(),
    };
    let route = resp.data::<PathPattern>().map_or("-", |p| &p.0).to_owned();
    let status = resp.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(%request_id, %method, %route, %path, status, latency_ms, "request");
    } else {
        tracing::info!(%request_id, %method, %route, %path, status, latency_ms, "request");
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(resp)
}
