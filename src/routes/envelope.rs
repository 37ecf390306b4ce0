//! What every request goes through before and after routing, so that every answer, whatever
//! refused the request, is the JSON error the README promises.
//!
//! - `.` and `..` path segments, encoded or not, are refused with 400 `INVALID_PATH`: poem
//!   resolves them while routing, so `/api/sessions/%2E%2E` would quietly become `/api`.
//! - URLs over [`MAX_URI_BYTES`] answer 414 and request headers over [`MAX_HEADER_BYTES`] 431,
//!   as JSON. (Past hyper's own hard limits, 64 KiB of URL or 100 headers, hyper answers with
//!   a bare status before any of this runs.)
//! - Errors that escape the routes (a refused CORS origin, poem's own) become JSON.
//! - A 405 carries `Allow`, as HTTP requires.

use std::sync::LazyLock;

use percent_encoding::percent_decode_str;
use poem::{Endpoint, IntoResponse, Request, Response, http::StatusCode};

use crate::error::{ApiError, ErrorCode, ErrorStatus};

/// Longest URL (path and query) answered normally; ids and share codes need under 200.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most bytes of request headers (names and values) answered normally.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

pub async fn envelope<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    if let Some(refused) = refuse_early(&req) {
        return Ok(refused.as_response());
    }
    let path = req.uri().path().to_owned();
    let mut resp = match next.call(req).await {
        Ok(resp) => resp.into_response(),
        Err(err) => {
            // A route's own refusal, or an extractor's: still that route's (for metrics).
            let operation = err.data::<poem_openapi::OperationId>().copied();
            let mut resp = escaped(err).as_response();
            if let Some(operation) = operation {
                resp.set_data(operation);
            }
            resp
        }
    };
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
        let allowed = allowed_methods(&path).join(", ");
        if let Ok(value) = allowed.parse() {
            resp.headers_mut().insert(poem::http::header::ALLOW, value);
        }
    }
    Ok(resp)
}

fn refuse_early(req: &Request) -> Option<ApiError> {
    let uri_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return Some(ApiError::new(
            ErrorStatus::UriTooLong,
            ErrorCode::UriTooLong,
            format!("the URL is longer than {MAX_URI_BYTES} bytes"),
        ));
    }
    let header_bytes: usize =
        req.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Some(ApiError::new(
            ErrorStatus::HeadersTooLarge,
            ErrorCode::HeadersTooLarge,
            format!("the request headers are larger than {MAX_HEADER_BYTES} bytes"),
        ));
    }
    let climbs = req.uri().path().split('/').any(|segment| {
        let decoded = percent_decode_str(segment).decode_utf8_lossy();
        decoded == "." || decoded == ".." || decoded.contains('/')
    });
    climbs.then(ApiError::invalid_path)
}

/// An error that reached here as an error: a route's refusal, an extractor's (content type,
/// key, parameter), or one from poem itself.
fn escaped(err: poem::Error) -> ApiError {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        return api.clone();
    }
    if err.is::<poem_openapi::error::ContentTypeError>()
        || err.is::<poem_openapi::error::AuthorizationError>()
        || err.is::<poem_openapi::error::ParseParamError>()
        || err.is::<poem_openapi::error::ParseRequestPayloadError>()
    {
        return ApiError::from_request_error(err);
    }
    if err.is::<poem::error::CorsError>() {
        return ApiError::new(
            ErrorStatus::Forbidden,
            ErrorCode::AccessDenied,
            format!(
                "cross-origin request refused: {err}; the server's --cors-origins lists the \
                 origins that may call it"
            ),
        );
    }
    let status = err.status();
    let (kind, code) = match status.as_u16() {
        400 => (ErrorStatus::BadRequest, ErrorCode::InvalidRequest),
        404 => (ErrorStatus::NotFound, ErrorCode::NotFound),
        405 => (ErrorStatus::MethodNotAllowed, ErrorCode::MethodNotAllowed),
        413 => (ErrorStatus::PayloadTooLarge, ErrorCode::PayloadTooLarge),
        415 => (ErrorStatus::UnsupportedMediaType, ErrorCode::UnsupportedMediaType),
        _ if status.is_client_error() => (ErrorStatus::BadRequest, ErrorCode::InvalidRequest),
        _ => return ApiError::internal(err),
    };
    ApiError::new(kind, code, err.to_string())
}

trait AsResponse {
    fn as_response(&self) -> Response;
}

impl AsResponse for ApiError {
    fn as_response(&self) -> Response {
        poem::error::ResponseError::as_response(self)
    }
}

/// The methods each route takes: the OpenAPI document's, and the pages'.
static ROUTES: LazyLock<Vec<(Vec<String>, Vec<String>)>> = LazyLock::new(|| {
    let doc = super::openapi_doc::document();
    let mut routes: Vec<(Vec<String>, Vec<String>)> = doc["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(path, item)| {
            let methods = item.as_object().into_iter().flatten();
            (segments(path), methods.map(|(m, _)| m.to_uppercase()).collect())
        })
        .collect();
    for page in [
        "/session/{id}",
        "/session/{username}/{id}",
        "/session/{id}/images/{message}/{n}",
        "/assets/{file}",
        "/api/openapi.json",
        "/docs",
    ] {
        routes.push((segments(page), vec!["GET".into()]));
    }
    routes
});

fn segments(path: &str) -> Vec<String> {
    path.trim_matches('/').split('/').map(str::to_owned).collect()
}

/// The methods of the most specific route the path matches (literal segments beat
/// parameters: `/api/sessions/create` is not `/api/sessions/{id}`).
fn allowed_methods(path: &str) -> Vec<String> {
    let parts = segments(path);
    ROUTES
        .iter()
        .filter(|(template, _)| {
            template.len() == parts.len()
                && template.iter().zip(&parts).all(|(t, p)| t.starts_with('{') || t == p)
        })
        .min_by_key(|(template, _)| template.iter().filter(|t| t.starts_with('{')).count())
        .map(|(_, methods)| methods.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::allowed_methods;

    #[test]
    fn allow_names_the_methods_of_the_most_specific_route() {
        assert_eq!(allowed_methods("/api/sessions/create"), ["POST"]);
        assert_eq!(allowed_methods("/api/sessions/abc"), ["GET", "PUT", "PATCH", "DELETE"]);
        assert_eq!(allowed_methods("/api/sessions"), ["POST", "GET"]);
        assert_eq!(allowed_methods("/session/abc"), ["GET"]);
    }
}
