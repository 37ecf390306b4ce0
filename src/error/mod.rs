//! The HTTP error model: the JSON error every answer carries: `{"error": "...", "code": "...", "details": [...]}`.
//!
//! The extension shows `<status> <response text>` to the user, so messages are short and
//! human-readable, and no 5xx ever carries an internal message.

use poem::{IntoResponse, Response, http::StatusCode};
use poem_openapi::{Enum, Object, payload::Json};

use crate::{
    domain::DomainError,
    storage::StorageError,
    validation::{DocumentError, MAX_VIOLATIONS},
};

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

/// The statuses an [`ApiError`] can have; the response enums have a variant of each name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStatus {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    Gone,
    PreconditionFailed,
    PayloadTooLarge,
    UriTooLong,
    UnsupportedMediaType,
    UnprocessableEntity,
    TooManyRequests,
    HeadersTooLarge,
    Unavailable,
    Internal,
}

impl ErrorStatus {
    pub fn http(self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict => StatusCode::CONFLICT,
            Self::Gone => StatusCode::GONE,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::UnprocessableEntity => StatusCode::UNPROCESSABLE_ENTITY,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {:?}: {}", .status.http().as_u16(), .body.code, .body.error)]
pub struct ApiError {
    pub status: ErrorStatus,
    pub body: ErrorBody,
    /// Seconds for `Retry-After` (429 and 503).
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: ErrorStatus, code: ErrorCode, error: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody { error: cap(error.into()), code, details: vec![] },
            retry_after: None,
        }
    }

    fn retrying_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn access_denied() -> Self {
        Self::new(
            ErrorStatus::Forbidden,
            ErrorCode::AccessDenied,
            "this share belongs to another user",
        )
    }

    pub fn session_expired() -> Self {
        Self::new(ErrorStatus::Gone, ErrorCode::SessionExpired, "this share has expired")
    }

    pub fn conflict() -> Self {
        Self::new(
            ErrorStatus::Conflict,
            ErrorCode::Conflict,
            "the share was changed by another request at the same time; try again",
        )
    }

    pub fn precondition_failed() -> Self {
        Self::new(
            ErrorStatus::PreconditionFailed,
            ErrorCode::PreconditionFailed,
            "the share changed since the version in If-Match; read it again",
        )
    }

    pub fn revision_not_found() -> Self {
        Self::new(
            ErrorStatus::NotFound,
            ErrorCode::RevisionNotFound,
            "this share keeps no such revision",
        )
    }

    pub fn rate_limited(retry_after_secs: u32) -> Self {
        Self::new(
            ErrorStatus::TooManyRequests,
            ErrorCode::RateLimited,
            "too many requests; slow down and retry after the time in Retry-After",
        )
        .retrying_after(retry_after_secs.max(1))
    }

    pub fn auth_unavailable() -> Self {
        Self::new(
            ErrorStatus::Unavailable,
            ErrorCode::AuthUnavailable,
            "the key service is unreachable right now; try again shortly",
        )
        .retrying_after(RETRY_AFTER_SECS)
    }

    /// Credentials found in a session the server refuses to store with them
    /// (`--secret-policy reject`): how many, which kinds and where, in one line the extension
    /// shows as it stands; never a credential itself.
    pub fn secrets_found(findings: &[crate::secrets::Finding]) -> Self {
        // At most a few kinds and places, so the line stays whole; `details` has them all.
        const SHOWN: usize = 3;
        let mut kinds: Vec<&str> = Vec::new();
        for f in findings {
            if !kinds.contains(&f.rule.as_str()) {
                kinds.push(&f.rule);
            }
        }
        let and_more = |mut shown: Vec<String>, total: usize, what: &str| {
            if total > shown.len() {
                let last = format!("{} more {what}", total - shown.len());
                shown.push(last);
            }
            match shown.split_last() {
                Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
                _ => shown.concat(),
            }
        };
        let kinds_shown = kinds.iter().take(SHOWN).map(|k| k.to_string()).collect();
        let places = findings.iter().take(if findings.len() > SHOWN { SHOWN - 1 } else { SHOWN });
        let count = match findings.len() {
            1 => "a credential".to_owned(),
            n => format!("{n} credentials"),
        };
        let mut err = Self::new(
            ErrorStatus::UnprocessableEntity,
            ErrorCode::SecretsFound,
            format!(
                "the session contains {count} ({}) at {}; remove {} and share again",
                and_more(kinds_shown, kinds.len(), "kinds"),
                and_more(places.map(|f| f.place()).collect(), findings.len(), "places"),
                if findings.len() == 1 { "it" } else { "them" },
            ),
        );
        err.body.details = findings
            .iter()
            .take(MAX_VIOLATIONS)
            .map(|f| ErrorDetail {
                pointer: Some(f.pointer.clone()),
                line: None,
                column: None,
                message: format!("a credential ({})", f.rule),
            })
            .collect();
        err
    }

    /// A request field that fails a rule, with its JSON pointer.
    pub fn invalid_field(code: ErrorCode, pointer: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut err = Self::new(ErrorStatus::BadRequest, code, format!("{pointer}: {message}"));
        err.body.details.push(ErrorDetail {
            pointer: Some(pointer.into()),
            line: None,
            column: None,
            message,
        });
        err
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorStatus::BadRequest, ErrorCode::InvalidRequest, message)
    }

    pub fn invalid_path() -> Self {
        Self::new(
            ErrorStatus::BadRequest,
            ErrorCode::InvalidPath,
            "path segments may not be '.', '..' or contain an encoded '/'",
        )
    }

    pub fn missing_api_key() -> Self {
        Self::new(
            ErrorStatus::Unauthorized,
            ErrorCode::MissingApiKey,
            "an API key is required: set your Syntx API key in the extension settings \
             (it is sent as the Syntx-Api-Key header)",
        )
    }

    pub fn invalid_api_key() -> Self {
        Self::new(
            ErrorStatus::Unauthorized,
            ErrorCode::InvalidApiKey,
            "this API key is unknown or revoked: set a current Syntx API key in the extension \
             settings (it is sent as the Syntx-Api-Key header)",
        )
    }

    pub fn session_not_found() -> Self {
        Self::new(ErrorStatus::NotFound, ErrorCode::SessionNotFound, "no session with this id")
    }

    pub fn payload_too_large(limit: u64) -> Self {
        Self::new(
            ErrorStatus::PayloadTooLarge,
            ErrorCode::PayloadTooLarge,
            format!("the session is larger than this server accepts ({limit} bytes)"),
        )
    }

    pub fn unsupported_media_type(found: Option<&str>) -> Self {
        let found = found.map_or("no Content-Type".to_owned(), |c| format!("Content-Type {c}"));
        Self::new(
            ErrorStatus::UnsupportedMediaType,
            ErrorCode::UnsupportedMediaType,
            format!("send the body as Content-Type: application/json (got {found})"),
        )
    }

    pub fn server_busy() -> Self {
        Self::new(
            ErrorStatus::Unavailable,
            ErrorCode::ServerBusy,
            "the server is receiving too many uploads right now; try again shortly",
        )
        .retrying_after(RETRY_AFTER_SECS)
    }

    /// An address over `--max-connections-per-address`, told so by the connection layer.
    pub fn too_many_connections() -> Self {
        Self::new(
            ErrorStatus::Unavailable,
            ErrorCode::ServerBusy,
            "too many connections from your address; close some and retry",
        )
        .retrying_after(RETRY_AFTER_SECS)
    }

    /// This error as a whole HTTP/1.1 answer after which the connection closes: for the
    /// connection layer, which answers before any request is served. Its length, type and body
    /// are the ones every other answer of this error has.
    pub fn http1_close(&self) -> bytes::Bytes {
        use poem_openapi::types::ToJSON;
        let body = self.body.to_json_string();
        let status = self.status.http();
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
            ErrorStatus::Unavailable,
            ErrorCode::StorageUnavailable,
            "session storage is unavailable right now; try again shortly",
        )
        .retrying_after(RETRY_AFTER_SECS)
    }

    /// A bug or an impossible state: logged in full, answered without internals.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorStatus::Internal, ErrorCode::InternalError, "internal server error")
    }

    /// Turns a poem-openapi extraction failure (content type, missing key, path) into ours.
    pub fn from_request_error(err: poem::Error) -> Self {
        let err = match err.downcast::<ApiError>() {
            Ok(api) => return api,
            Err(err) => err,
        };
        if let Some(e) = err.downcast_ref::<poem_openapi::error::ContentTypeError>() {
            return match e {
                poem_openapi::error::ContentTypeError::NotSupported { content_type } => {
                    Self::unsupported_media_type(Some(content_type))
                }
                poem_openapi::error::ContentTypeError::ExpectContentType => {
                    Self::unsupported_media_type(None)
                }
            };
        }
        if err.is::<poem_openapi::error::AuthorizationError>() {
            return Self::missing_api_key();
        }
        if let Some(e) = err.downcast_ref::<poem_openapi::error::ParseParamError>() {
            // The path parameters' patterns are the domain types' rules (`ShareId::parse`,
            // `Username::parse`); their errors keep their own codes.
            let (code, what) = match e.name {
                "id" => (ErrorCode::InvalidId, "not a share id: 1 to 64 of A-Z a-z 0-9 _ -"),
                "username" => (
                    ErrorCode::InvalidUsername,
                    "not a username: 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit",
                ),
                _ => (ErrorCode::InvalidRequest, "not a valid value"),
            };
            let mut api = Self::new(ErrorStatus::BadRequest, code, format!("`{}`: {what}", e.name));
            api.body.details.push(ErrorDetail {
                pointer: None,
                line: None,
                column: None,
                message: e.reason.clone(),
            });
            return api;
        }
        Self::invalid_request(err.to_string())
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        let code = match e {
            DomainError::Username(_) => ErrorCode::InvalidUsername,
            DomainError::ShareId(_) => ErrorCode::InvalidId,
        };
        Self::new(ErrorStatus::BadRequest, code, e.to_string())
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound { .. } => Self::session_not_found(),
            StorageError::NoSuchRevision { .. } => Self::revision_not_found(),
            StorageError::Expired { .. } => Self::session_expired(),
            StorageError::ChangedMeanwhile { .. } => Self::precondition_failed(),
            StorageError::Contended { .. } => Self::conflict(),
            StorageError::Unavailable { .. } => {
                tracing::warn!(error = %e, "storage unavailable");
                Self::storage_unavailable()
            }
            // Not an outage: a 503 would invite retries that cannot succeed. The log says what
            // an operator must fix.
            StorageError::Refused { .. }
            | StorageError::Corrupt { .. }
            | StorageError::IdsExhausted { .. } => Self::internal(e),
        }
    }
}

impl From<DocumentError> for ApiError {
    fn from(e: DocumentError) -> Self {
        match e {
            DocumentError::InvalidJson { line, column, ref message } => {
                let mut err =
                    Self::new(ErrorStatus::BadRequest, ErrorCode::InvalidJson, e.to_string());
                err.body.details.push(ErrorDetail {
                    pointer: None,
                    line: Some(line as u64),
                    column: Some(column as u64),
                    message: message.clone(),
                });
                err
            }
            DocumentError::UnsupportedVersion { .. } => {
                Self::new(ErrorStatus::BadRequest, ErrorCode::UnsupportedVersion, e.to_string())
            }
            DocumentError::Invalid { violations, total } => {
                let message = if total > violations.len() {
                    format!(
                        "the session does not match the SerializedSession schema: {total} \
                         violations, the first {MAX_VIOLATIONS} are listed"
                    )
                } else {
                    let s = if total == 1 { "" } else { "s" };
                    format!(
                        "the session does not match the SerializedSession schema: {total} violation{s}"
                    )
                };
                let mut err =
                    Self::new(ErrorStatus::BadRequest, ErrorCode::InvalidSession, message);
                err.body.details = violations
                    .into_iter()
                    .map(|v| ErrorDetail {
                        pointer: Some(v.pointer),
                        line: None,
                        column: None,
                        message: v.message,
                    })
                    .collect();
                err
            }
        }
    }
}

/// Lets an `ApiError` travel inside a `poem::Error` (from extractors) and render itself.
impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status.http()
    }

    fn as_response(&self) -> Response {
        let mut resp = Json(self.body.clone()).into_response();
        resp.set_status(self.status.http());
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert("Retry-After", secs.into());
        }
        resp
    }
}
