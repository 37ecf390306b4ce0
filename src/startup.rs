//! Builds and runs the service: settings become shared state, the listener, background
//! tasks and the HTTP surface, in the named steps of [`Application::build`].

use std::{sync::Arc, time::Duration};

use poem::{Endpoint, EndpointExt};

use crate::{
    access::{Access, ClientIpHeader, RateLimits, RequestsPerClient},
    configuration::Settings,
    metrics::Metrics,
    pages::{DocumentCache, PageSettings},
    remote_keys::RemoteKeys,
    router::RouteTable,
    server::ConnectionLimits,
    state::{AppState, Uploads},
    storage::{
        ConditionalWrites, ConditionalWritesState, KeyStore, OpenedStore, SessionStore,
        StorageError, TeamStore, open_store_bounded, probe_conditional_writes,
    },
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
    /// Opens storage, binds the port (port 0 picks a free one), builds what every request
    /// shares, starts the background tasks and puts the HTTP surface together.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let metrics = Metrics::new();
        let opened = open_store_bounded(
            &settings.storage.storage,
            &settings.s3,
            settings.storage_bounds(),
            metrics.clone(),
        )?;
        let listener = crate::server::listen(settings.bind.as_str())
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.bind))?;
        let address = listener.local_addr()?;
        let public_url = public_url(&settings, address);
        let state = shared_state(&settings, &opened, public_url, metrics.clone())?;
        tracing::info!(
            address = %address, storage = %settings.storage.storage, public_url = %state.public_url,
            max_body = state.uploads.max_body, "session-share listening"
        );
        start_background_tasks(&state, opened);
        let public_url = state.public_url.clone();
        let (endpoint, routes) = http_surface(&settings, state);
        Ok(Self {
            port: address.port(),
            listener,
            limits: connection_limits(&settings),
            public_url,
            metrics,
            endpoint,
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

/// The base of share URLs: `--public-url`, or the address listened on (with a warning when
/// that is every interface: links then name `localhost`).
fn public_url(settings: &Settings, address: std::net::SocketAddr) -> String {
    if let Some(url) = &settings.public_url {
        return url.clone();
    }
    let host = if address.ip().is_unspecified() {
        tracing::warn!(
            "listening on every interface, but share links will name localhost, which other \
             machines do not reach: set --public-url (SESSION_SHARE_PUBLIC_URL) to the URL \
             clients use"
        );
        "localhost".to_owned()
    } else if address.is_ipv6() {
        format!("[{}]", address.ip())
    } else {
        address.ip().to_string()
    };
    format!("http://{host}:{}", address.port())
}

/// What every request shares, from the settings.
fn shared_state(
    settings: &Settings,
    opened: &OpenedStore,
    public_url: String,
    metrics: Arc<Metrics>,
) -> anyhow::Result<AppState> {
    let max_ttl = chrono::Duration::from_std(settings.max_ttl)
        .map_err(|_| anyhow::anyhow!("--max-ttl is too long"))?;
    let remote = settings
        .auth_url
        .clone()
        .map(|url| RemoteKeys::new(url, settings.auth_cache_ttl))
        .transpose()?;
    let limits =
        RateLimits::new(settings.write_rate.0, settings.read_rate.0, settings.auth_failure_rate.0);
    let conditional_writes = ConditionalWritesState::default();
    let mut sessions =
        SessionStore::new(opened, conditional_writes.clone(), settings.storage_bounds())
            .with_caches(settings.metadata_cache_ttl, metrics.clone())
            .with_max_revisions(settings.max_revisions);
    if let Some(ids) = &settings.id_source {
        sessions = sessions.with_random_ids(ids.0.clone());
    }
    let keys = KeyStore::new(opened.store.clone())
        .with_cache(settings.metadata_cache_ttl, metrics.clone());
    Ok(AppState {
        sessions,
        access: Access {
            keys,
            teams: TeamStore::new(opened.store.clone()).with_cache(settings.metadata_cache_ttl),
            remote,
            limits,
        },
        metrics,
        validator: Arc::new(SessionValidator::new()?),
        conditional_writes,
        public_url,
        uploads: Uploads {
            max_body: settings.max_body,
            stall: settings.idle_timeout,
            min_rate: settings.min_body_rate,
            grace: BODY_GRACE,
            inflight: Arc::new(tokio::sync::Semaphore::new(
                usize::try_from(settings.max_inflight_bodies / 1024).unwrap_or(usize::MAX).max(1),
            )),
        },
        checks: Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, usize::from),
        )),
        max_ttl,
        reshare: settings.reshare,
        secret_policy: settings.secret_policy,
        allow_indexing: settings.allow_indexing,
    })
}

/// The start-up probe of conditional writes, the credential rules compiled before the first
/// create needs them, and the rate limiters' cleanup.
fn start_background_tasks(state: &AppState, opened: OpenedStore) {
    tokio::spawn(probe_until_known(opened.store, state.conditional_writes.clone()));
    if state.secret_policy != crate::secrets::SecretPolicy::Off {
        // The rules compile once (about 50 ms): at start-up, not in the first create.
        tokio::task::spawn_blocking(|| crate::secrets::SecretScanner::embedded().rule_count());
    }
    let limits = state.access.limits.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(LIMITER_CLEANUP);
        loop {
            every.tick().await;
            limits.forget_idle();
        }
    });
}

/// The routes with their middleware; behind a proxy, the cap on one client's requests in
/// flight. Answers the endpoint and the table of its routes.
fn http_surface(
    settings: &Settings,
    state: AppState,
) -> (poem::endpoint::BoxEndpoint<'static>, Arc<RouteTable>) {
    let cors_origins = settings.cors_origins.clone().unwrap_or_else(|| {
        let origin = url::Url::parse(&state.public_url).map(|u| u.origin().ascii_serialization());
        origin.into_iter().chain(["vscode-webview://*".to_owned()]).collect()
    });
    tracing::info!(cors_origins = ?cors_origins, auth_url = ?settings.auth_url, "access settings");
    let pages = PageSettings {
        cache: DocumentCache::new(settings.page_cache),
        vscode_extension_id: settings.vscode_extension_id.clone(),
    };
    let client_ip_header = ClientIpHeader(settings.client_ip_header.clone());
    let (app, routes) =
        crate::surface::app(state, pages, cors_origins, client_ip_header, settings.request_timeout);
    let per_client = settings
        .client_ip_header
        .clone()
        .map(|header| RequestsPerClient::new(header, settings.max_connections_per_address));
    let app = app.around(move |next, req| {
        let per_client = per_client.clone();
        async move {
            match per_client {
                Some(per_client) => per_client.around(next, req).await,
                None => Ok(poem::IntoResponse::into_response(next.call(req).await?)),
            }
        }
    });
    (app.boxed(), routes)
}

/// How connections are bounded. Behind a proxy every connection is the proxy's, so the cap
/// per address moves to requests in flight per client (see `http_surface`).
fn connection_limits(settings: &Settings) -> ConnectionLimits {
    let behind_proxy = settings.client_ip_header.is_some();
    ConnectionLimits {
        header_timeout: settings.header_timeout,
        idle_timeout: settings.idle_timeout,
        max_connections: settings.max_connections,
        per_address: (!behind_proxy).then_some(settings.max_connections_per_address),
        drain: DRAIN_TIMEOUT,
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
