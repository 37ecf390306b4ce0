//! Prometheus metrics (`GET /metrics`, text format): requests, latency, storage, bytes, caches.
//!
//! One [`Metrics`] per running service, shared by the request middleware, storage and the
//! caches; a handle is an `Arc` and recording is a few atomic adds. Labels are bounded sets
//! (route patterns, not paths; operation names; status codes), so series cannot grow with
//! traffic.

use std::{borrow::Cow, sync::Arc};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    pub route: Cow<'static, str>,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: &'static str,
    pub route: Cow<'static, str>,
}

/// The method as a label: the standard ones by name, any other as `OTHER`, so that made-up
/// methods cannot add series.
pub fn method_label(method: &poem::http::Method) -> &'static str {
    use poem::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionLabels {
    /// `open` (being served) or `waiting` (its address at its cap).
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    pub cache: &'static str,
    pub result: &'static str,
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    // 0.5 ms to ~16 s: a cached page, a small create, a 25 MB upload on a slow link.
    prometheus_client::metrics::histogram::exponential_buckets(0.0005, 2.0, 16)
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    storage_requests: Family<OperationLabels, Counter>,
    storage_errors: Family<OperationLabels, Counter>,
    storage_retries: Family<OperationLabels, Counter>,
    storage_latency: Family<OperationLabels, Histogram, fn() -> Histogram>,
    bytes_in: Counter,
    bytes_out: Counter,
    uploads_in_flight: Gauge,
    /// The two series of `connections`, made once: a connection counts without a lookup.
    connections_open: Gauge,
    connections_waiting: Gauge,
    cache: Family<CacheLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn histogram() -> Histogram {
    Histogram::new(latency_buckets())
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("session_share");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        let latency =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head, by route",
            latency.clone(),
        );
        let storage_requests = Family::<OperationLabels, Counter>::default();
        registry.register(
            "storage_requests",
            "Object storage requests, by operation",
            storage_requests.clone(),
        );
        let storage_errors = Family::<OperationLabels, Counter>::default();
        registry.register(
            "storage_errors",
            "Object storage requests that failed (not counting not-found and refused conditions)",
            storage_errors.clone(),
        );
        let storage_retries = Family::<OperationLabels, Counter>::default();
        registry.register(
            "storage_retries",
            "Object storage requests sent again after a fault (a reset, a timeout, a 5xx)",
            storage_retries.clone(),
        );
        let storage_latency =
            Family::<OperationLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                histogram,
            );
        registry.register(
            "storage_request_duration_seconds",
            "Object storage time to answer, by operation",
            storage_latency.clone(),
        );
        let bytes_in = Counter::default();
        registry.register("request_body_bytes", "Request body bytes read", bytes_in.clone());
        let bytes_out = Counter::default();
        registry.register(
            "response_body_bytes",
            "Response body bytes announced (Content-Length) in answers",
            bytes_out.clone(),
        );
        let uploads_in_flight = Gauge::default();
        registry.register(
            "uploads_in_flight",
            "Session uploads being received or checked",
            uploads_in_flight.clone(),
        );
        let connections = Family::<ConnectionLabels, Gauge>::default();
        registry.register(
            "connections",
            "Client connections: open, or waiting for their address's turn",
            connections.clone(),
        );
        let connection = |state| connections.get_or_create(&ConnectionLabels { state }).clone();
        let (connections_open, connections_waiting) = (connection("open"), connection("waiting"));
        let cache = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_lookups",
            "Cache lookups, by cache and hit or miss",
            cache.clone(),
        );
        Arc::new(Self {
            registry,
            requests,
            latency,
            storage_requests,
            storage_errors,
            storage_retries,
            storage_latency,
            bytes_in,
            bytes_out,
            uploads_in_flight,
            connections_open,
            connections_waiting,
            cache,
        })
    }

    /// `route` borrows when it can (operation ids are static): no allocation per request.
    pub fn request(
        &self,
        method: &'static str,
        route: Cow<'static, str>,
        status: u16,
        seconds: f64,
    ) {
        self.latency.get_or_create(&RouteLabels { method, route: route.clone() }).observe(seconds);
        self.requests.get_or_create(&RequestLabels { method, route, status }).inc();
    }

    pub fn storage(&self, operation: &'static str, seconds: f64, failed: bool) {
        let labels = OperationLabels { operation };
        self.storage_requests.get_or_create(&labels).inc();
        self.storage_latency.get_or_create(&labels).observe(seconds);
        if failed {
            self.storage_errors.get_or_create(&labels).inc();
        }
    }

    /// A storage request is sent again after a fault.
    pub fn storage_retry(&self, operation: &'static str) {
        self.storage_retries.get_or_create(&OperationLabels { operation }).inc();
    }

    pub fn bytes_in(&self, n: u64) {
        self.bytes_in.inc_by(n);
    }

    pub fn bytes_out(&self, n: u64) {
        self.bytes_out.inc_by(n);
    }

    /// Counts an upload as in flight until the guard drops.
    pub fn upload(self: &Arc<Self>) -> UploadGuard {
        self.uploads_in_flight.inc();
        UploadGuard(self.clone())
    }

    /// Counts a connection being served until the guard drops.
    pub fn connection_open(&self) -> ConnectionGuard {
        ConnectionGuard::count(&self.connections_open)
    }

    /// Counts a connection waiting for its address's turn until the guard drops.
    pub fn connection_waiting(&self) -> ConnectionGuard {
        ConnectionGuard::count(&self.connections_waiting)
    }

    pub fn cache(&self, cache: &'static str, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.cache.get_or_create(&CacheLabels { cache, result }).inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

pub struct UploadGuard(Arc<Metrics>);

impl Drop for UploadGuard {
    fn drop(&mut self) {
        self.0.uploads_in_flight.dec();
    }
}

pub struct ConnectionGuard(Gauge);

impl ConnectionGuard {
    fn count(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_its_labels() {
        let metrics = Metrics::new();
        metrics.request("GET", "/api/sessions/:id".into(), 200, 0.002);
        metrics.storage("get", 0.001, false);
        metrics.storage("put", 0.001, true);
        metrics.cache("keys", true);
        metrics.bytes_in(10);
        {
            let _upload = metrics.upload();
            assert!(metrics.render().contains("session_share_uploads_in_flight 1"));
        }
        let text = metrics.render();
        for line in [
            r#"session_share_http_requests_total{method="GET",route="/api/sessions/:id",status="200"} 1"#,
            r#"session_share_storage_errors_total{operation="put"} 1"#,
            r#"session_share_cache_lookups_total{cache="keys",result="hit"} 1"#,
            "session_share_request_body_bytes_total 10",
            "session_share_uploads_in_flight 0",
            r#"session_share_http_request_duration_seconds_bucket{le="0.004",method="GET",route="/api/sessions/:id"} 1"#,
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
    }
}
