//! Structured logs to stderr (stdout is kept for command output such as a new key), and the
//! request log: method, route, status, latency, request id. Never bodies, never keys.

use std::{io::IsTerminal, time::Instant};

use poem::{
    Endpoint, IntoResponse, PathPattern, Request, Response,
    http::{HeaderValue, header},
};
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use std::borrow::Cow;

use crate::{
    configuration::LogFormat,
    metrics::{Metrics, method_label},
};

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let mut builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // The builder colours unless NO_COLOR is set, whatever stderr is. Colour is for a person
    // at a terminal: a log file, `docker logs` or journald would otherwise hold escape codes
    // that `grep` and log shippers see as text.
    if !std::io::stderr().is_terminal() {
        builder = builder.with_ansi(false);
    }
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

/// Responses slower than this are logged at `info` even when request lines are off.
const SLOW: std::time::Duration = std::time::Duration::from_secs(1);

/// Counts every request in `metrics` and logs it. One line per request is at `debug`
/// (`RUST_LOG=info,session_share::telemetry=debug` to see them): writing it costs a sizeable
/// share of a cheap request's time. Server errors are logged at `warn` and slow answers at
/// `info` either way.
pub async fn log_requests<E: Endpoint>(
    next: E,
    req: Request,
    metrics: std::sync::Arc<Metrics>,
) -> poem::Result<Response> {
    let started = Instant::now();
    let request_id = request_id(&req);
    let method = req.method().clone();
    let span = tracing::info_span!("request", %request_id);
    let logged = tracing::enabled!(tracing::Level::DEBUG);
    // Only a line that is written needs the path: no copy otherwise.
    let path = logged.then(|| req.uri().path().to_owned());
    let mut resp = match next.call(req).instrument(span).await {
        Ok(resp) => resp.into_response(),
        Err(err) => err.into_response(),
    };
    // The API's operation id (`getSession`), else the route's pattern (pages), else `-`
    // (no route matched): a bounded set of labels either way.
    let route: Cow<'static, str> = match resp.data::<poem_openapi::OperationId>() {
        Some(operation) => operation.0.into(),
        None => resp.data::<PathPattern>().map_or("-".into(), |p| p.0.to_string().into()),
    };
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    metrics.request(method_label(&method), route.clone(), status, elapsed.as_secs_f64());
    if let Some(length) = resp.headers().get(header::CONTENT_LENGTH) {
        metrics.bytes_out(length.to_str().ok().and_then(|l| l.parse().ok()).unwrap_or(0));
    }
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    let path = path.as_deref().unwrap_or("-");
    if status >= 500 {
        tracing::warn!(%request_id, %method, %route, status, latency_ms, "request");
    } else if elapsed >= SLOW {
        tracing::info!(%request_id, %method, %route, status, latency_ms, "slow request");
    } else {
        tracing::debug!(%request_id, %method, %route, %path, status, latency_ms, "request");
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(resp)
}
