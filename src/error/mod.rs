//! The HTTP error model: the JSON error every answer carries: `{"error": "...", "code": "...", "details": [...]}`.
//!
//! The extension shows `<status> <response text>` to the user, so messages are short and
//! human-readable, and no 5xx ever carries an internal message.

use poem::{IntoResponse, Response, http::StatusCode};
use poem_openapi::{Enum, Object, payload::Json};

mod conversions;

/// The longest `error` message: the extension shows it in one line to the user.
pub const MAX_MESSAGE_CHARS: usize = 300;

fn cap(mut message: String) -> String {
    if let Some((at, _)) = message.char_indices().nth(MAX_MESSAGE_CHARS - 1) {
        message.truncate(at);
        message.push('…');
    }
    message
}

/// Seconds a client should wait before retrying after a storage outage.
pub const RETRY_AFTER_SECS: u32 = 5;

/// An error answer. The extension shows `<status> <body>` to the user, so `error` comes first
/// and is short; counts and positions are in `details`.
#[derive(Object, Debug, Clone, PartialEq, Eq)]
#[oai(example)]
pub struct ErrorBody {
    /// What went wrong, in words a user can act on (at most 300 characters).
    pub error: String,
    /// A stable machine-readable code.
    pub code: ErrorCode,
    /// Where exactly: each schema violation with its JSON pointer, a JSON syntax error's
    /// line and column. Absent when there is nothing to add.
    #[oai(default, skip_serializing_if_is_empty)]
    pub details: Vec<ErrorDetail>,
}

/// Every `code` an error answer can carry.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// 400: the body is not JSON (or has a duplicate key).
    InvalidJson,
    /// 400: the session or a share option breaks the schema.
    InvalidSession,
    /// 400: `version` is not `1.x.y`.
    UnsupportedVersion,
    /// 400: a body, parameter or header of the wrong shape.
    InvalidRequest,
    /// 400: a malformed share id.
    InvalidId,
    /// 400: a malformed username.
    InvalidUsername,
    /// 400: a path segment that could escape its place (`..`, `%2F`).
    InvalidPath,
    /// 401: no key where one is needed.
    MissingApiKey,
    /// 401: a key this service does not accept, on a write.
    InvalidApiKey,
    /// 403: someone else's share, or a browser origin that may not call the API.
    AccessDenied,
    /// 404: no such share (or private and not yours).
    SessionNotFound,
    /// 404: the share keeps no such revision.
    RevisionNotFound,
    /// 404: no such route.
    NotFound,
    /// 405: the route does not take this method; `Allow` lists those it takes.
    MethodNotAllowed,
    /// 409: concurrent updates kept winning.
    Conflict,
    /// 412: `If-Match` names a version that is no longer the latest.
    PreconditionFailed,
    /// 410: the share has expired.
    SessionExpired,
    /// 413: the body is over the limit.
    PayloadTooLarge,
    /// 414: the URL is over the limit.
    UriTooLong,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 422: the session holds credentials and the server refuses such sessions
    /// (`--secret-policy reject`); `details` says where, never what.
    SecretsFound,
    /// 429: over a rate limit; see `Retry-After`.
    RateLimited,
    /// 431: the request headers are over the limit.
    HeadersTooLarge,
    /// 500: a bug; the details are in the server's log.
    InternalError,
    /// 503: storage unreachable; see `Retry-After`.
    StorageUnavailable,
    /// 503: the `--auth-url` key service unreachable; see `Retry-After`.
    AuthUnavailable,
    /// 503: more upload bytes in flight than `--max-inflight-bodies`; see `Retry-After`.
    ServerBusy,
}

impl ErrorCode {
    /// The one status this code is answered with.
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            InvalidJson | InvalidSession | UnsupportedVersion | InvalidRequest | InvalidId
            | InvalidUsername | InvalidPath => StatusCode::BAD_REQUEST,
            MissingApiKey | InvalidApiKey => StatusCode::UNAUTHORIZED,
            AccessDenied => StatusCode::FORBIDDEN,
            SessionNotFound | RevisionNotFound | NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Conflict => StatusCode::CONFLICT,
            PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            SessionExpired => StatusCode::GONE,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UriTooLong => StatusCode::URI_TOO_LONG,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            SecretsFound => StatusCode::UNPROCESSABLE_ENTITY,
            RateLimited => StatusCode::TOO_MANY_REQUESTS,
            HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            StorageUnavailable | AuthUnavailable | ServerBusy => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Every code, as the OpenAPI document lists them (for the checks that docs list them too).
    pub fn all() -> Vec<ErrorCode> {
        use poem_openapi::types::{ParseFromJSON, Type};
        let mut registry = poem_openapi::registry::Registry::new();
        Self::register(&mut registry);
        registry.schemas[Self::name().as_ref()]
            .enum_items
            .iter()
            .filter_map(|item| Self::parse_from_json(Some(item.clone())).ok())
            .collect()
    }
}

impl poem_openapi::types::Example for ErrorBody {
    fn example() -> Self {
        Self {
            error: "the session does not match the SerializedSession schema: 1 violation".into(),
            code: ErrorCode::InvalidSession,
            details: vec![ErrorDetail {
                pointer: Some("/messages/3/ts".into()),
                line: None,
                column: None,
                message: "\"yesterday\" is not of type \"number\"".into(),
            }],
        }
    }
}

/// One problem in a request body.
#[derive(Object, Debug, Clone, PartialEq, Eq)]
pub struct ErrorDetail {
    /// JSON pointer to the offending value (`""` is the whole document).
    #[oai(skip_serializing_if_is_none)]
    pub pointer: Option<String>,
    /// Line of a JSON syntax error, from 1.
    #[oai(skip_serializing_if_is_none)]
    pub line: Option<u64>,
    /// Column of a JSON syntax error, from 1.
    #[oai(skip_serializing_if_is_none)]
    pub column: Option<u64>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {:?}: {}", .body.code.status().as_u16(), .body.code, .body.error)]
pub struct ApiError {
    pub body: ErrorBody,
    /// Seconds for `Retry-After`: every 503 has it, and a 429 says how long.
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(code: ErrorCode, error: impl Into<String>) -> Self {
        let retry_after =
            (code.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(RETRY_AFTER_SECS);
        Self { body: ErrorBody { error: cap(error.into()), code, details: vec![] }, retry_after }
    }

    pub fn code(&self) -> ErrorCode {
        self.body.code
    }

    pub fn status(&self) -> StatusCode {
        self.body.code.status()
    }

    /// A key was needed and missing, or not accepted (401).
    pub fn is_key_refused(&self) -> bool {
        matches!(self.code(), ErrorCode::MissingApiKey | ErrorCode::InvalidApiKey)
    }

    pub fn access_denied() -> Self {
        Self::new(ErrorCode::AccessDenied, "this share belongs to another user")
    }

    pub fn session_expired() -> Self {
        Self::new(ErrorCode::SessionExpired, "this share has expired")
    }

    pub fn conflict() -> Self {
        Self::new(
            ErrorCode::Conflict,
            "the share was changed by another request at the same time; try again",
        )
    }

    pub fn precondition_failed() -> Self {
        Self::new(
            ErrorCode::PreconditionFailed,
            "the share changed since the version in If-Match; read it again",
        )
    }

    pub fn revision_not_found() -> Self {
        Self::new(ErrorCode::RevisionNotFound, "this share keeps no such revision")
    }

    fn retrying_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn rate_limited(retry_after_secs: u32) -> Self {
        Self::new(
            ErrorCode::RateLimited,
            "too many requests; slow down and retry after the time in Retry-After",
        )
        .retrying_after(retry_after_secs.max(1))
    }

    pub fn auth_unavailable() -> Self {
        Self::new(
            ErrorCode::AuthUnavailable,
            "the key service is unreachable right now; try again shortly",
        )
    }

    /// A request field that fails a rule, with its JSON pointer.
    pub fn invalid_field(code: ErrorCode, pointer: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut err = Self::new(code, format!("{pointer}: {message}"));
        err.body.details.push(ErrorDetail {
            pointer: Some(pointer.into()),
            line: None,
            column: None,
            message,
        });
        err
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn invalid_path() -> Self {
        Self::new(
            ErrorCode::InvalidPath,
            "path segments may not be '.', '..' or contain an encoded '/'",
        )
    }

    pub fn missing_api_key() -> Self {
        Self::new(
            ErrorCode::MissingApiKey,
            "an API key is required: set your Syntx API key in the extension settings \
             (it is sent as the Syntx-Api-Key header)",
        )
    }

    pub fn invalid_api_key() -> Self {
        Self::new(
            ErrorCode::InvalidApiKey,
            "this API key is unknown or revoked: set a current Syntx API key in the extension \
             settings (it is sent as the Syntx-Api-Key header)",
        )
    }

    pub fn session_not_found() -> Self {
        Self::new(ErrorCode::SessionNotFound, "no session with this id")
    }

    pub fn payload_too_large(limit: u64) -> Self {
        Self::new(
            ErrorCode::PayloadTooLarge,
            format!("the request body is larger than this route accepts ({limit} bytes)"),
        )
    }

    pub fn unsupported_media_type(found: Option<&str>) -> Self {
        let found = found.map_or("no Content-Type".to_owned(), |c| format!("Content-Type {c}"));
        Self::new(
            ErrorCode::UnsupportedMediaType,
            format!("send the body as Content-Type: application/json (got {found})"),
        )
    }

    pub fn server_busy() -> Self {
        Self::new(
            ErrorCode::ServerBusy,
            "the server is receiving too many uploads right now; try again shortly",
        )
    }

    /// An address over `--max-connections-per-address`, told so by the connection layer.
    pub fn too_many_connections() -> Self {
        Self::new(
            ErrorCode::ServerBusy,
            "too many connections from your address; close some and retry",
        )
    }

    /// This error as a whole HTTP/1.1 answer after which the connection closes: for the
    /// connection layer, which answers before any request is served. Its length, type and body
    /// are the ones every other answer of this error has.
    pub fn http1_close(&self) -> bytes::Bytes {
        use poem_openapi::types::ToJSON;
        let body = self.body.to_json_string();
        let status = self.status();
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: application/json; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n",
            status.as_str(),
            status.canonical_reason().unwrap_or_default(),
            body.len()
        );
        if let Some(secs) = self.retry_after {
            head.push_str(&format!("Retry-After: {secs}\r\n"));
        }
        head.push_str("\r\n");
        bytes::Bytes::from([head.into_bytes(), body.into_bytes()].concat())
    }

    pub fn storage_unavailable() -> Self {
        Self::new(
            ErrorCode::StorageUnavailable,
            "session storage is unavailable right now; try again shortly",
        )
    }

    /// A bug or an impossible state: logged in full, answered without internals.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::InternalError, "internal server error")
    }
}

/// The one way an `ApiError` becomes an answer: its JSON, its code's status, `Retry-After`.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        poem::error::ResponseError::as_response(&self)
    }
}

/// Lets an `ApiError` travel inside a `poem::Error` (from extractors) and render itself.
impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status()
    }

    fn as_response(&self) -> Response {
        let mut resp = Json(self.body.clone()).into_response();
        resp.set_status(self.status());
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert("Retry-After", secs.into());
        }
        resp
    }
}
