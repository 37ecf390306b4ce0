//! `/api/sessions/{id}/links`: signed links to a share, made and revoked by its owner. A link
//! opens the share (its page, JSON and Markdown forms, images and revisions) for whoever holds
//! it until it expires, private or not; revoking moves the share's link generation on, which
//! every link made before names, so all of them stop at once on every replica.

use chrono::Utc;
use poem::{http::StatusCode, web::Data};
use poem_openapi::{ApiResponse, OpenApi, param::Path, payload::Json};

use super::{
    ApiTags,
    auth::RequiredKey,
    errors::{Refusal, Statuses},
    models::{LinkCreated, LinkRequest},
    sharing,
    upload::JsonUpload,
};
use crate::{
    access::ClientAddr,
    domain::{Link, ShareId, share_options::check_expiry},
    error::{ApiError, ErrorCode},
    json::OptionsError,
    state::AppState,
    storage::{StorageError, UpdateError},
};

/// How long a link lasts when its maker says nothing (at most `--max-ttl`).
pub const DEFAULT_LINK_TTL: chrono::Duration = chrono::Duration::days(7);
/// A link body holds one short field.
pub const MAX_LINK_BODY: u64 = 16 * 1024;

pub struct LinksApi;

pub struct LinkErrors;

impl Statuses for LinkErrors {
    const STATUSES: &'static [(StatusCode, &'static str)] = &[
        (
            StatusCode::BAD_REQUEST,
            "A malformed id (`INVALID_ID`), or an `expiresAt` not in the future or further than \
             `--max-ttl` (`INVALID_REQUEST`).",
        ),
        (
            StatusCode::UNAUTHORIZED,
            "`MISSING_API_KEY` or `INVALID_API_KEY`: set your Syntx API key.",
        ),
        (StatusCode::FORBIDDEN, "`ACCESS_DENIED`: the share is someone else's."),
        (StatusCode::NOT_FOUND, "`SESSION_NOT_FOUND`."),
        (StatusCode::CONFLICT, "`CONFLICT`: other changes kept winning; retry."),
        (StatusCode::GONE, "`SESSION_EXPIRED`: an expired share has no links."),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "`PAYLOAD_TOO_LARGE`: the body is over this route's limit, which the example states.",
        ),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "`UNSUPPORTED_MEDIA_TYPE`: send the body as `Content-Type: application/json`.",
        ),
    ];
}

#[derive(ApiResponse)]
pub enum LinkResponse {
    /// The link: its URL opens the share until `expiresAt`.
    #[oai(status = 201)]
    Created(Json<LinkCreated>),
}

#[derive(ApiResponse)]
pub enum RevokeResponse {
    /// Every link made for the share before now is revoked, on every replica.
    #[oai(status = 204)]
    Revoked,
}

#[OpenApi]
impl LinksApi {
    /// Make a signed link to your share
    ///
    /// The URL opens the share in a browser (its page, images, revisions, JSON and Markdown
    /// forms; `GET /api/sessions/{id}?link=` too) for whoever holds it until `expiresAt`,
    /// private or public, with no key. `expiresAt` defaults to 7 days from now, at most
    /// `--max-ttl`. The link holds no key of yours; `DELETE` revokes every link at once.
    #[oai(
        path = "/api/sessions/:id/links",
        method = "post",
        operation_id = "createLink",
        tag = "ApiTags::Owner"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        client: ClientAddr,
        key: RequiredKey,
        /// The share id.
        id: Path<ShareId>,
        body: JsonUpload<LinkRequest>,
    ) -> Result<LinkResponse, Refusal<LinkErrors>> {
        let owner = state.access.writer(&key.key(), &client).await?;
        let id = id.0;
        let bytes = body.read(MAX_LINK_BODY, &state.uploads, &state.metrics).await?.0;
        let now = Utc::now();
        let expires_at = match parse_request(&bytes)?.expires_at {
            Some(at) => check_expiry(at, now, state.max_ttl).map_err(|e| {
                ApiError::invalid_field(ErrorCode::InvalidRequest, e.pointer, e.message)
            })?,
            None => now + DEFAULT_LINK_TTL.min(state.max_ttl),
        };
        let record = match state.sessions.record(&id, Some(&owner)).await {
            Err(StorageError::NotFound { .. }) => {
                return Err(sharing::missing_or_not_yours(&state, &id, &owner).await.into());
            }
            other => other?,
        };
        if record.is_expired(now) {
            return Err(ApiError::session_expired().into());
        }
        let link = Link { share: id, expires_at, generation: record.link_generation };
        let url = sharing::link_url(&state, &link).await?;
        tracing::info!(share_id = %link.share, username = %owner, %expires_at, "link made");
        Ok(LinkResponse::Created(Json(LinkCreated { url, expires_at })))
    }

    /// Revoke every link to your share
    ///
    /// Every link made for the share before now stops opening it, on every replica, at once.
    /// Links made after work again.
    #[oai(
        path = "/api/sessions/:id/links",
        method = "delete",
        operation_id = "revokeLinks",
        tag = "ApiTags::Owner"
    )]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        client: ClientAddr,
        key: RequiredKey,
        /// The share id.
        id: Path<ShareId>,
    ) -> Result<RevokeResponse, Refusal<LinkErrors>> {
        let owner = state.access.writer(&key.key(), &client).await?;
        let id = id.0;
        let revoked = state
            .sessions
            .update_options(&owner, &id, |record| {
                record.link_generation = record.link_generation.wrapping_add(1);
                Ok::<_, ApiError>(())
            })
            .await;
        match revoked {
            Ok(_) => {
                tracing::info!(share_id = %id, username = %owner, "links revoked");
                Ok(RevokeResponse::Revoked)
            }
            Err(UpdateError::Rejected(e)) => Err(e.into()),
            Err(UpdateError::Storage(StorageError::NotFound { .. })) => {
                Err(sharing::missing_or_not_yours(&state, &id, &owner).await.into())
            }
            Err(UpdateError::Storage(e)) => Err(e.into()),
        }
    }
}

/// A link request: an object, with `expiresAt` or not (an empty body is `{}`).
fn parse_request(bytes: &[u8]) -> Result<LinkRequest, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(LinkRequest { expires_at: None });
    }
    crate::json::parse_options(bytes).map_err(|e| match e {
        OptionsError::NotAnObject => {
            ApiError::invalid_request("not a valid link request: send a JSON object")
        }
        OptionsError::Invalid(e) => {
            ApiError::invalid_request(format!("not a valid link request: {e}"))
        }
    })
}
