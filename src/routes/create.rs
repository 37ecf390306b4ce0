//! `POST /api/sessions/create`: what newer extensions call on "share task".

use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::{OpenApi, param::Query};

use super::{
    ApiTags,
    auth::RequiredKey,
    errors::{Refusal, SECRETS_FOUND, Statuses},
    models::SerializedSession,
    sharing::{self, CreateResponse},
    upload::JsonUpload,
};
use crate::{access::ClientAddr, state::AppState};

pub struct CreateApi;

pub struct CreateErrors;

impl Statuses for CreateErrors {
    const STATUSES: &'static [(StatusCode, &'static str)] = &[
        (
            StatusCode::BAD_REQUEST,
            "Not JSON (`INVALID_JSON`), not a valid session (`INVALID_SESSION`, every violation \
             with its JSON pointer, share options included), or another major format version \
             (`UNSUPPORTED_VERSION`).",
        ),
        (
            StatusCode::UNAUTHORIZED,
            "No API key (`MISSING_API_KEY`) or an unknown or revoked one (`INVALID_API_KEY`).",
        ),
        (
            StatusCode::CONFLICT,
            "`CONFLICT`: the task's share kept changing under concurrent shares of it; retry.",
        ),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "The body exceeds the server's limit (`--max-body`), as sent or once decoded.",
        ),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "The body is not sent as `application/json`, or with a `Content-Encoding` other than gzip.",
        ),
        SECRETS_FOUND,
    ];
}

#[OpenApi]
impl CreateApi {
    /// Share a session
    ///
    /// What newer extensions call on "share task". The body is a `SerializedSession`; it is
    /// checked against `openapi/session.schema.json` and stored as uploaded in the key owner's
    /// folder. Sharing a task (`task.id`) that its owner shared before adds a revision to that
    /// share and answers its id and URL again (`updated: true`); `new=true` makes a share of
    /// its own instead. Optional top-level `title`, `description`, `tags`, `isPublic` and
    /// `expiresAt` set the share's options: a new share's, or, on a re-share, those carried
    /// replace the share's and the others stay. Requires an API key. The body may be sent with
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
        /// `true`: a new share with a new link, even if the task was shared before.
        new: Query<Option<bool>>,
        body: JsonUpload<SerializedSession>,
    ) -> Result<CreateResponse, Refusal<CreateErrors>> {
        let owner = state.access.writer(&key.key(), &client).await?;
        let (bytes, _in_flight) =
            body.read(state.uploads.max_body, &state.uploads, &state.metrics).await?;
        let checked = sharing::check(&state, &bytes, None).await?;
        Ok(sharing::share(&state, &owner, checked, new.0.unwrap_or(false)).await?)
    }
}
