//! `GET /api/sessions/{id}/revisions`: a share's revisions.

use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};

use super::{
    ApiTags,
    auth::OptionalKey,
    errors::{Refusal, Statuses},
    models::{RevisionList, RevisionSummary},
};
use crate::{access::ClientAddr, domain::ShareId, state::AppState};

pub struct RevisionsApi;

pub struct RevisionsErrors;

impl Statuses for RevisionsErrors {
    const STATUSES: &'static [(StatusCode, &'static str)] = &[
        (StatusCode::BAD_REQUEST, "A malformed id (`INVALID_ID`, `INVALID_PATH`)."),
        (
            StatusCode::NOT_FOUND,
            "`SESSION_NOT_FOUND`: no such share, or a private one and not the owner's key.",
        ),
        (StatusCode::GONE, "`SESSION_EXPIRED`: the share has expired."),
    ];
}

#[derive(ApiResponse)]
pub enum RevisionsResponse {
    /// The revisions kept, oldest first; the last is the latest.
    #[oai(status = 200)]
    Ok(Json<RevisionList>),
}

#[OpenApi]
impl RevisionsApi {
    /// List a share's revisions
    ///
    /// Sharing a task again, or `PUT`, adds a revision; the last `--max-revisions` are kept.
    /// Each reads with `GET /api/sessions/{id}?revision=N`. Who may see the share may see its
    /// revisions.
    #[oai(
        path = "/api/sessions/:id/revisions",
        method = "get",
        operation_id = "listRevisions",
        tag = "ApiTags::Sessions"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        client: ClientAddr,
        key: OptionalKey,
        /// The share id.
        id: Path<ShareId>,
        /// A signed link's token: lists the revisions while the link holds, whoever asks.
        link: Query<Option<String>>,
    ) -> Result<RevisionsResponse, Refusal<RevisionsErrors>> {
        let reader = state.access.reader(key.key(), &client).await?.with_link(link.0.as_deref());
        let id = id.0;
        // Fresh: revisions added through another replica are listed at once.
        let record = state.sessions.record(&id, None).await?;
        state.may_read(&id, &record, &reader).await?;
        let api = format!("{}/api/sessions/{id}", state.public_url);
        let items = record
            .revisions()
            .into_iter()
            .map(|r| RevisionSummary {
                url: format!("{api}?revision={}", r.revision),
                revision: r.revision,
                created_at: r.created_at,
                size: r.size,
                message_count: r.message_count,
                redactions: r.redactions,
            })
            .collect();
        Ok(RevisionsResponse::Ok(Json(RevisionList { id: id.to_string(), items })))
    }
}
