//! The error answers of a route, as it declares them.
//!
//! A handler returns `Result<Success, Refusal<Statuses>>`: `Statuses` lists, next to the
//! handler, the error statuses it answers and what each means there, which is what the
//! OpenAPI document shows. Every route also answers 429, 500 and 503 (see [`COMMON`]). The
//! answer itself is always the error's own status and JSON body, declared or not; CI's
//! schemathesis run checks that the statuses answered are the ones declared.

use std::marker::PhantomData;

use poem::{IntoResponse, Response};
use poem_openapi::{
    ApiResponse,
    registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::Type,
};

use crate::error::{ApiError, ErrorBody, ErrorStatus};

/// The error statuses of one route, each with what it means on that route.
pub trait Statuses: Send + Sync + 'static {
    const STATUSES: &'static [(ErrorStatus, &'static str)];
}

/// What every route may answer besides its own statuses.
pub const COMMON: &[(ErrorStatus, &str)] = &[
    (
        ErrorStatus::TooManyRequests,
        "`RATE_LIMITED`: over `--write-rate` (writes, per key) or `--read-rate` (reads, per key \
         or client address). Retry after `Retry-After` seconds.",
    ),
    (
        ErrorStatus::Internal,
        "`INTERNAL_ERROR`: a bug. Nothing internal is answered; the log has it.",
    ),
    (
        ErrorStatus::Unavailable,
        "`STORAGE_UNAVAILABLE` or `AUTH_UNAVAILABLE`: storage or the `--auth-url` key service \
         is unreachable; `SERVER_BUSY`: too many uploads in flight. Nothing was changed. Retry \
         after `Retry-After` seconds.",
    ),
];

/// What every route that stores what a client wrote may answer under `--secret-policy reject`.
pub const SECRETS_FOUND: (ErrorStatus, &str) = (
    ErrorStatus::UnprocessableEntity,
    "`SECRETS_FOUND`: what was sent holds credentials (API keys, tokens, private keys, \
     passwords in URLs) and this server refuses them (`--secret-policy reject`); `details` \
     has the JSON pointer of each, never the credential. Under the default policy \
     (`redact`) they are replaced instead.",
);

/// An error answered by a route that declares `S`.
pub struct Refusal<S>(pub ApiError, PhantomData<fn() -> S>);

impl<S> From<ApiError> for Refusal<S> {
    fn from(error: ApiError) -> Self {
        Self(error, PhantomData)
    }
}

impl<S> From<crate::storage::StorageError> for Refusal<S> {
    fn from(error: crate::storage::StorageError) -> Self {
        ApiError::from(error).into()
    }
}

impl<S> From<crate::domain::DomainError> for Refusal<S> {
    fn from(error: crate::domain::DomainError) -> Self {
        ApiError::from(error).into()
    }
}

impl<S> IntoResponse for Refusal<S> {
    fn into_response(self) -> Response {
        poem::error::ResponseError::as_response(&self.0)
    }
}

impl<S> From<Refusal<S>> for poem::Error {
    fn from(refusal: Refusal<S>) -> Self {
        poem::Error::from(refusal.0)
    }
}

impl<S: Statuses> ApiResponse for Refusal<S> {
    fn meta() -> MetaResponses {
        let responses = S::STATUSES
            .iter()
            .chain(COMMON)
            .map(|&(status, description)| MetaResponse {
                description,
                status: Some(status.http().as_u16()),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: "application/json",
                    schema: ErrorBody::schema_ref(),
                }],
                headers: retry_after(status).into_iter().collect(),
            })
            .collect();
        MetaResponses { responses }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

/// 429 and 503 say when to come back.
fn retry_after(status: ErrorStatus) -> Option<MetaHeader> {
    matches!(status, ErrorStatus::TooManyRequests | ErrorStatus::Unavailable).then(|| MetaHeader {
        name: "Retry-After".into(),
        description: Some("Seconds to wait before retrying.".into()),
        required: true,
        deprecated: false,
        schema: u32::schema_ref(),
    })
}
