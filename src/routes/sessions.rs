//! `/api/sessions`: share (older extensions) or import (newer ones) by POST, and the owner's
//! listing by GET.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::DateTime;
use poem::http::StatusCode;
use poem::{IntoResponse, Request, Response, web::Data};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::Query,
    payload::Json,
    registry::{MetaResponses, Registry},
};
use serde_json::Value;

use super::{
    ApiTags,
    auth::{OptionalKey, RequiredKey},
    errors::{Refusal, SECRETS_FOUND, Statuses},
    models::{CreateOrImport, ShareList},
    read::{ReadRequest, accepts_gzip, read},
    sharing::{self, CreateResponse},
    stored::{SessionRead, session_meta},
    upload::{JsonUpload, cpu},
};
use crate::{
    access::{ClientAddr, Reader, identify},
    domain::{ShareId, ShareRecord, Username},
    error::{ApiError, ErrorCode},
    state::AppState,
    storage::{ListPage, ListPosition, StorageError},
    validation::SessionValidator,
};

pub struct SessionsApi;

/// Listing page sizes.
const DEFAULT_LIMIT: u32 = 20;
/// The most an import request (`{"id", "username"}`) needs; the cap on bodies sent without a
/// valid key to `POST /api/sessions`.
const IMPORT_BODY_LIMIT: u64 = 16 * 1024;

pub struct CreateOrImportErrors;

impl Statuses for CreateOrImportErrors {
    const STATUSES: &'static [(StatusCode, &'static str)] = &[
        (
            StatusCode::BAD_REQUEST,
            "A body that is neither shape (`INVALID_REQUEST`), or any create error, or a \
             malformed id or username (`INVALID_ID`, `INVALID_USERNAME`).",
        ),
        (
            StatusCode::UNAUTHORIZED,
            "Create without a key (`MISSING_API_KEY`) or with one this service does not accept \
             (`INVALID_API_KEY`). An import never needs a key: one that is not valid reads as none.",
        ),
        (
            StatusCode::NOT_FOUND,
            "`SESSION_NOT_FOUND`: no such id, not owned by `username`, or private and not yours.",
        ),
        (
            StatusCode::CONFLICT,
            "`CONFLICT`: the task's share kept changing under concurrent shares of it; retry.",
        ),
        (StatusCode::GONE, "`SESSION_EXPIRED`."),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "`PAYLOAD_TOO_LARGE`: the body is over the server's `--max-body`.",
        ),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "`UNSUPPORTED_MEDIA_TYPE`: send the body as `Content-Type: application/json`.",
        ),
        SECRETS_FOUND,
    ];
}

pub struct ListErrors;

impl Statuses for ListErrors {
    const STATUSES: &'static [(StatusCode, &'static str)] = &[
        (
            StatusCode::BAD_REQUEST,
            "`INVALID_REQUEST`: `limit` out of range or a `cursor` this service did not make.",
        ),
        (
            StatusCode::UNAUTHORIZED,
            "`MISSING_API_KEY` or `INVALID_API_KEY`: set your Syntx API key.",
        ),
    ];
}

/// `POST /api/sessions`: an import answers the session, a create the new share.
pub enum CreatedOrImported {
    Imported(SessionRead),
    Created(CreateResponse),
}

impl ApiResponse for CreatedOrImported {
    fn meta() -> MetaResponses {
        let mut responses = vec![session_meta(
            "Import: the stored session, exactly as it was uploaded, with the share's metadata \
             in `X-Session-*` headers.",
        )];
        responses.extend(CreateResponse::meta().responses);
        MetaResponses { responses }
    }

    fn register(registry: &mut Registry) {
        SessionRead::register(registry);
        CreateResponse::register(registry);
    }
}

impl IntoResponse for CreatedOrImported {
    fn into_response(self) -> Response {
        match self {
            Self::Imported(read) => read.into_response(),
            Self::Created(created) => created.into_response(),
        }
    }
}

#[derive(ApiResponse)]
pub enum ListResponse {
    /// A page of your shares, newest first.
    #[oai(status = 200)]
    Ok(Json<ShareList>),
}

// Each operation names its one tag: a tag on the impl would add itself to both.
#[OpenApi]
impl SessionsApi {
    /// Share a session (older extensions) or import one (newer extensions)
    ///
    /// Told apart by the body's shape. A `SerializedSession` (`version`, `task`, `messages`)
    /// is shared as by `POST /api/sessions/create` and needs an API key. `{"id", "username"?}`
    /// answers the stored session; with `username`, only that user's share answers. A key is
    /// optional for import (it is needed for your own private shares); one that is not valid
    /// reads as none.
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
    ) -> Result<CreatedOrImported, Refusal<CreateOrImportErrors>> {
        let key = key.key();
        let access = &state.access;
        // A present key is checked before the body is read; what a failed check means
        // depends on the body (a create needs the key, an import reads as anonymous).
        let checked = match (&key, access.limits.blocked(&client.0)) {
            (Some(_), Some(refused)) => Some(Err(refused)),
            (Some(key), None) => Some(access.authenticate(key).await),
            (None, _) => None,
        };
        // Without a valid key only an import can succeed, and an import body is small: a
        // larger one is a create, refused without reading megabytes first.
        let limit = match checked {
            Some(Ok(_)) => state.uploads.max_body,
            _ => IMPORT_BODY_LIMIT.min(state.uploads.max_body),
        };
        let (bytes, _in_flight) = match body.read(limit, &state.uploads, &state.metrics).await {
            Err(e)
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE
                    && limit < state.uploads.max_body =>
            {
                return Err(match checked {
                    Some(Err(e)) => e,
                    _ => ApiError::missing_api_key(),
                }
                .into());
            }
            read => read?,
        };
        let parsed = bytes.clone();
        match cpu(bytes.len(), move || classify(&parsed)).await? {
            Incoming::Create(document) => {
                // The key comes before the (costly) validation.
                let (Some(key), Some(owner)) = (&key, checked) else {
                    return Err(ApiError::missing_api_key().into());
                };
                access.count_failure(&owner, &client);
                let owner = owner?;
                access.limits.check_write(key.hash().as_str())?;
                let checked = sharing::check(&state, &bytes, Some(document)).await?;
                Ok(CreatedOrImported::Created(
                    sharing::share(&state, &owner, checked, false).await?,
                ))
            }
            Incoming::Import { id, username } => {
                // As on every read, a key that is not valid (or an address blocked for failed
                // key checks) reads as no key.
                let caller = match checked {
                    Some(Err(e)) if e.status() == StatusCode::TOO_MANY_REQUESTS => None,
                    Some(checked) => identify(checked)?,
                    None => None,
                };
                access.charge_read(key.as_ref().filter(|_| caller.is_some()), &client)?;
                let id = ShareId::parse(&id)?;
                let owner = username.as_deref().map(Username::parse).transpose()?;
                let ask = ReadRequest {
                    id: &id,
                    owner: owner.as_ref(),
                    revision: None,
                    if_none_match: None,
                    accepts_gzip: accepts_gzip(req),
                };
                let reader = Reader { caller, link: None };
                Ok(CreatedOrImported::Imported(read(&state, &reader, ask).await?))
            }
        }
    }

    /// List your shares
    ///
    /// Newest first (by when each share was made; a new revision or a change of options does
    /// not move it), `limit` at a time (1 to 100, default 20); pass `nextCursor` back as
    /// `cursor` for the next page. `tag` keeps shares with that tag; `q` keeps shares whose
    /// title, description or task prompt contains the text (case-insensitive). Expired shares
    /// are left out.
    #[oai(
        path = "/api/sessions",
        method = "get",
        operation_id = "listSessions",
        tag = "ApiTags::Owner"
    )]
    // Each argument is an extractor that poem-openapi documents; a struct would hide them.
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&AppState>,
        client: ClientAddr,
        key: RequiredKey,
        /// Items per page, 1 to 100 (default 20).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `nextCursor` of the previous page.
        cursor: Query<Option<String>>,
        /// Only shares with this tag.
        tag: Query<Option<String>>,
        /// Only shares whose title, description or task prompt contains this text.
        q: Query<Option<String>>,
    ) -> Result<ListResponse, Refusal<ListErrors>> {
        // Listing is a read (charged to the read rate) that needs a valid key, unlike other
        // reads, where a key that is not valid reads as no key.
        let key = key.key();
        let owner = state.access.authenticate_from(&key, &client).await?;
        state.access.charge_read(Some(&key), &client)?;
        // 1 to 100: the parameter's validator refuses any other before this runs.
        let limit = limit.0.unwrap_or(DEFAULT_LIMIT);
        // An empty parameter (`?cursor=` from a form or a generated client) is no parameter.
        let after = cursor.0.as_deref().filter(|c| !c.is_empty()).map(decode_cursor).transpose()?;
        let filter = Filter {
            tag: tag.0.map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty()),
            q: q.0.map(|q| q.trim().to_lowercase()).filter(|q| !q.is_empty()),
        };
        let page = state
            .sessions
            .list_page(&owner, after.as_ref(), limit as usize, |r| filter.keeps(r))
            .await?;
        Ok(ListResponse::Ok(Json(share_list(&state, page).await?)))
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

/// A listing's page as answered: each share's summary, and the cursor of the next page.
pub(super) async fn share_list(
    state: &AppState,
    page: ListPage,
) -> Result<ShareList, StorageError> {
    // The link key is read only for a page with a share to open through a link.
    let open = match page.items.iter().any(|(_, record)| !record.is_public()) {
        true => Some(state.sessions.link_key().await?),
        false => None,
    };
    let items = page
        .items
        .iter()
        .map(|(id, record)| sharing::summary(state, id, record, open.as_ref()))
        .collect();
    Ok(ShareList { items, next_cursor: page.next.as_ref().map(encode_cursor) })
}

/// A cursor is where the page before ended, opaque to clients.
pub(super) fn encode_cursor(position: &ListPosition) -> String {
    let nanos = position.created_at.timestamp_nanos_opt().unwrap_or_default();
    URL_SAFE_NO_PAD.encode(format!("{nanos}:{}", position.id))
}

pub(super) fn decode_cursor(raw: &str) -> Result<ListPosition, ApiError> {
    let invalid = || {
        ApiError::invalid_field(
            ErrorCode::InvalidRequest,
            "cursor",
            "not a cursor from this service",
        )
    };
    let text = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let text = String::from_utf8(text).map_err(|_| invalid())?;
    let (nanos, id) = text.split_once(':').ok_or_else(invalid)?;
    Ok(ListPosition {
        created_at: DateTime::from_timestamp_nanos(nanos.parse().map_err(|_| invalid())?),
        id: ShareId::parse(id).map_err(|_| invalid())?,
    })
}

struct Filter {
    tag: Option<String>,
    q: Option<String>,
}

impl Filter {
    fn keeps(&self, record: &ShareRecord) -> bool {
        if self.tag.as_ref().is_some_and(|tag| !record.tags.contains(tag)) {
            return false;
        }
        let Some(q) = &self.q else { return true };
        let hit = |text: &str| text.to_lowercase().contains(q.as_str());
        hit(&record.title)
            || record.description.as_deref().is_some_and(hit)
            || hit(&record.task_excerpt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_forgeries() {
        let position = ListPosition {
            created_at: DateTime::from_timestamp_nanos(1_763_700_000_123_456_789),
            id: ShareId::parse("HzKozOxIxl4dO0YijPu0q").unwrap(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&position)).unwrap(), position);
        for bad in ["", "!!!", &URL_SAFE_NO_PAD.encode("12:../x"), &URL_SAFE_NO_PAD.encode("x:abc")]
        {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }
}
