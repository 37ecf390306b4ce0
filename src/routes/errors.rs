//! The error answers of a route, as it declares them.
//!
//! A handler returns `Result<Success, Refusal<Statuses>>`: `Statuses` lists, next to the
//! handler, the error statuses it answers and what each means there, which is what the
//! OpenAPI document shows. Every route also answers 429, 500 and 503 (see [`COMMON`]). The
//! status comes from the error's code; a route that answers one its table lacks fails the
//! tests that drive it ([`Refusal::checked`]), and CI's schemathesis run checks the rest.

use poem::http::StatusCode;
use std::marker::PhantomData;

use poem::{IntoResponse, Response};
use poem_openapi::{
    ApiResponse,
    registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::Type,
};

use crate::error::{ApiError, ErrorBody};

/// The error statuses of one route, each with what it means on that route.
pub trait Statuses: Send + Sync + 'static {
    const STATUSES: &'static [(StatusCode, &'static str)];
}

/// What every route may answer besides its own statuses.
pub const COMMON: &[(StatusCode, &str)] = &[
    (
        StatusCode::TOO_MANY_REQUESTS,
        "`RATE_LIMITED`: over `--write-rate` (writes, per key) or `--read-rate` (reads, per key \
         or client address). Retry after `Retry-After` seconds.",
    ),
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "`INTERNAL_ERROR`: a bug. Nothing internal is answered; the log has it.",
    ),
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "`STORAGE_UNAVAILABLE` or `AUTH_UNAVAILABLE`: storage or the `--auth-url` key service \
         is unreachable; `SERVER_BUSY`: too many uploads in flight. Nothing was changed. Retry \
         after `Retry-After` seconds.",
    ),
];

/// What every route that stores what a client wrote may answer under `--secret-policy reject`.
pub const SECRETS_FOUND: (StatusCode, &str) = (
    StatusCode::UNPROCESSABLE_ENTITY,
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

impl<S: Statuses> Refusal<S> {
    /// The error, once checked against what its route declares: a status the route's table
    /// lacks fails every test that drives it (a debug build panics), and is logged in a
    /// release build, where it is answered as it is.
    fn checked(self) -> ApiError {
        let status = self.0.status();
        if !declares::<S>(status) {
            let code = self.0.code();
            debug_assert!(false, "a route answered {status} ({code:?}), which it does not declare");
            tracing::error!(%status, ?code, "a route answered a status it does not declare");
        }
        self.0
    }
}

/// Whether a route whose table is `S` declares `status`.
pub fn declares<S: Statuses>(status: StatusCode) -> bool {
    S::STATUSES.iter().chain(COMMON).any(|(declared, _)| *declared == status)
}

impl<S: Statuses> IntoResponse for Refusal<S> {
    fn into_response(self) -> Response {
        self.checked().into_response()
    }
}

impl<S: Statuses> From<Refusal<S>> for poem::Error {
    fn from(refusal: Refusal<S>) -> Self {
        poem::Error::from(refusal.checked())
    }
}

impl<S: Statuses> ApiResponse for Refusal<S> {
    fn meta() -> MetaResponses {
        let responses = S::STATUSES
            .iter()
            .chain(COMMON)
            .map(|&(status, description)| MetaResponse {
                description,
                status: Some(status.as_u16()),
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
fn retry_after(status: StatusCode) -> Option<MetaHeader> {
    matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE).then(|| {
        MetaHeader {
            name: "Retry-After".into(),
            description: Some("Seconds to wait before retrying.".into()),
            required: true,
            deprecated: false,
            schema: u32::schema_ref(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    struct OnlyNotFound;
    impl Statuses for OnlyNotFound {
        const STATUSES: &'static [(StatusCode, &'static str)] = &[(StatusCode::NOT_FOUND, "")];
    }

    #[test]
    #[cfg_attr(not(debug_assertions), ignore = "it checks a debug assertion")]
    fn a_route_answers_only_what_it_declares() {
        assert!(declares::<OnlyNotFound>(StatusCode::NOT_FOUND));
        assert!(declares::<OnlyNotFound>(StatusCode::SERVICE_UNAVAILABLE), "common to all");
        assert!(!declares::<OnlyNotFound>(StatusCode::CONFLICT));
        let declared = Refusal::<OnlyNotFound>::from(ApiError::session_not_found());
        assert_eq!(declared.into_response().status(), StatusCode::NOT_FOUND);
        let undeclared = std::panic::catch_unwind(|| {
            Refusal::<OnlyNotFound>::from(ApiError::new(ErrorCode::Conflict, "x")).into_response()
        });
        assert!(undeclared.is_err(), "an undeclared status fails in a debug build");
    }
}
