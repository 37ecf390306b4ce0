//! Refuses `.` and `..` path segments, encoded or not, before routing.
//!
//! poem resolves dot segments while routing, so `/api/sessions/%2E%2E` would quietly become
//! `/api` and answer 404; a request that tries to climb a path deserves a plain 400.

use percent_encoding::percent_decode_str;
use poem::{Endpoint, IntoResponse, Request, Response};

use super::ApiError;

pub async fn reject_dot_segments<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let climbs = req.uri().path().split('/').any(|segment| {
        let decoded = percent_decode_str(segment).decode_utf8_lossy();
        decoded == "." || decoded == ".." || decoded.contains('/')
    });
    if climbs {
        let err = ApiError::invalid_path();
        return Ok(poem::error::ResponseError::as_response(&err));
    }
    next.call(req).await.map(IntoResponse::into_response)
}
