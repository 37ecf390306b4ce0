//! Builds and runs the service: storage, the start-up probe, routes, middleware.

use std::{sync::Arc, time::Duration};

use poem::{
    Endpoint, EndpointExt, Response,
    error::{MethodNotAllowedError, NotFoundError},
    http::Method,
    middleware::{CatchPanic, Cors},
};

use crate::{
    access::{Access, ClientIpHeader, RateLimits, RequestsPerClient},
    configuration::Settings,
    error::{ApiError, ErrorCode},
    metrics::Metrics,
    pages::{self, DocumentCache, PageSettings},
    remote_keys::RemoteKeys,
    router::{RouteTable, Router},
    routes::{api, api_service, envelope, openapi_json, swagger_ui_csp, swagger_ui_html},
    server::ConnectionLimits,
    state::{AppState, Uploads},
    storage::{
        ConditionalWrites, ConditionalWritesState, KeyStore, SessionStore, StorageError,
        open_store_bounded, probe_conditional_writes,
    },
    telemetry,
    validation::SessionValidator,
};

/// How long SIGTERM waits for in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the conditional-write probe retries while storage is unreachable.
const PROBE_RETRY: Duration = Duration::from_secs(5);
/// How long a request body may arrive at any pace before `--min-body-rate` applies.
const BODY_GRACE: Duration = Duration::from_secs(10);
/// How often rate-limit counters of idle clients are dropped.
const LIMITER_CLEANUP: Duration = Duration::from_secs(60);

pub struct Application {
    listener: tokio::net::TcpListener,
    limits: ConnectionLimits,
    port: u16,
    public_url: String,
    metrics: Arc<Metrics>,
    endpoint: poem::endpoint::BoxEndpoint<'static>,
    routes: Arc<RouteTable>,
}

impl Application {
    /// Opens storage, compiles the schema and binds the port (port 0 picks a free one).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let metrics = Metrics::new();
        let opened = open_store_bounded(
            &settings.storage,
            &settings.s3,
            settings.storage_bounds,
            metrics.clone(),
        )?;
        let validator = Arc::new(SessionValidator::new()?);
        let listener = crate::server::listen(settings.bind.as_str())
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.bind))?;
        let address = listener.local_addr()?;
        let public_url = settings.public_url.clone().unwrap_or_else(|| {
            let host = if address.ip().is_unspecified() {
                "localhost".to_owned()
            } else {
                address.ip().to_string()
            };
            let host =
                if address.is_ipv6() && host != "localhost" { format!("[{host}]") } else { host };
            format!("http://{host}:{}", address.port())
        });

        if settings.public_url.is_none() && address.ip().is_unspecified() {
            tracing::warn!(
                public_url = %public_url,
                "listening on every interface, but share links will name localhost, which other \
                 machines do not reach: set --public-url (SESSION_SHARE_PUBLIC_URL) to the URL \
                 clients use"
            );
        }
        let max_ttl = chrono::Duration::from_std(settings.max_ttl)
            .map_err(|_| anyhow::anyhow!("--max-ttl is too long"))?;
        let remote_keys = settings
            .auth_url
            .clone()
            .map(|url| RemoteKeys::new(url, settings.auth_cache_ttl))
            .transpose()?;
        let limits =
            RateLimits::new(settings.write_rate, settings.read_rate, settings.auth_failure_rate);
        let cors_origins = settings.cors_origins.clone().unwrap_or_else(|| {
            let origin = url::Url::parse(&public_url).map(|u| u.origin().ascii_serialization());
            origin.into_iter().chain(["vscode-webview://*".to_owned()]).collect()
        });

        let conditional_writes = ConditionalWritesState::default();
        let mut sessions =
            SessionStore::new(&opened, conditional_writes.clone(), settings.storage_bounds)
                .with_caches(settings.metadata_cache_ttl, metrics.clone())
                .with_max_revisions(settings.max_revisions);
        if let Some(ids) = settings.id_source.clone() {
            sessions = sessions.with_random_ids(ids);
        }
        let state = AppState {
            sessions,
            access: Access {
                keys: KeyStore::new(opened.store.clone())
                    .with_cache(settings.metadata_cache_ttl, metrics.clone()),
                remote: remote_keys,
                limits: limits.clone(),
            },
            metrics,
            validator,
            conditional_writes: conditional_writes.clone(),
            public_url,
            uploads: Uploads {
                max_body: settings.max_body,
                stall: settings.idle_timeout,
                min_rate: settings.min_body_rate,
                grace: BODY_GRACE,
                inflight: Arc::new(tokio::sync::Semaphore::new(
                    usize::try_from(settings.max_inflight_bodies / 1024)
                        .unwrap_or(usize::MAX)
                        .max(1),
                )),
            },
            checks: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, usize::from),
            )),
            max_ttl,
            reshare: settings.reshare,
            secret_policy: settings.secret_policy,
            allow_indexing: settings.allow_indexing,
        };
        let client_ip_header = ClientIpHeader(settings.client_ip_header.clone());
        tracing::info!(
            address = %address, storage = %settings.storage, public_url = %state.public_url,
            max_body = state.uploads.max_body, "session-share listening"
        );
        tokio::spawn(probe_until_known(opened.store, conditional_writes));
        if state.secret_policy != crate::secrets::SecretPolicy::Off {
            // The rules compile once (about 50 ms): at start-up, not in the first create.
            tokio::task::spawn_blocking(|| crate::secrets::SecretScanner::embedded().rule_count());
        }
        tokio::spawn(async move {
            let mut every = tokio::time::interval(LIMITER_CLEANUP);
            loop {
                every.tick().await;
                limits.forget_idle();
            }
        });
        tracing::info!(cors_origins = ?cors_origins, auth_url = ?settings.auth_url, "access settings");
        let pages = PageSettings {
            cache: DocumentCache::new(settings.page_cache),
            vscode_extension_id: settings.vscode_extension_id.clone(),
        };
        let behind_proxy = settings.client_ip_header.is_some();
        let limits = ConnectionLimits {
            header_timeout: settings.header_timeout,
            idle_timeout: settings.idle_timeout,
            max_connections: settings.max_connections,
            per_address: (!behind_proxy).then_some(settings.max_connections_per_address),
            drain: DRAIN_TIMEOUT,
        };
        let per_client = settings
            .client_ip_header
            .clone()
            .map(|header| RequestsPerClient::new(header, settings.max_connections_per_address));
        let (public_url, metrics) = (state.public_url.clone(), state.metrics.clone());
        let (app, routes) =
            app(state, pages, cors_origins, client_ip_header, settings.request_timeout);
        let app = app.around(move |next, req| {
            let per_client = per_client.clone();
            async move {
                match per_client {
                    Some(per_client) => per_client.around(next, req).await,
                    None => Ok(poem::IntoResponse::into_response(next.call(req).await?)),
                }
            }
        });
        Ok(Self {
            port: address.port(),
            listener,
            limits,
            public_url,
            metrics,
            endpoint: app.boxed(),
            routes,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Every route and the methods it takes: what is routed, and what a 405's `Allow` says.
    pub fn routes(&self) -> &RouteTable {
        &self.routes
    }

    /// Serves until SIGTERM or Ctrl-C, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        crate::server::serve(
            self.listener,
            self.endpoint,
            self.limits,
            self.metrics,
            shutdown_signal(),
        )
        .await
    }
}

/// Browsers may call the API from these origins; `*` at the end matches any rest.
fn cors(origins: Vec<String>) -> Cors {
    Cors::new()
        .allow_origins_fn(move |origin| {
            origins.iter().any(|allowed| match allowed.strip_suffix('*') {
                Some(prefix) => origin.starts_with(prefix),
                None => origin == allowed,
            })
        })
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            "content-type",
            "syntx-api-key",
            "authorization",
            "if-none-match",
            "if-match",
            "x-request-id",
        ])
        .expose_headers([
            "etag",
            "location",
            "retry-after",
            "x-request-id",
            "x-session-owner",
            "x-session-title",
            "x-session-description",
            "x-session-tags",
            "x-session-public",
            "x-session-created-at",
            "x-session-expires-at",
            "x-session-message-count",
            "x-session-revision",
        ])
        .max_age(3600)
}

/// The whole HTTP surface.
fn app(
    state: AppState,
    pages: PageSettings,
    cors_origins: Vec<String>,
    client_ip_header: ClientIpHeader,
    request_timeout: Duration,
) -> (poem::endpoint::BoxEndpoint<'static>, Arc<RouteTable>) {
    let spec = openapi_json();
    let metrics = state.metrics.clone();
    let exposition = state.metrics.clone();
    let docs = swagger_ui_html();
    let docs_csp = swagger_ui_csp(&docs);
    let router = Router::new().api(api(), api_service());
    let (route, table) = pages::routes(router)
        .get(
            "/api/openapi.json",
            poem::endpoint::make_sync(move |_| {
                Response::builder().content_type("application/json").body(spec.clone())
            }),
        )
        .get(
            "/metrics",
            poem::endpoint::make_sync(move |_| {
                Response::builder()
                    .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
                    .body(exposition.render())
            }),
        )
        .get(
            "/docs",
            poem::endpoint::make_sync(move |_| {
                Response::builder()
                    .content_type("text/html; charset=utf-8")
                    .header("Content-Security-Policy", docs_csp.as_str())
                    .header("Referrer-Policy", "no-referrer")
                    .body(docs.clone())
            }),
        )
        .get("/docs/", poem::endpoint::make_sync(|_| poem::web::Redirect::see_other("/docs")))
        .build();
    let endpoint = route
        .catch_error(|_: NotFoundError| async {
            ApiError::new(ErrorCode::NotFound, "no such route; see /docs").body_response()
        })
        .catch_error(|_: MethodNotAllowedError| async {
            ApiError::new(
                ErrorCode::MethodNotAllowed,
                "method not allowed on this route; see /docs",
            )
            .body_response()
        })
        .data(state)
        .data(pages)
        .data(client_ip_header)
        .with(
            CatchPanic::new()
                .with_handler(|_| ApiError::internal("a request handler panicked").body_response()),
        )
        .with(cors(cors_origins))
        .around({
            let table = table.clone();
            move |next, req| envelope(next, req, table.clone(), request_timeout)
        })
        .around(move |next, req| telemetry::log_requests(next, req, metrics.clone()))
        // Boxed: the type of the whole chain is deeper than the compiler follows by default.
        .boxed();
    (endpoint, table)
}

impl ApiError {
    fn body_response(&self) -> Response {
        poem::error::ResponseError::as_response(self)
    }
}

/// Finds out once whether storage honours conditional writes, retrying while it is
/// unreachable. Until then creates check before they write.
async fn probe_until_known(
    store: Arc<dyn object_store::ObjectStore>,
    state: ConditionalWritesState,
) {
    loop {
        match probe_conditional_writes(store.as_ref()).await {
            Ok(result) => {
                state.set(result);
                if result == ConditionalWrites::Supported {
                    tracing::info!(conditional_writes = result.as_str(), "storage probed");
                } else {
                    tracing::warn!(
                        conditional_writes = result.as_str(),
                        "storage overwrites instead of refusing If-None-Match: share ids are claimed by check-then-write"
                    );
                }
                return;
            }
            Err(error) => {
                // Classified as every storage error is: a refusal is not an outage, and an
                // operator must fix the credentials, the bucket or its policy.
                let path = object_store::path::Path::from("_probe");
                match StorageError::from_store("write", &path, error) {
                    error @ StorageError::Refused { .. } => tracing::error!(%error,
                        "storage refuses this service; every request will fail until then"),
                    error => tracing::warn!(%error, "storage unreachable; will probe again"),
                }
                tokio::time::sleep(PROBE_RETRY).await;
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
