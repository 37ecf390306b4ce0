//! `/api/sessions…`: share a session, import one, read one.

use bytes::Bytes;
use poem::{Body, web::Data};
use poem_openapi::{
    ApiResponse, OpenApi, Tags,
    param::{Header, Path},
    payload::Json,
};
use serde_json::Value;

use super::{
    ApiError, AppState, ErrorBody,
    auth::{OptionalKey, RequiredKey},
    errors::route_errors,
    models::{CreateOrImport, SerializedSession, ShareCreated},
    payload::{JsonUpload, StoredSession},
};
use crate::{
    domain::{ShareId, Username},
    storage::OpenedSession,
    validation::SessionValidator,
};

#[derive(Tags)]
enum ApiTags {
    /// Share, import and read sessions.
    Sessions,
}

pub struct SessionsApi;

#[derive(ApiResponse)]
#[oai(bad_request_handler = "CreateResponse::bad_request")]
pub enum CreateResponse {
    /// Shared. `Location` is the new share's API URL; `url` in the body is its share URL.
    #[oai(status = 201)]
    Created(Json<ShareCreated>, #[oai(header = "Location")] String),
    /// Not JSON (`INVALID_JSON`), not a valid session (`INVALID_SESSION`, every violation with
    /// its JSON pointer), or another major format version (`UNSUPPORTED_VERSION`).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No API key (`MISSING_API_KEY`) or an unknown or revoked one (`INVALID_API_KEY`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The body exceeds the server's limit (`--max-body`).
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The body is not sent as `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// Storage is unreachable; nothing was stored. Retry after `Retry-After` seconds.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u32),
}
route_errors!(CreateResponse: BadRequest, Unauthorized, PayloadTooLarge, UnsupportedMediaType, Unavailable);

#[derive(ApiResponse)]
#[oai(bad_request_handler = "CreateOrImportResponse::bad_request")]
pub enum CreateOrImportResponse {
    /// Import: the stored session, exactly as it was uploaded.
    #[oai(status = 200)]
    Ok(StoredSession, #[oai(header = "ETag")] Option<String>),
    /// Create: shared, as for `POST /api/sessions/create`.
    #[oai(status = 201)]
    Created(Json<ShareCreated>, #[oai(header = "Location")] String),
    /// A body that is neither shape (`INVALID_REQUEST`), or any create error, or a malformed
    /// id or username (`INVALID_ID`, `INVALID_USERNAME`).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Create without a key (`MISSING_API_KEY`), or a key that is present and wrong
    /// (`INVALID_API_KEY`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// `SESSION_NOT_FOUND`: no such id, or not owned by `username`.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u32),
}
route_errors!(CreateOrImportResponse: BadRequest, Unauthorized, NotFound, PayloadTooLarge, UnsupportedMediaType, Unavailable);

#[derive(ApiResponse)]
#[oai(bad_request_handler = "ReadResponse::bad_request")]
pub enum ReadResponse {
    /// The stored session, byte for byte as uploaded.
    #[oai(status = 200)]
    Ok(StoredSession, #[oai(header = "ETag")] Option<String>),
    /// `If-None-Match` matched: the copy the client has is current.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] Option<String>),
    /// A malformed id or username (`INVALID_ID`, `INVALID_USERNAME`).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// A key was sent and it is unknown or revoked (`INVALID_API_KEY`).
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// `SESSION_NOT_FOUND`.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>, #[oai(header = "Retry-After")] u32),
}
route_errors!(ReadResponse: BadRequest, Unauthorized, NotFound, Unavailable);

#[OpenApi(tag = "ApiTags::Sessions")]
impl SessionsApi {
    /// Share a session
    ///
    /// What newer extensions call on "share task". The body is a `SerializedSession`; it is
    /// checked against `openapi/session.schema.json` and stored byte for byte under the key
    /// owner's username. Requires an API key.
    #[oai(path = "/api/sessions/create", method = "post", operation_id = "createSession")]
    async fn create(
        &self,
        state: Data<&AppState>,
        key: RequiredKey,
        body: JsonUpload<SerializedSession>,
    ) -> CreateResponse {
        async {
            let owner = state.authenticate(&key.key()).await?;
            let bytes = body.read(state.max_body).await?;
            let validator = state.validator.clone();
            let checked = bytes.clone();
            blocking(move || {
                let document = SessionValidator::parse_json(&checked)?;
                Ok(validator.check(&document)?)
            })
            .await?;
            let (created, location) = store(&state, &owner, bytes).await?;
            Ok(CreateResponse::Created(Json(created), location))
        }
        .await
        .unwrap_or_else(|e: ApiError| e.into())
    }

    /// Share a session (older extensions) or import one (newer extensions)
    ///
    /// Told apart by the body's shape. A `SerializedSession` (`version`, `task`, `messages`)
    /// is shared as by `POST /api/sessions/create` and needs an API key. `{"id", "username"?}`
    /// answers the stored session; with `username`, only that user's share answers. A key is
    /// optional for import, but one that is sent must be valid.
    #[oai(path = "/api/sessions", method = "post", operation_id = "createOrImportSession")]
    async fn create_or_import(
        &self,
        state: Data<&AppState>,
        key: OptionalKey,
        body: JsonUpload<CreateOrImport>,
    ) -> CreateOrImportResponse {
        async {
            let key = key.key();
            let owner = match &key {
                Some(key) => Some(state.authenticate(key).await?),
                None => None,
            };
            let bytes = body.read(state.max_body).await?;
            let parsed = bytes.clone();
            let request = blocking(move || classify(&parsed)).await?;
            match request {
                Incoming::Create(document) => {
                    // The key comes before the (costly) validation.
                    let owner = owner.ok_or_else(ApiError::missing_api_key)?;
                    let validator = state.validator.clone();
                    blocking(move || Ok(validator.check(&document)?)).await?;
                    let (created, location) = store(&state, &owner, bytes).await?;
                    Ok(CreateOrImportResponse::Created(Json(created), location))
                }
                Incoming::Import { id, username } => {
                    let id = ShareId::parse(&id)?;
                    let owner = match username {
                        Some(name) => Username::parse(&name)?,
                        None => state.sessions.owner_of(&id).await?,
                    };
                    match state.sessions.open(&owner, &id, None).await? {
                        OpenedSession::Found { etag, size, body } => Ok(CreateOrImportResponse::Ok(
                            StoredSession { body: Body::from_bytes_stream(body), size },
                            etag,
                        )),
                        OpenedSession::NotModified { .. } => {
                            Err(ApiError::internal("not-modified answer to an unconditional read"))
                        }
                    }
                }
            }
        }
        .await
        .unwrap_or_else(|e: ApiError| e.into())
    }

    /// Read a session by id
    ///
    /// What older extensions call on import. Readable by anyone with the id; a key may be
    /// sent (`Syntx-Api-Key` or `Authorization: Bearer`), and if it is, it must be valid.
    /// Answers the uploaded bytes with an `ETag`; a matching `If-None-Match` answers 304.
    #[oai(path = "/api/sessions/:id", method = "get", operation_id = "getSession")]
    async fn get(
        &self,
        state: Data<&AppState>,
        key: OptionalKey,
        /// The share id.
        id: Path<String>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> ReadResponse {
        async {
            if let Some(key) = key.key() {
                state.authenticate(&key).await?;
            }
            let id = ShareId::parse(&id)?;
            let owner = state.sessions.owner_of(&id).await?;
            read(&state, &owner, &id, if_none_match.0.as_deref()).await
        }
        .await
        .unwrap_or_else(|e: ApiError| e.into())
    }

    /// Read a session by share code
    ///
    /// `GET /api/sessions/{username}/{id}`, the share code `username/id` as a path: one
    /// storage read, no id lookup. Otherwise as `GET /api/sessions/{id}`.
    #[oai(path = "/api/sessions/:username/:id", method = "get", operation_id = "getSessionByShareCode")]
    async fn get_by_share_code(
        &self,
        state: Data<&AppState>,
        key: OptionalKey,
        /// The share's author.
        username: Path<String>,
        /// The share id.
        id: Path<String>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> ReadResponse {
        async {
            if let Some(key) = key.key() {
                state.authenticate(&key).await?;
            }
            let owner = Username::parse(&username)?;
            let id = ShareId::parse(&id)?;
            read(&state, &owner, &id, if_none_match.0.as_deref()).await
        }
        .await
        .unwrap_or_else(|e: ApiError| e.into())
    }

    /// Read a public session by id
    ///
    /// As `GET /api/sessions/{id}`, but never looks at a key.
    #[oai(path = "/api/public/sessions/:id", method = "get", operation_id = "getPublicSession")]
    async fn get_public(
        &self,
        state: Data<&AppState>,
        /// The share id.
        id: Path<String>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> ReadResponse {
        async {
            let id = ShareId::parse(&id)?;
            let owner = state.sessions.owner_of(&id).await?;
            read(&state, &owner, &id, if_none_match.0.as_deref()).await
        }
        .await
        .unwrap_or_else(|e: ApiError| e.into())
    }
}

/// What a `POST /api/sessions` body asks for.
enum Incoming {
    /// A session to share, parsed but not yet validated.
    Create(Value),
    Import { id: String, username: Option<String> },
}

const EXPECTED_SHAPES: &str = "expected a SerializedSession {\"version\", \"task\", \"messages\"} \
     to share, or {\"id\": \"...\", \"username\": \"...\"} to import";

/// Tells the two bodies of `POST /api/sessions` apart by shape.
fn classify(bytes: &[u8]) -> Result<Incoming, ApiError> {
    let document = SessionValidator::parse_json(bytes)?;
    let Some(object) = document.as_object() else {
        return Err(ApiError::invalid_request(EXPECTED_SHAPES));
    };
    if ["version", "task", "messages"].iter().any(|k| object.contains_key(*k)) {
        return Ok(Incoming::Create(document));
    }
    let text = |key: &str| match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid_request(format!("`{key}` must be a string"))),
    };
    match text("id")? {
        Some(id) => Ok(Incoming::Import { id, username: text("username")? }),
        None => Err(ApiError::invalid_request(EXPECTED_SHAPES)),
    }
}

/// Stores a checked document; answers the share and its `Location`.
async fn store(
    state: &AppState,
    owner: &Username,
    bytes: Bytes,
) -> Result<(ShareCreated, String), ApiError> {
    let size = bytes.len();
    let created = state.sessions.create(owner, bytes).await?;
    tracing::info!(share_id = %created.id, username = %owner, bytes = size, "session shared");
    let location = format!("{}/api/sessions/{}", state.public_url, created.id);
    Ok((
        ShareCreated {
            url: state.share_url(&created.id),
            username: owner.to_string(),
            share_code: format!("{owner}/{}", created.id),
            id: created.id.to_string(),
            created_at: created.created_at,
        },
        location,
    ))
}

async fn read(
    state: &AppState,
    owner: &Username,
    id: &ShareId,
    if_none_match: Option<&str>,
) -> Result<ReadResponse, ApiError> {
    Ok(match state.sessions.open(owner, id, if_none_match).await? {
        OpenedSession::Found { etag, size, body } => ReadResponse::Ok(
            StoredSession { body: Body::from_bytes_stream(body), size },
            etag,
        ),
        OpenedSession::NotModified { etag } => ReadResponse::NotModified(etag),
    })
}

/// Parsing and validating tens of megabytes is CPU work; keep it off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(ApiError::internal)?
}

