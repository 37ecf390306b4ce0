//! What every request needs, built once at start-up: storage, the validator, access settings.
//! Routes and pages each read it; neither knows the other.

use std::sync::Arc;

use crate::{
    access::RateLimits,
    metrics::Metrics,
    remote_keys::RemoteKeys,
    storage::{ConditionalWritesState, KeyStore, SessionStore},
    validation::SessionValidator,
};

/// Everything a request needs; built once at start-up, shared by all requests.
#[derive(Clone)]
pub struct AppState {
    pub sessions: SessionStore,
    pub keys: KeyStore,
    pub validator: Arc<SessionValidator>,
    pub conditional_writes: ConditionalWritesState,
    /// Base of the share URLs handed out, without a trailing slash.
    pub public_url: String,
    pub max_body: u64,
    /// Upload bytes in flight, in KiB, across all requests (`--max-inflight-bodies`).
    pub inflight: Arc<tokio::sync::Semaphore>,
    /// Documents parsed and checked at once: one per core. The work is CPU-bound, so more at
    /// once only adds parsed trees in memory, not speed.
    pub checks: Arc<tokio::sync::Semaphore>,
    /// How long a request body may stop arriving (`--idle-timeout`).
    pub body_timeout: std::time::Duration,
    /// The furthest ahead a share may expire.
    pub max_ttl: chrono::Duration,
    pub limits: RateLimits,
    pub remote_keys: Option<RemoteKeys>,
    /// A header a trusted proxy sets to the client's address (e.g. `X-Forwarded-For`).
    pub client_ip_header: Option<String>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn share_url(&self, id: &crate::domain::ShareId) -> String {
        format!("{}/session/{id}", self.public_url)
    }
}
