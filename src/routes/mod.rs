//! HTTP routes: one `#[OpenApi]` impl per resource.

mod access;
mod auth;
mod envelope;
mod errors;
mod health;
mod limits;
mod models;
mod openapi_doc;
mod owner;
mod payload;
mod sessions;

use std::sync::Arc;

pub use access::{ClientAddr, check_readable};
pub use envelope::envelope;
pub use errors::{ApiError, ErrorBody, ErrorCode, ErrorStatus};
pub use health::HealthApi;
pub use limits::{Rate, RateLimits, RateSetting};
pub use sessions::SessionsApi;

use crate::{
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
    /// The furthest ahead a share may expire.
    pub max_ttl: chrono::Duration,
    pub limits: RateLimits,
    pub remote_keys: Option<RemoteKeys>,
    /// A header a trusted proxy sets to the client's address (e.g. `X-Forwarded-For`).
    pub client_ip_header: Option<String>,
    /// Parsed sessions for the share pages.
    pub pages: crate::pages::DocumentCache,
    /// The extension the page's "Import to VS Code" deep link opens.
    pub vscode_extension_id: String,
}

impl AppState {
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

/// The OpenAPI document as served at `/api/openapi.json`, shown by Swagger UI, printed by
/// `session-share openapi` and committed in `openapi/openapi.json`.
pub fn openapi_json() -> String {
    serde_json::to_string_pretty(&openapi_doc::document()).expect("a JSON value serializes")
}

/// Swagger UI's page (everything embedded), showing [`openapi_json`].
pub fn swagger_ui_html() -> String {
    let api = api_service();
    // poem-openapi embeds its own document in the page; ours adds to it (see `openapi_doc`).
    let html = api.swagger_ui_html();
    let embedded = api.spec();
    assert!(html.contains(&embedded), "poem-openapi's Swagger UI page embeds its document");
    html.replacen(&embedded, &openapi_json(), 1)
}
