//! `/api/sessions/{id}`: read a share (anyone it is shared with); replace its session, change
//! its options or delete it (its owner).

use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Header, Path, Query},
    payload::Json,
    types::MaybeUndefined,
};

use super::{
    ApiTags,
    auth::{OptionalKey, RequiredKey},
    errors::{Refusal, SECRETS_FOUND, Statuses},
    models::{SerializedSession, ShareCreated, ShareSummary, ShareUpdate, ShareVisibility},
    read::{ReadRequest, accepts_gzip, read},
    sharing,
    stored::SessionRead,
    upload::JsonUpload,
};
use crate::{
    access::ClientAddr,
    domain::{
        ShareId, ShareOptions, ShareRecord,
        share_options::{check_expiry, parse_description, parse_tags, parse_title},
    },
    error::{ApiError, ErrorCode},
    json::OptionsError,
    secrets::{Finding, SecretPolicy, SecretScanner},
    state::AppState,
    storage::{StorageError, UpdateError},
};

/// A PATCH body holds a few short fields.
pub const MAX_UPDATE_BODY: u64 = 64 * 1024;

pub struct SessionApi;

pub struct ReadErrors;

impl Statuses for ReadErrors {
    const STATUSES: &'static [(StatusCode, &'static str)] = &[
        (StatusCode::BAD_REQUEST, "A malformed id (`INVALID_ID`, `INVALID_PATH`)."),
        (
            StatusCode::NOT_FOUND,
            "`SESSION_NOT_FOUND`: no such share, or a private one and not the owner's key; \
             `REVISION_NOT_FOUND`: the share keeps no such revision.",
        ),
        (StatusCode::GONE, "`SESSION_EXPIRED`: the share has expired and is never returned again."),
    ];
}

pub struct ReplaceErrors;

impl Statuses for ReplaceErrors {
    const STATUSES: &'static [(StatusCode, &'static str)] = &[
        (
            StatusCode::BAD_REQUEST,
            "A malformed id, or not a valid session (as for `POST /api/sessions/create`).",
        ),
        (
            StatusCode::UNAUTHORIZED,
            "`MISSING_API_KEY` or `INVALID_API_KEY`: set your Syntx API key.",
        ),
        (StatusCode::FORBIDDEN, "`ACCESS_DENIED`: the share is someone else's."),
        (StatusCode::NOT_FOUND, "`SESSION_NOT_FOUND`."),
        (StatusCode::CONFLICT, "`CONFLICT`: other changes kept winning; retry."),
        (StatusCode::GONE, "`SESSION_EXPIRED`: an expired share is never revived."),
        (
            StatusCode::PRECONDITION_FAILED,
            "`PRECONDITION_FAILED`: `If-Match` names a version that is no longer the latest.",
        ),
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

pub struct UpdateErrors;

impl Statuses for UpdateErrors {
    const STATUSES: &'static [(StatusCode, &'static str)] = &[
        (
            StatusCode::BAD_REQUEST,
            "`INVALID_REQUEST`: a field of the wrong type, an unknown field, or a value outside \
             its rules (`details` has its pointer).",
        ),
        (
            StatusCode::UNAUTHORIZED,
            "`MISSING_API_KEY` or `INVALID_API_KEY`: set your Syntx API key.",
        ),
        (StatusCode::FORBIDDEN, "`ACCESS_DENIED`: the share is someone else's."),
        (StatusCode::NOT_FOUND, "`SESSION_NOT_FOUND`."),
        (StatusCode::CONFLICT, "`CONFLICT`: other updates kept winning; retry."),
        (StatusCode::GONE, "`SESSION_EXPIRED`: an expired share cannot be revived."),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "`PAYLOAD_TOO_LARGE`: the body is over this route's limit, which the example states.",
        ),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "`UNSUPPORTED_MEDIA_TYPE`: send the body as `Content-Type: application/json`.",
        ),
        SECRETS_FOUND,
    ];
}

pub struct DeleteErrors;

impl Statuses for DeleteErrors {
    const STATUSES: &'static [(StatusCode, &'static str)] = &[
        (StatusCode::BAD_REQUEST, "`INVALID_ID`."),
        (
            StatusCode::UNAUTHORIZED,
            "`MISSING_API_KEY` or `INVALID_API_KEY`: set your Syntx API key.",
        ),
        (StatusCode::FORBIDDEN, "`ACCESS_DENIED`: the share is someone else's."),
    ];
}

#[derive(ApiResponse)]
pub enum ReplaceResponse {
    /// Replaced: the session sent is the share's latest revision now, the one it had an
    /// earlier one.
    #[oai(status = 200)]
    Ok(
        Json<ShareCreated>,
        /// How many credentials were replaced before storing (`redactions` lists them).
        #[oai(header = "X-Session-Redactions")]
        u32,
    ),
}

#[derive(ApiResponse)]
pub enum UpdateResponse {
    /// Updated; the share as it is now.
    #[oai(status = 200)]
    Ok(Json<ShareSummary>),
}

#[derive(ApiResponse)]
pub enum DeleteResponse {
    /// Deleted with every revision, or already gone.
    #[oai(status = 204)]
    Deleted,
}

#[OpenApi]
impl SessionApi {
    /// Read a session by id
    ///
    /// What older extensions call on import. Public shares are readable by anyone with the id;
    /// a key may be sent (`Syntx-Api-Key` or `Authorization: Bearer`): private shares need
    /// their owner's, and one that is not valid reads as none. Answers the uploaded bytes of
    /// the latest revision (`revision=N`: of revision N) with an `ETag`; a matching
    /// `If-None-Match` answers 304. Sessions are stored gzip-compressed: a client whose
    /// `Accept-Encoding` takes gzip gets them so (`Content-Encoding: gzip`, weak `ETag`), any
    /// other the uploaded bytes.
    #[oai(
        path = "/api/sessions/:id",
        method = "get",
        operation_id = "getSession",
        tag = "ApiTags::Sessions"
    )]
    // Each parameter is an extractor poem-openapi documents, or the request itself.
    #[allow(clippy::too_many_arguments)]
    async fn get(
        &self,
        req: &Request,
        state: Data<&AppState>,
        client: ClientAddr,
        key: OptionalKey,
        /// The share id.
        id: Path<ShareId>,
        /// A revision from `GET /api/sessions/{id}/revisions`; the latest when absent.
        #[oai(validator(minimum(value = "1")))]
        revision: Query<Option<u32>>,
        /// A signed link's token (`POST /api/sessions/{id}/links`): reads the share while the
        /// link holds, whoever asks.
        link: Query<Option<String>>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> Result<SessionRead, Refusal<ReadErrors>> {
        let reader = state.access.reader(key.key(), &client).await?.with_link(link.0.as_deref());
        let id = id.0;
        let ask = ReadRequest {
            id: &id,
            owner: None,
            revision: revision.0,
            if_none_match: if_none_match.0.as_deref(),
            accepts_gzip: accepts_gzip(req),
        };
        Ok(read(&state, &reader, ask).await?)
    }

    /// Replace a session
    ///
    /// The owner shares a new session under the same link: it is checked as a create is, and
    /// becomes the share's latest revision; the session it had becomes an earlier one (the
    /// last `--max-revisions` are kept). Options the session carries (`title`, `isPublic`, ...)
    /// replace the share's; the others stay. Send the
    /// `ETag` you read as `If-Match` to replace only that version (412 if another got in
    /// first).
    #[oai(
        path = "/api/sessions/:id",
        method = "put",
        operation_id = "replaceSession",
        tag = "ApiTags::Owner"
    )]
    async fn replace(
        &self,
        state: Data<&AppState>,
        client: ClientAddr,
        key: RequiredKey,
        /// The share id.
        id: Path<ShareId>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
        body: JsonUpload<SerializedSession>,
    ) -> Result<ReplaceResponse, Refusal<ReplaceErrors>> {
        let owner = state.access.writer(&key.key(), &client).await?;
        let id = id.0;
        let (bytes, _in_flight) =
            body.read(state.uploads.max_body, &state.uploads, &state.metrics).await?;
        let checked = sharing::check(&state, &bytes, None).await?;
        let created = match state
            .sessions
            .replace(&owner, &id, &checked.share, if_match.0.as_deref())
            .await
        {
            Err(StorageError::NotFound { .. }) => {
                return Err(sharing::missing_or_not_yours(&state, &id, &owner).await.into());
            }
            other => other?,
        };
        tracing::info!(share_id = %id, username = %owner, revision = created.record.revision,
            redactions = checked.redactions.len(), "session replaced");
        let count = checked.redactions.len() as u32;
        Ok(ReplaceResponse::Ok(
            Json(sharing::share_created(&state, &created, &checked.redactions)),
            count,
        ))
    }

    /// Change a share's options
    ///
    /// Send only the fields to change: `title`, `description`, `tags`, `isPublic`,
    /// `expiresAt` (`null` removes a description or an expiry, and restores the default
    /// title). They apply to every revision. The sessions themselves never change.
    /// Concurrent updates do not lose one another.
    #[oai(
        path = "/api/sessions/:id",
        method = "patch",
        operation_id = "updateSession",
        tag = "ApiTags::Owner"
    )]
    async fn update(
        &self,
        state: Data<&AppState>,
        client: ClientAddr,
        key: RequiredKey,
        /// The share id.
        id: Path<ShareId>,
        body: JsonUpload<ShareUpdate>,
    ) -> Result<UpdateResponse, Refusal<UpdateErrors>> {
        let owner = state.access.writer(&key.key(), &client).await?;
        let id = id.0;
        let bytes = body.read(MAX_UPDATE_BODY, &state.uploads, &state.metrics).await?.0;
        let mut change = Change::parse(&bytes, state.max_ttl)?;
        change.keep_out_secrets(state.secret_policy)?;
        let updated =
            match state.sessions.update_options(&owner, &id, |record| change.apply(record)).await {
                Ok(updated) => updated,
                Err(UpdateError::Rejected(e)) => return Err(e.into()),
                Err(UpdateError::Storage(StorageError::NotFound { .. })) => {
                    return Err(sharing::missing_or_not_yours(&state, &id, &owner).await.into());
                }
                Err(UpdateError::Storage(e)) => return Err(e.into()),
            };
        tracing::info!(share_id = %id, username = %owner, "share updated");
        Ok(UpdateResponse::Ok(Json(sharing::summary(&state, &id, &updated, None))))
    }

    /// Delete a share
    ///
    /// The share and every revision of it are deleted; later reads answer 404, and its link
    /// is never used for another share. Deleting a share that is already gone answers 204
    /// too, so a retried DELETE is not an error.
    #[oai(
        path = "/api/sessions/:id",
        method = "delete",
        operation_id = "deleteSession",
        tag = "ApiTags::Owner"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        client: ClientAddr,
        key: RequiredKey,
        /// The share id.
        id: Path<ShareId>,
    ) -> Result<DeleteResponse, Refusal<DeleteErrors>> {
        let owner = state.access.writer(&key.key(), &client).await?;
        let id = id.0;
        if state.sessions.delete(&owner, &id).await? {
            tracing::info!(share_id = %id, username = %owner, "share deleted");
            return Ok(DeleteResponse::Deleted);
        }
        match sharing::missing_or_not_yours(&state, &id, &owner).await {
            e if e.status() == StatusCode::NOT_FOUND => Ok(DeleteResponse::Deleted),
            e => Err(e.into()),
        }
    }
}

/// The checked changes of a PATCH: the options it carries.
struct Change(ShareOptions);

impl Change {
    fn parse(bytes: &[u8], max_ttl: chrono::Duration) -> Result<Self, ApiError> {
        let body: ShareUpdate = crate::json::parse_options(bytes).map_err(|e| match e {
            OptionsError::NotAnObject => ApiError::invalid_request(
                "not a valid update: send a JSON object of the fields to change",
            ),
            OptionsError::Invalid(e) => {
                ApiError::invalid_request(format!("not a valid update: {e}"))
            }
        })?;
        let field = |e: crate::domain::FieldError| {
            ApiError::invalid_field(ErrorCode::InvalidRequest, e.pointer, e.message)
        };
        let now = Utc::now();
        // Outer `None`: the field was left out; inner `None`: it was `null`.
        let nullable = |v: MaybeUndefined<String>, parse: fn(&str) -> _| {
            Option::<Option<String>>::from(v)
                .map(|v| v.as_deref().map(parse).transpose().map(Option::flatten))
                .transpose()
                .map_err(field)
        };
        Ok(Self(ShareOptions {
            title: nullable(body.title, parse_title)?,
            description: nullable(body.description, parse_description)?,
            tags: body
                .tags
                .map(|tags| parse_tags(&tags.iter().map(String::as_str).collect::<Vec<_>>()))
                .transpose()
                .map_err(field)?,
            visibility: crate::domain::share_options::visibility(
                body.visibility.map(ShareVisibility::as_str),
                body.is_public,
            )
            .map_err(field)?,
            expires_at: Option::<Option<DateTime<Utc>>>::from(body.expires_at)
                .map(|at| at.map(|at| check_expiry(at, now, max_ttl)).transpose())
                .transpose()
                .map_err(field)?,
        }))
    }

    /// A title, description or tag is shown to everyone the share is: credentials in them are
    /// redacted or refused as in a session (`--secret-policy`).
    fn keep_out_secrets(&mut self, policy: SecretPolicy) -> Result<(), ApiError> {
        if policy == SecretPolicy::Off {
            return Ok(());
        }
        let scanner = SecretScanner::embedded();
        let mut found = Vec::new();
        let mut check = |pointer: String, text: &mut String| {
            if let Some((redacted, rules)) = scanner.redact_text(text) {
                *text = redacted;
                // Not in a document: there are no document bytes to point at.
                found.extend(rules.into_iter().map(|rule| Finding {
                    rule,
                    pointer: pointer.clone(),
                    raw: 0..0,
                }));
            }
        };
        if let Some(Some(title)) = &mut self.0.title {
            check("/title".into(), title);
        }
        if let Some(Some(description)) = &mut self.0.description {
            check("/description".into(), description);
        }
        for (i, tag) in self.0.tags.iter_mut().flatten().enumerate() {
            check(format!("/tags/{i}"), tag);
        }
        match policy {
            SecretPolicy::Reject if !found.is_empty() => Err(ApiError::secrets_found(&found)),
            _ => Ok(()),
        }
    }

    /// Applied to the freshest record, again on every compare-and-swap retry.
    fn apply(&self, record: &mut ShareRecord) -> Result<(), ApiError> {
        if record.is_expired(Utc::now()) {
            return Err(ApiError::session_expired());
        }
        self.0.apply(record);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_tell_absent_from_null() {
        let ttl = chrono::Duration::days(1);
        let change = Change::parse(br#"{"description": null, "tags": ["A", "a"]}"#, ttl).unwrap();
        assert_eq!(change.0.title, None);
        assert_eq!(change.0.description, Some(None));
        assert_eq!(change.0.tags, Some(vec!["a".to_owned()]));
        assert!(Change::parse(br#"{"colour": "red"}"#, ttl).is_err());
        assert!(Change::parse(br#"{"isPublic": "yes"}"#, ttl).is_err());
        assert!(Change::parse(br#"{"expiresAt": "2000-01-01T00:00:00Z"}"#, ttl).is_err());
        for not_an_object in [&b"[]"[..], b"[null, null]", b"\"x\"", b"1", b"null"] {
            assert!(Change::parse(not_an_object, ttl).is_err());
        }
    }
}
