//! HTTP routes: one `#[OpenApi]` impl per resource.

mod auth;
mod errors;
mod health;
mod models;
mod path_guard;
mod payload;
mod sessions;

use std::sync::Arc;

pub use errors::{ApiError, ErrorBody, ErrorStatus};
pub use health::HealthApi;
pub use path_guard::reject_dot_segments;
pub use sessions::SessionsApi;

use crate::{
    domain::{ApiKey, Username},
    storage::{ConditionalWritesState, KeyStore, KeyStoreError, SessionStore},
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
}

impl AppState {
    /// Whose key this is, or the 401/503 to answer.
    pub async fn authenticate(&self, key: &ApiKey) -> Result<Username, ApiError> {
        match self.keys.authenticate(key).await {
            Ok(user) => Ok(user),
            Err(KeyStoreError::Unknown | KeyStoreError::Revoked { .. }) => {
                Err(ApiError::invalid_api_key())
            }
            Err(KeyStoreError::Storage(e)) => Err(ApiError::from(e)),
            Err(e) => Err(ApiError::internal(e)),
        }
    }

    pub fn share_url(&self, id: &crate::domain::ShareId) -> String {
        format!("{}/session/{id}", self.public_url)
    }
}

/// The OpenAPI service: every documented route.
pub fn api_service() -> poem_openapi::OpenApiService<(SessionsApi, HealthApi), ()> {
    poem_openapi::OpenApiService::new(
        (SessionsApi, HealthApi),
        "session-share",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Share AI coding sessions from the Syntx VS Code extension. A session \
         (`SerializedSession`: task metadata and the whole chat) is validated against \
         `openapi/session.schema.json`, stored byte for byte under `username/id`, and readable \
         by anyone with its id or share code. Errors are JSON `{error, code, details}`.",
    )
}

/// The OpenAPI document as committed in `openapi/openapi.json`.
pub fn openapi_json() -> String {
    api_service().spec()
}
