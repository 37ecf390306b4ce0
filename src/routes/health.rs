//! `/api/health`: is the service up, and can it reach storage?

use std::time::Duration;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags, payload::Json};

use crate::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// Liveness and storage reachability.
    Health,
}

pub struct HealthApi;

/// Storage as seen from this replica.
#[derive(Object, Debug, Clone)]
#[oai(rename_all = "camelCase")]
pub struct StorageHealth {
    /// Storage answered a request just now.
    pub reachable: bool,
    /// `supported`: share ids are claimed atomically with `If-None-Match: *`.
    /// `unsupported`: the store overwrites silently, ids are claimed by check-then-write.
    /// `unknown`: storage has not been reached since start-up.
    pub conditional_writes: String,
}

#[derive(Object, Debug, Clone)]
pub struct Health {
    /// `ok`, or `unavailable` when storage does not answer.
    pub status: String,
    pub timestamp: DateTime<Utc>,
    /// The service's version.
    pub version: String,
    pub storage: StorageHealth,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// Up, and storage answers.
    #[oai(status = 200)]
    Ok(Json<Health>),
    /// Up, but storage does not answer: shares can be neither created nor read.
    #[oai(status = 503)]
    Unavailable(Json<Health>),
}

/// A health check must answer quickly even when storage hangs.
const STORAGE_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Service health
    ///
    /// 200 when storage answers, 503 with `status: "unavailable"` when it does not.
    #[oai(path = "/api/health", method = "get", operation_id = "health")]
    async fn health(&self, state: Data<&AppState>) -> HealthResponse {
        let reachable = matches!(
            tokio::time::timeout(STORAGE_CHECK_TIMEOUT, state.sessions.ping()).await,
            Ok(Ok(()))
        );
        let health = Health {
            status: if reachable { "ok" } else { "unavailable" }.into(),
            timestamp: Utc::now(),
            version: env!("CARGO_PKG_VERSION").into(),
            storage: StorageHealth {
                reachable,
                conditional_writes: state.conditional_writes.get().as_str().into(),
            },
        };
        if reachable {
            HealthResponse::Ok(Json(health))
        } else {
            HealthResponse::Unavailable(Json(health))
        }
    }
}
