//! `/api/team/sessions`: the team shares of the caller's team (`visibility: team`), which
//! anyone in the team reads with their key.

use poem::{http::StatusCode, web::Data};
use poem_openapi::{ApiResponse, OpenApi, param::Query, payload::Json};

use super::{
    ApiTags,
    auth::RequiredKey,
    errors::{Refusal, Statuses},
    models::ShareList,
    sessions::{decode_cursor, share_list},
};
use crate::{access::ClientAddr, domain::Visibility, state::AppState};

pub struct TeamApi;

pub struct TeamErrors;

impl Statuses for TeamErrors {
    const STATUSES: &'static [(StatusCode, &'static str)] = &[
        (StatusCode::BAD_REQUEST, "`INVALID_REQUEST`: `limit` out of range or a foreign `cursor`."),
        (
            StatusCode::UNAUTHORIZED,
            "`MISSING_API_KEY` or `INVALID_API_KEY`: set your Syntx API key.",
        ),
    ];
}

#[derive(ApiResponse)]
pub enum TeamListResponse {
    /// A page of your team's team shares, newest first (none if you are in no team).
    #[oai(status = 200)]
    Ok(Json<ShareList>),
}

#[OpenApi]
impl TeamApi {
    /// List your team's shares
    ///
    /// The shares made visible to the team (`visibility: team`) by anyone in the caller's
    /// team, the caller's own included; newest first, `limit` at a time (1 to 100, default
    /// 20), `nextCursor` as `cursor` for the next page. Each item has a `linkUrl` that opens
    /// the share in a browser for 10 minutes. An operator puts users in teams
    /// (`session-share teams`); someone in no team gets an empty list.
    #[oai(
        path = "/api/team/sessions",
        method = "get",
        operation_id = "listTeamSessions",
        tag = "ApiTags::Sessions"
    )]
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
    ) -> Result<TeamListResponse, Refusal<TeamErrors>> {
        let key = key.key();
        let caller = state.access.authenticate_from(&key, &client).await?;
        state.access.charge_read(Some(&key), &client)?;
        let after = cursor.0.as_deref().filter(|c| !c.is_empty()).map(decode_cursor).transpose()?;
        let Some(team) = state.access.teams.team_of(&caller).await? else {
            return Ok(TeamListResponse::Ok(Json(ShareList { items: vec![], next_cursor: None })));
        };
        let members = state.access.teams.members(&team).await?;
        let page = state
            .sessions
            .list_page_of(&members, after.as_ref(), limit.0.unwrap_or(20) as usize, |record| {
                record.visibility == Visibility::Team
            })
            .await?;
        Ok(TeamListResponse::Ok(Json(share_list(&state, page).await?)))
    }
}
