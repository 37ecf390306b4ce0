//! Builds and runs the service: storage, the start-up probe, routes, middleware.

use std::{sync::Arc, time::Duration};

use poem::{
    EndpointExt, IntoResponse, Response, Route, Server,
    error::{MethodNotAllowedError, NotFoundError},
    http::StatusCode,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
    http::uri::Scheme,
    web::{LocalAddr, RemoteAddr},
    middleware::CatchPanic,
};

use crate::{
    configuration::Settings,
    domain::ShareId,
    routes::{ApiError, AppState, ErrorBody, api_service, reject_dot_segments},
    storage::{
        ConditionalWrites, ConditionalWritesState, KeyStore, SessionStore, open_store,
        probe_conditional_writes,
    },
    telemetry,
    validation::SessionValidator,
};

/// How long SIGTERM waits for in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the conditional-write probe retries while storage is unreachable.
const PROBE_RETRY: Duration = Duration::from_secs(5);

pub struct Application {
    acceptor: NoDelayAcceptor,
    port: u16,
    state: AppState,
}

impl Application {
    /// Opens storage, compiles the schema and binds the port (port 0 picks a free one).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let opened = open_store(&settings.storage, &settings.s3)?;
        let validator = Arc::new(SessionValidator::new()?);
        let acceptor = TcpListener::bind(settings.bind.as_str())
            .into_acceptor()
            .await
            .map(NoDelayAcceptor)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.bind))?;
        let address = acceptor
            .local_addr()
            .into_iter()
            .find_map(|a| a.as_socket_addr().copied())
            .ok_or_else(|| anyhow::anyhow!("{} is not a TCP address", settings.bind))?;
        let public_url = settings.public_url.clone().unwrap_or_else(|| {
            let host = if address.ip().is_unspecified() { "localhost".to_owned() } else { address.ip().to_string() };
            let host = if address.is_ipv6() && host != "localhost" { format!("[{host}]") } else { host };
            format!("http://{host}:{}", address.port())
        });

        let conditional_writes = ConditionalWritesState::default();
        let ids = settings.id_source.clone().unwrap_or_else(|| Arc::new(ShareId::generate));
        let state = AppState {
            sessions: SessionStore::new(
                opened.store.clone(),
                opened.supports_content_type,
                conditional_writes.clone(),
                ids,
            ),
            keys: KeyStore::new(opened.store.clone()),
            validator,
            conditional_writes: conditional_writes.clone(),
            public_url,
            max_body: settings.max_body,
        };
        tracing::info!(
            address = %address, storage = %settings.storage, public_url = %state.public_url,
            max_body = settings.max_body, "session-share listening"
        );
        tokio::spawn(probe_until_known(opened.store, conditional_writes));
        Ok(Self { port: address.port(), acceptor, state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn public_url(&self) -> &str {
        &self.state.public_url
    }

    /// Serves until SIGTERM or Ctrl-C, then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(app(self.state), shutdown_signal(), Some(DRAIN_TIMEOUT))
            .await
    }
}

/// Accepts TCP connections with Nagle's algorithm off. poem leaves it on, and a response
/// written in two parts (headers, then body) then stalls ~40 ms on the client's delayed ACK:
/// measured as 2.6 ms vs 45 ms for the same small create in `benches/roundtrip.rs`.
struct NoDelayAcceptor(TcpAcceptor);

impl Acceptor for NoDelayAcceptor {
    type Io = tokio::net::TcpStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.0.local_addr()
    }

    async fn accept(&mut self) -> std::io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let accepted = self.0.accept().await?;
        if let Err(error) = accepted.0.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        Ok(accepted)
    }
}

/// The whole HTTP surface.
fn app(state: AppState) -> impl poem::Endpoint {
    let api = api_service();
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    Route::new()
        .nest("/", api)
        .at("/api/openapi.json", spec)
        .nest("/docs", docs)
        .catch_error(|_: NotFoundError| async {
            json_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route; see /docs")
        })
        .catch_error(|_: MethodNotAllowedError| async {
            json_error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "method not allowed on this route; see /docs")
        })
        .data(state)
        .with(CatchPanic::new().with_handler(|_| ApiError::internal("a request handler panicked").body_response()))
        .around(reject_dot_segments)
        .around(telemetry::log_requests)
}

fn json_error(status: StatusCode, code: &str, error: &str) -> Response {
    let body = ErrorBody { error: error.into(), code: code.into(), details: vec![] };
    let mut resp = poem_openapi::payload::Json(body).into_response();
    resp.set_status(status);
    resp
}

impl ApiError {
    fn body_response(&self) -> Response {
        poem::error::ResponseError::as_response(self)
    }
}

/// Finds out once whether storage honours conditional writes, retrying while it is
/// unreachable. Until then creates check before they write.
async fn probe_until_known(store: Arc<dyn object_store::ObjectStore>, state: ConditionalWritesState) {
    loop {
        match probe_conditional_writes(store.as_ref()).await {
            Ok(result) => {
                state.set(result);
                if result == ConditionalWrites::Supported {
                    tracing::info!(conditional_writes = result.as_str(), "storage probed");
                } else {
                    tracing::warn!(conditional_writes = result.as_str(),
                        "storage overwrites instead of refusing If-None-Match: share ids are claimed by check-then-write");
                }
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "storage unreachable; will probe again");
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
    tracing::info!("shutting down: draining in-flight requests");
}
