//! `GET /api/sessions/{username}/{id}`: the share code `username/id` as a path.

use poem::http::StatusCode;
use poem::{Request, web::Data};
use poem_openapi::{
    OpenApi,
    param::{Header, Path, Query},
};

use super::{
    ApiTags,
    auth::OptionalKey,
    errors::{Refusal, Statuses},
    read::{ReadRequest, accepts_gzip, read},
    stored::SessionRead,
};
use crate::{
    access::ClientAddr,
    domain::{ShareId, Username},
    state::AppState,
};

pub struct ShareCodeApi;

pub struct ShareCodeErrors;

impl Statuses for ShareCodeErrors {
    const STATUSES: &'static [(StatusCode, &'static str)] = &[
        (
            StatusCode::BAD_REQUEST,
            "A malformed id or username (`INVALID_ID`, `INVALID_USERNAME`, `INVALID_PATH`).",
        ),
        (
            StatusCode::NOT_FOUND,
            "`SESSION_NOT_FOUND`: no such share of this user, or a private one and not the \
             owner's key; `REVISION_NOT_FOUND`: the share keeps no such revision.",
        ),
        (StatusCode::GONE, "`SESSION_EXPIRED`: the share has expired and is never returned again."),
    ];
}

#[OpenApi]
impl ShareCodeApi {
    /// Read a session by share code
    ///
    /// `GET /api/sessions/{username}/{id}`: the owner's folder is named, so the share is read
    /// at once, with no lookup of its owner. Otherwise as `GET /api/sessions/{id}`.
    #[oai(
        path = "/api/sessions/:username/:id",
        method = "get",
        operation_id = "getSessionByShareCode",
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
        /// The share's author.
        username: Path<Username>,
        /// The share id.
        id: Path<ShareId>,
        /// A revision from `GET /api/sessions/{id}/revisions`; the latest when absent.
        #[oai(validator(minimum(value = "1")))]
        revision: Query<Option<u32>>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> Result<SessionRead, Refusal<ShareCodeErrors>> {
        let reader = state.access.reader(key.key(), &client).await?;
        let (owner, id) = (username.0, id.0);
        let ask = ReadRequest {
            id: &id,
            owner: Some(&owner),
            revision: revision.0,
            if_none_match: if_none_match.0.as_deref(),
            accepts_gzip: accepts_gzip(req),
        };
        Ok(read(&state, &reader, ask).await?)
    }
}
