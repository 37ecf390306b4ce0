//! Reading a share for a caller, shared by every route that answers one.

use poem::Request;

use super::{
    etag::{IfNoneMatch, http_etag},
    stored::{SessionRead, StoredSession},
};
use crate::{
    access::Reader,
    domain::{ShareId, Username},
    error::ApiError,
    state::AppState,
    storage::Opened,
};

/// What a read asks for.
pub struct ReadRequest<'a> {
    pub id: &'a ShareId,
    /// From a share code: only that user's share answers.
    pub owner: Option<&'a Username>,
    /// `?revision=N`; the latest when absent.
    pub revision: Option<u32>,
    pub if_none_match: Option<&'a str>,
    pub accepts_gzip: bool,
}

/// Reads a share for `reader`: one storage read in the steady state. See
/// [`crate::access::may_read`] for who may read what.
pub async fn read(
    state: &AppState,
    reader: &Reader,
    ask: ReadRequest<'_>,
) -> Result<SessionRead, ApiError> {
    let has = IfNoneMatch::parse(ask.if_none_match);
    let opened = match ask.revision {
        Some(revision) => {
            state.sessions.open_revision(ask.id, ask.owner, revision, has.single()).await
        }
        None => state.sessions.open(ask.id, ask.owner, has.single()).await,
    };
    let (record, opened) = opened?;
    state.may_read(ask.id, &record, reader).await?;
    Ok(match opened {
        Opened::Found { etag, compressed_len, rest } => {
            if etag.as_deref().map(http_etag).is_some_and(|e| has.matches(&e)) {
                // Dropping the body closes the storage read early. The tag repeated is the
                // client's own (weak for the gzip form) when it sent one.
                SessionRead::NotModified(
                    has.sent().map(str::to_owned).or_else(|| etag.as_deref().map(http_etag)),
                )
            } else {
                SessionRead::Found(StoredSession::serve(
                    rest,
                    compressed_len,
                    etag,
                    record,
                    ask.accepts_gzip,
                ))
            }
        }
        Opened::NotModified => SessionRead::NotModified(has.sent().map(str::to_owned)),
    })
}

pub fn accepts_gzip(req: &Request) -> bool {
    crate::compression::accepts_gzip(req.header(poem::http::header::ACCEPT_ENCODING))
}
