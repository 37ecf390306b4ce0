//! `/api/sessions…`: share a session, import one, read one.

use bytes::Bytes;
use chrono::Utc;
use poem::{Request, web::Data};
use poem_openapi::{
    OpenApi,
    param::{Header, Path},
    payload::Json,
};
use serde_json::Value;

use super::{
    ApiTags,
    auth::{OptionalKey, RequiredKey},
    etag::{IfNoneMatch, http_etag},
    models::{CreateOrImport, SerializedSession, ShareCreated},
    payload::{JsonUpload, StoredSession},
    responses::{api_response, respond},
};
use crate::{
    access::ClientAddr,
    domain::{
        ShareId, ShareOptions, Username,
        share_options::{MAX_TASK_EXCERPT_CHARS, truncate_chars},
    },
    error::{ApiError, ErrorCode, ErrorStatus},
    state::AppState,
    storage::{OpenedSession, ShareRecord, StoredEncoding},
    validation::SessionValidator,
};

pub struct SessionsApi;

api_response! {
    pub enum CreateResponse {
        /// Shared. `Location` is the new share's API URL; `url` in the body is its share URL.
        #[oai(status = 201)]
        Created(Json<ShareCreated>, #[oai(header = "Location")] String),
    }
    errors {
        /// Not JSON (`INVALID_JSON`), not a valid session (`INVALID_SESSION`, every violation with
        /// its JSON pointer, share options included), or another major format version
        /// (`UNSUPPORTED_VERSION`).
        BadRequest,
        /// No API key (`MISSING_API_KEY`) or an unknown or revoked one (`INVALID_API_KEY`).
        Unauthorized,
        /// The body exceeds the server's limit (`--max-body`), as sent or once decoded.
        PayloadTooLarge,
        /// The body is not sent as `application/json`, or with a `Content-Encoding` other than
        /// gzip.
        UnsupportedMediaType,
    }
}

api_response! {
    pub enum CreateOrImportResponse {
        @stored_session
        /// Import: the stored session, exactly as it was uploaded, with the share's metadata in
        /// `X-Session-*` headers.
        ;
        /// Create: shared, as for `POST /api/sessions/create`.
        #[oai(status = 201)]
        Created(Json<ShareCreated>, #[oai(header = "Location")] String),
    }
    errors {
        /// A body that is neither shape (`INVALID_REQUEST`), or any create error, or a malformed
        /// id or username (`INVALID_ID`, `INVALID_USERNAME`).
        BadRequest,
        /// Create without a key (`MISSING_API_KEY`) or with one this service does not accept
        /// (`INVALID_API_KEY`). An import never needs a key: one that is not valid reads as none.
        Unauthorized,
        /// `SESSION_NOT_FOUND`: no such id, not owned by `username`, or private and not yours.
        NotFound,
        /// `SESSION_EXPIRED`.
        Gone,
        PayloadTooLarge,
        UnsupportedMediaType,
    }
}

api_response! {
    pub enum ReadResponse {
        @stored_session
        /// The stored session, byte for byte as uploaded, with the share's metadata in
        /// `X-Session-*` headers. The `ETag` covers the document, not the metadata.
        ;
        /// `If-None-Match` matched: the copy the client has is current.
        #[oai(status = 304)]
        NotModified(#[oai(header = "ETag")] Option<String>),
    }
    errors {
        /// A malformed id or username (`INVALID_ID`, `INVALID_USERNAME`, `INVALID_PATH`).
        BadRequest,
        /// `SESSION_NOT_FOUND`: no such share, or a private one and not the owner's key.
        NotFound,
        /// `SESSION_EXPIRED`: the share has expired and is never returned again.
        Gone,
    }
}

// Each operation names its one tag: a tag on the impl would add itself to the owner
// operations too, and Swagger UI would list them twice.
#[OpenApi]
impl SessionsApi {
    /// Share a session
    ///
    /// What newer extensions call on "share task". The body is a `SerializedSession`; it is
    /// checked against `openapi/session.schema.json` and stored byte for byte under the key
    /// owner's username. Optional top-level `title`, `description`, `tags`, `isPublic` and
    /// `expiresAt` set the share's options. Requires an API key. The body may be sent with
    /// `Content-Encoding: gzip`; `--max-body` applies to it before and after decoding.
    #[oai(
        path = "/api/sessions/create",
        method = "post",
        operation_id = "createSession",
        tag = "ApiTags::Sessions"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        client: ClientAddr,
        key: RequiredKey,
        body: JsonUpload<SerializedSession>,
    ) -> CreateResponse {
        respond(async {
            let owner = state.writer(&key.key(), &client).await?;
            let (bytes, _in_flight) = body.read(state.max_body, &state).await?;
            let (validator, max_ttl, checked) =
                (state.validator.clone(), state.max_ttl, bytes.clone());
            let checking = state.checks.acquire().await.map_err(ApiError::internal)?;
            let (facts, packed) = check_and_pack(&bytes, move || {
                let document = SessionValidator::parse_json(&checked)?;
                validator.check(&document)?;
                SessionFacts::of(&document, max_ttl)
            })
            .await?;
            drop(checking);
            let (created, location) = store(&state, &owner, facts, bytes.len(), packed).await?;
            Ok(CreateResponse::Created(Json(created), location))
        })
        .await
    }

    /// Share a session (older extensions) or import one (newer extensions)
    ///
    /// Told apart by the body's shape. A `SerializedSession` (`version`, `task`, `messages`)
    /// is shared as by `POST /api/sessions/create` and needs an API key. `{"id", "username"?}`
    /// answers the stored session; with `username`, only that user's share answers. A key is
    /// optional for import (it is needed for your own private shares), but one that is sent
    /// must be valid.
    #[oai(
        path = "/api/sessions",
        method = "post",
        operation_id = "createOrImportSession",
        tag = "ApiTags::Sessions"
    )]
    async fn create_or_import(
        &self,
        req: &Request,
        state: Data<&AppState>,
        client: ClientAddr,
        key: OptionalKey,
        body: JsonUpload<CreateOrImport>,
    ) -> CreateOrImportResponse {
        let gzip = accepts_gzip(req);
        respond(async {
            let key = key.key();
            // A present key is checked before the body is read; what a failed check means
            // depends on the body (a create needs the key, an import reads as anonymous).
            let checked = match (&key, state.limits.blocked(&client.0)) {
                (Some(_), Some(refused)) => Some(Err(refused)),
                (Some(key), None) => Some(state.authenticate(key).await),
                (None, _) => None,
            };
            // Without a valid key only an import can succeed, and an import body is small:
            // a larger one is a create, refused without reading megabytes first.
            let limit = match checked {
                Some(Ok(_)) => state.max_body,
                _ => IMPORT_BODY_LIMIT.min(state.max_body),
            };
            let (bytes, _in_flight) = match body.read(limit, &state).await {
                Err(e) if e.status == ErrorStatus::PayloadTooLarge && limit < state.max_body => {
                    return Err(match checked {
                        Some(Err(e)) => e,
                        _ => ApiError::missing_api_key(),
                    });
                }
                read => read?,
            };
            let parsed = bytes.clone();
            // Held from the parse to the end of validation: the parsed tree lives that long.
            let checking = state.checks.acquire().await.map_err(ApiError::internal)?;
            match cpu(bytes.len(), move || classify(&parsed)).await? {
                Incoming::Create(document) => {
                    // The key comes before the (costly) validation.
                    let (Some(key), Some(owner)) = (&key, checked) else {
                        return Err(ApiError::missing_api_key());
                    };
                    state.count_failure(&owner, &client);
                    let owner = owner?;
                    state.limits.check_write(key.hash().as_str())?;
                    let (validator, max_ttl) = (state.validator.clone(), state.max_ttl);
                    let (facts, packed) = check_and_pack(&bytes, move || {
                        validator.check(&document)?;
                        SessionFacts::of(&document, max_ttl)
                    })
                    .await?;
                    drop(checking);
                    let (created, location) =
                        store(&state, &owner, facts, bytes.len(), packed).await?;
                    Ok(CreateOrImportResponse::Created(Json(created), location))
                }
                Incoming::Import { id, username } => {
                    drop(checking);
                    // As on every read, a key that is not valid (or an address blocked for
                    // failed key checks) reads as no key.
                    let caller = match checked {
                        Some(Ok(user)) => Some(user),
                        Some(Err(e))
                            if matches!(
                                e.status,
                                ErrorStatus::Unauthorized | ErrorStatus::TooManyRequests
                            ) =>
                        {
                            None
                        }
                        Some(Err(e)) => return Err(e),
                        None => None,
                    };
                    state.charge_read(key.as_ref().filter(|_| caller.is_some()), &client)?;
                    let id = ShareId::parse(&id)?;
                    let owner = username.as_deref().map(Username::parse).transpose()?;
                    let (record, opened) =
                        state.read_share(caller.as_ref(), &id, owner.as_ref(), None).await?;
                    match opened {
                        OpenedSession::Found { etag, size, body } => {
                            let (session, etag) =
                                StoredSession::serve(body, size, etag, record, gzip).await?;
                            Ok(CreateOrImportResponse::Ok(session, etag))
                        }
                        OpenedSession::NotModified => {
                            Err(ApiError::internal("not-modified answer to an unconditional read"))
                        }
                    }
                }
            }
        })
        .await
    }

    /// Read a session by id
    ///
    /// What older extensions call on import. Public shares are readable by anyone with the
    /// id; a key may be sent (`Syntx-Api-Key` or `Authorization: Bearer`), and if it is, it
    /// must be valid; private shares need their owner's key. Answers the uploaded bytes with
    /// an `ETag`; a matching `If-None-Match` answers 304. Sessions are stored gzip-compressed:
    /// a client whose `Accept-Encoding` takes gzip gets them so (`Content-Encoding: gzip`,
    /// weak `ETag`), any other the uploaded bytes.
    #[oai(
        path = "/api/sessions/:id",
        method = "get",
        operation_id = "getSession",
        tag = "ApiTags::Sessions"
    )]
    async fn get(
        &self,
        req: &Request,
        state: Data<&AppState>,
        client: ClientAddr,
        key: OptionalKey,
        /// The share id.
        id: Path<String>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> ReadResponse {
        respond(async {
            let caller = state.reader(key.key(), &client).await?;
            let id = ShareId::parse(&id)?;
            read(&state, caller.as_ref(), &id, None, if_none_match.0.as_deref(), accepts_gzip(req))
                .await
        })
        .await
    }

    /// Read a session by share code
    ///
    /// `GET /api/sessions/{username}/{id}`, the share code `username/id` as a path: the
    /// document and its record are fetched at once, no id lookup first. Otherwise as
    /// `GET /api/sessions/{id}`.
    #[oai(
        path = "/api/sessions/:username/:id",
        method = "get",
        operation_id = "getSessionByShareCode",
        tag = "ApiTags::Sessions"
    )]
    // Each parameter is an extractor poem-openapi documents, or the request itself.
    #[allow(clippy::too_many_arguments)]
    async fn get_by_share_code(
        &self,
        req: &Request,
        state: Data<&AppState>,
        client: ClientAddr,
        key: OptionalKey,
        /// The share's author.
        username: Path<String>,
        /// The share id.
        id: Path<String>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> ReadResponse {
        respond(async {
            let caller = state.reader(key.key(), &client).await?;
            let owner = Username::parse(&username)?;
            let id = ShareId::parse(&id)?;
            read(
                &state,
                caller.as_ref(),
                &id,
                Some(&owner),
                if_none_match.0.as_deref(),
                accepts_gzip(req),
            )
            .await
        })
        .await
    }

    /// Read a public session by id
    ///
    /// As `GET /api/sessions/{id}`, but never looks at a key, so private shares answer 404.
    #[oai(
        path = "/api/public/sessions/:id",
        method = "get",
        operation_id = "getPublicSession",
        tag = "ApiTags::Sessions"
    )]
    async fn get_public(
        &self,
        req: &Request,
        state: Data<&AppState>,
        client: ClientAddr,
        /// The share id.
        id: Path<String>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> ReadResponse {
        respond(async {
            state.reader(None, &client).await?;
            let id = ShareId::parse(&id)?;
            read(&state, None, &id, None, if_none_match.0.as_deref(), accepts_gzip(req)).await
        })
        .await
    }
}

/// What a `POST /api/sessions` body asks for.
enum Incoming {
    /// A session to share, parsed but not yet validated.
    Create(Value),
    Import {
        id: String,
        username: Option<String>,
    },
}

/// The most an import request (`{"id", "username"}`) needs; the cap on bodies sent without a
/// valid key to `POST /api/sessions`.
const IMPORT_BODY_LIMIT: u64 = 16 * 1024;

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
    // Pasted ids and share codes often carry white space from the clipboard.
    let text = |key: &str| match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(ApiError::invalid_request(format!("`{key}` must be a string"))),
    };
    match text("id")? {
        Some(id) => Ok(Incoming::Import { id, username: text("username")? }),
        None => Err(ApiError::invalid_request(EXPECTED_SHAPES)),
    }
}

/// What is kept beside a valid document, read from it while it is parsed.
struct SessionFacts {
    options: ShareOptions,
    message_count: u64,
    task_excerpt: String,
}

impl SessionFacts {
    fn of(document: &Value, max_ttl: chrono::Duration) -> Result<Self, ApiError> {
        let options = ShareOptions::from_document(document, Utc::now(), max_ttl).map_err(|e| {
            ApiError::invalid_field(ErrorCode::InvalidSession, e.pointer, e.message)
        })?;
        let task = document.pointer("/task/task").and_then(Value::as_str).unwrap_or_default();
        Ok(Self {
            options,
            message_count: document["messages"].as_array().map_or(0, |m| m.len() as u64),
            task_excerpt: truncate_chars(task, MAX_TASK_EXCERPT_CHARS).to_owned(),
        })
    }
}

/// Runs `check` (validation, giving the facts kept beside the document) and compresses the
/// document as it is stored (gzip, see [`crate::compression`]) at once, each on its own
/// blocking thread when large: a large create waits for the longer of the two, not the sum.
async fn check_and_pack(
    document: &Bytes,
    check: impl FnOnce() -> Result<SessionFacts, ApiError> + Send + 'static,
) -> Result<(SessionFacts, Bytes), ApiError> {
    let packing = document.clone();
    let (facts, packed) = tokio::join!(
        cpu(document.len(), check),
        cpu(document.len(), move || Ok(crate::compression::gzip(&packing)))
    );
    Ok((facts?, packed?))
}

/// Stores a checked document (`packed`, `size` bytes before packing); answers the share and
/// its `Location`.
async fn store(
    state: &AppState,
    owner: &Username,
    facts: SessionFacts,
    size: usize,
    packed: Bytes,
) -> Result<(ShareCreated, String), ApiError> {
    let record = ShareRecord {
        username: owner.to_string(),
        created_at: Utc::now(),
        title: facts.options.title,
        description: facts.options.description,
        tags: facts.options.tags,
        is_public: facts.options.is_public,
        expires_at: facts.options.expires_at,
        size: size as u64,
        message_count: facts.message_count,
        task_excerpt: facts.task_excerpt,
        encoding: Some(StoredEncoding::Gzip),
    };
    let stored = packed.len();
    let created = state.sessions.create(&record, packed).await?;
    tracing::info!(share_id = %created.id, username = %owner, bytes = record.size, stored,
        public = record.is_public, "session shared");
    let location = format!("{}/api/sessions/{}", state.public_url, created.id);
    Ok((
        ShareCreated {
            url: state.share_url(&created.id),
            username: owner.to_string(),
            share_code: format!("{owner}/{}", created.id),
            id: created.id.to_string(),
            created_at: created.created_at,
            title: record.title,
            tags: record.tags,
            is_public: record.is_public,
            expires_at: record.expires_at,
        },
        location,
    ))
}

async fn read(
    state: &AppState,
    caller: Option<&Username>,
    id: &ShareId,
    owner: Option<&Username>,
    if_none_match: Option<&str>,
    gzip: bool,
) -> Result<ReadResponse, ApiError> {
    let has = IfNoneMatch::parse(if_none_match);
    let (record, opened) = state.read_share(caller, id, owner, has.single()).await?;
    Ok(match opened {
        OpenedSession::Found { etag, size, body } => {
            if etag.as_deref().map(http_etag).is_some_and(|e| has.matches(&e)) {
                // Dropping the body closes the storage read early. The tag repeated is the
                // client's own (weak for the gzip form) when it sent one.
                ReadResponse::NotModified(
                    has.sent().map(str::to_owned).or_else(|| etag.as_deref().map(http_etag)),
                )
            } else {
                let (session, etag) = StoredSession::serve(body, size, etag, record, gzip).await?;
                ReadResponse::Ok(session, etag)
            }
        }
        OpenedSession::NotModified => ReadResponse::NotModified(has.sent().map(str::to_owned)),
    })
}

fn accepts_gzip(req: &Request) -> bool {
    crate::compression::accepts_gzip(req.header(poem::http::header::ACCEPT_ENCODING))
}

/// Bodies up to this size are parsed, checked and compressed on the async worker: well under
/// a millisecond, where a hand-off to the blocking pool and back costs more than the work.
const INLINE_CPU_BYTES: usize = 64 * 1024;

/// CPU work on a body of `bytes` bytes: inline when small, else on the blocking pool, so that
/// parsing and validating tens of megabytes never holds up the async workers.
pub(super) async fn cpu<T: Send + 'static>(
    bytes: usize,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    if bytes <= INLINE_CPU_BYTES {
        return work();
    }
    tokio::task::spawn_blocking(work).await.map_err(ApiError::internal)?
}
