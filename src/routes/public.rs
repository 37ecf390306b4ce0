//! `GET /api/public/sessions/{id}`: a read that never looks at a key.

use poem::{Request, web::Data};
use poem_openapi::{
    OpenApi,
    param::{Header, Path, Query},
};

use super::{
    ApiTags,
    errors::Refusal,
    read::{ReadRequest, accepts_gzip, read},
    session::ReadErrors,
    stored::SessionRead,
};
use crate::{
    access::{ClientAddr, Reader},
    domain::ShareId,
    state::AppState,
};

pub struct PublicApi;

#[OpenApi]
impl PublicApi {
    /// Read a public session by id
    ///
    /// As `GET /api/sessions/{id}`, but never looks at a key, so private shares answer 404.
    #[oai(
        path = "/api/public/sessions/:id",
        method = "get",
        operation_id = "getPublicSession",
        tag = "ApiTags::Sessions"
    )]
    async fn get(
        &self,
        req: &Request,
        state: Data<&AppState>,
        client: ClientAddr,
        /// The share id.
        id: Path<ShareId>,
        /// A revision from `GET /api/sessions/{id}/revisions`; the latest when absent.
        #[oai(validator(minimum(value = "1")))]
        revision: Query<Option<u32>>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> Result<SessionRead, Refusal<ReadErrors>> {
        state.access.reader(None, &client).await?;
        let id = id.0;
        let ask = ReadRequest {
            id: &id,
            owner: None,
            revision: revision.0,
            if_none_match: if_none_match.0.as_deref(),
            accepts_gzip: accepts_gzip(req),
        };
        Ok(read(&state, &Reader::anonymous(), ask).await?)
    }
}
