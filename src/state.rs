//! What every request needs, built once at start-up: storage, the validator, access settings.
//! Routes and pages each read it; neither knows the other.

use std::sync::Arc;

use crate::{
    access::{Access, Granted, Reader, may_read},
    domain::{ShareId, ShareRecord},
    error::ApiError,
    metrics::Metrics,
    secrets::SecretPolicy,
    storage::{ConditionalWritesState, SessionStore},
    validation::SessionValidator,
};

/// Everything a request needs; built once at start-up, shared by all requests.
#[derive(Clone)]
pub struct AppState {
    pub sessions: SessionStore,
    pub access: Access,
    pub validator: Arc<SessionValidator>,
    pub conditional_writes: ConditionalWritesState,
    /// Base of the share URLs handed out, without a trailing slash.
    pub public_url: String,
    pub uploads: Uploads,
    /// Documents parsed and checked at once: one per core. The work is CPU-bound, so more at
    /// once only adds parsed trees in memory, not speed.
    pub checks: Arc<tokio::sync::Semaphore>,
    /// The furthest ahead a share may expire.
    pub max_ttl: chrono::Duration,
    /// What sharing a task again does (`--reshare`).
    pub reshare: Reshare,
    /// What a create does with credentials in a session (`--secret-policy`).
    pub secret_policy: SecretPolicy,
    /// Whether public shares may be indexed by search engines (`--allow-indexing`).
    pub allow_indexing: bool,
    pub metrics: Arc<Metrics>,
}

/// How request bodies are bounded.
#[derive(Clone)]
pub struct Uploads {
    pub max_body: u64,
    /// Upload bytes in flight, in KiB, across all requests (`--max-inflight-bodies`).
    pub inflight: Arc<tokio::sync::Semaphore>,
    /// How long a request body may stop arriving (`--idle-timeout`).
    pub stall: std::time::Duration,
    /// Past `grace`, a body must have arrived at `min_rate` bytes a second on average
    /// (`--min-body-rate`): a trickle is cut within `grace` plus its bytes at that rate.
    pub min_rate: u64,
    pub grace: std::time::Duration,
}

/// What a create of a task that already has a live share of its owner does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Reshare {
    /// Adds a revision to that share: same link, latest session.
    Update,
    /// Makes a share of its own, with a new link, every time.
    NewLink,
}

impl AppState {
    /// Whether `reader` may read share `id` whose record is `record`, and why (see
    /// [`crate::access::may_read`]).
    pub async fn may_read(
        &self,
        id: &ShareId,
        record: &ShareRecord,
        reader: &Reader,
    ) -> Result<Granted, ApiError> {
        may_read(record, id, reader, &self.access.teams, self.sessions.link_key()).await
    }

    pub fn share_url(&self, id: &ShareId) -> String {
        format!("{}/session/{id}", self.public_url)
    }
}
