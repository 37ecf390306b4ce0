//! The share page: a session readable in any browser at `/session/{id}` and
//! `/session/{username}/{id}`, served by this binary with everything it needs embedded.
//!
//! Session content is hostile: it is rendered by [`markdown`] (sanitized) and the page is
//! served with a strict Content-Security-Policy that allows only this binary's own script,
//! styles and images. Long conversations are split into pages of
//! [`render::MESSAGES_PER_PAGE`] messages and streamed; images are separate, lazily loaded
//! requests, never inlined.

mod document;
mod markdown;
mod render;

use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use poem::{
    Body, Response, Route, get, handler,
    http::{StatusCode, header},
    web::{Data, Path, Query},
};
use serde::Deserialize;

pub use document::DocumentCache;
use document::{PageDocument, decode_image};
use render::{MESSAGES_PER_PAGE, PageContext, bottom, error_page, message, top};

use crate::{
    access::{ClientAddr, check_readable},
    domain::{ShareId, Username},
    error::{ApiError, ErrorStatus},
    state::AppState,
    storage::{OpenedSession, ShareRecord},
};

/// Only this binary's own script, styles and images; nothing inline, nothing elsewhere.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/// Messages rendered per streamed part of a page.
const MESSAGES_PER_PART: usize = 25;

static PAGE_CSS: &str = include_str!("assets/page.css");
static PAGE_JS: &str = include_str!("assets/page.js");
static HIGHLIGHT_CSS: LazyLock<String> = LazyLock::new(markdown::highlight_css);

/// Routes below `/session`.
pub fn session_routes() -> Route {
    Route::new()
        .at("/:id", get(page_by_id))
        .at("/:username/:id", get(page_by_share_code))
        .at("/:id/images/:message/:image", get(image))
}

/// Routes below `/assets`.
pub fn asset_routes() -> Route {
    Route::new()
        .at("/page.css", get(page_css))
        .at("/page.js", get(page_js))
        .at("/highlight.css", get(highlight_css))
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<String>,
}

/// What only the share pages need, beside [`AppState`].
#[derive(Clone)]
pub struct PageSettings {
    /// Parsed sessions, so that page views and image requests do not each parse one.
    pub cache: DocumentCache,
    /// The extension the page's "Import to VS Code" deep link opens.
    pub vscode_extension_id: String,
}

#[handler]
async fn page_by_id(
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
    state: Data<&AppState>,
    settings: Data<&PageSettings>,
    client: ClientAddr,
) -> Response {
    page(&state, &settings, &client, &id, query.page.as_deref()).await.unwrap_or_else(html_error)
}

/// `/session/{username}/{id}` answers with a permanent redirect to `/session/{id}`: the
/// extension parses only that form, so any page URL a user copies from the address bar must
/// be one it can import. No storage is read; the page itself checks the share.
#[handler]
async fn page_by_share_code(
    Path((username, id)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
    state: Data<&AppState>,
) -> Response {
    let parsed = Username::parse(&username).and_then(|_| ShareId::parse(&id));
    match parsed {
        Ok(id) => {
            let mut location = state.share_url(&id);
            if let Some(page) = query.page.as_deref().and_then(|p| p.parse::<usize>().ok()) {
                location = format!("{location}?page={page}");
            }
            Response::builder()
                .status(StatusCode::MOVED_PERMANENTLY)
                .header(header::LOCATION, location)
                .finish()
        }
        Err(e) => html_error(e.into()),
    }
}

/// The record decides access on every request (a share may have been deleted, made private
/// or have expired since it was cached); the parsed document comes from the cache.
async fn load(
    state: &AppState,
    settings: &PageSettings,
    id: &ShareId,
) -> Result<(ShareRecord, Arc<PageDocument>), ApiError> {
    // A browser sends no key: private shares are not shown here.
    if let Some(doc) = settings.cache.get(id.as_str()).await {
        let record = state.sessions.current_record(id).await?;
        check_readable(&record, None)?;
        return Ok((record, doc));
    }
    // Not parsed yet: one storage read gives the record and the document.
    let (record, OpenedSession::Found { body, .. }) = state.sessions.open(id, None).await? else {
        return Err(ApiError::internal("not-modified answer to an unconditional read"));
    };
    check_readable(&record, None)?;
    let chunks: Vec<Bytes> = body.try_collect().await.map_err(|e| {
        tracing::warn!(error = %e, share_id = %id, "reading a session for its page failed");
        ApiError::storage_unavailable()
    })?;
    let stored: Bytes = chunks.concat().into();
    let document = if record.document_is_gzip(&stored) {
        let size = state.max_body.max(record.size);
        tokio::task::spawn_blocking(move || crate::compression::gunzip(&stored, size))
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| {
                ApiError::from(crate::storage::StorageError::Corrupt {
                    path: format!("the share {id}"),
                    reason: e.to_string(),
                })
            })?
    } else {
        stored
    };
    let doc = settings.cache.insert(id.as_str(), document).await.map_err(ApiError::internal)?;
    Ok((record, doc))
}

async fn page(
    state: &AppState,
    settings: &PageSettings,
    client: &ClientAddr,
    id: &str,
    page: Option<&str>,
) -> Result<Response, ApiError> {
    state.charge_read(None, client)?;
    let id = ShareId::parse(id)?;
    let page: usize = match page {
        None => 1,
        Some(raw) => raw
            .parse()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| ApiError::invalid_request("page must be a number from 1"))?,
    };
    let (record, doc) = load(state, settings, &id).await?;
    let order = doc.chronological();
    let pages = order.len().div_ceil(MESSAGES_PER_PAGE).max(1);
    if page > pages {
        return Err(ApiError::session_not_found());
    }
    let shown: Vec<usize> = order
        .iter()
        .skip((page - 1) * MESSAGES_PER_PAGE)
        .take(MESSAGES_PER_PAGE)
        .copied()
        .collect();
    let ctx = Arc::new(PageContext {
        id: id.to_string(),
        share_url: state.share_url(&id),
        import_url: format!("vscode://{}/import-session?id={id}", settings.vscode_extension_id),
        record,
        page,
        pages,
    });

    // The head and header go out first, so the browser can paint while the rest renders.
    let first = Bytes::from(top(&ctx, &doc));
    let parts: Vec<Vec<usize>> = shown.chunks(MESSAGES_PER_PART).map(<[usize]>::to_vec).collect();
    let (ctx_parts, doc_parts) = (ctx.clone(), doc.clone());
    let middle = futures::stream::iter(parts).then(move |part| {
        let (ctx, doc) = (ctx_parts.clone(), doc_parts.clone());
        async move {
            let first = part.first().copied().unwrap_or_default();
            let id = ctx.id.clone();
            // A part seen before is copied together from the rendered messages.
            let cached: Option<Vec<Bytes>> = part.iter().map(|&i| doc.cached(i)).collect();
            if let Some(cached) = cached {
                return Bytes::from(cached.concat());
            }
            // Markdown and highlighting are CPU work.
            let rendered = tokio::task::spawn_blocking(move || {
                let html: Vec<Bytes> =
                    part.iter().map(|&i| doc.rendered(i, || message(&ctx.id, i, &doc))).collect();
                Bytes::from(html.concat())
            })
            .await;
            part_or_notice(rendered, &id, first)
        }
    });
    let last = Bytes::from(bottom(&ctx));
    let stream = futures::stream::once(async { first })
        .chain(middle)
        .chain(futures::stream::once(async { last }))
        .map(Ok::<_, std::io::Error>);
    Ok(html_response(StatusCode::OK)
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_bytes_stream(stream)))
}

/// A rendered part, or, if rendering it panicked, a notice in its place and an error in the
/// log: never a silent gap in the conversation.
fn part_or_notice(
    rendered: Result<Bytes, tokio::task::JoinError>,
    id: &str,
    first_message: usize,
) -> Bytes {
    match rendered {
        Ok(part) => part,
        Err(error) => {
            tracing::error!(share_id = %id, first_message, %error,
                "rendering part of a share page failed");
            Bytes::from_static(
                b"<p class=\"render-error\">Some messages here could not be shown.</p>",
            )
        }
    }
}

fn html_response(status: StatusCode) -> poem::ResponseBuilder {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header("Content-Security-Policy", PAGE_CSP)
        .header("X-Content-Type-Options", "nosniff")
        .header("Referrer-Policy", "no-referrer")
}

/// Errors as pages a person can read, with the right status.
fn html_error(err: ApiError) -> Response {
    let (heading, text) = match err.status {
        ErrorStatus::NotFound => (
            "Session not found",
            "There is no shared session here. It may have been deleted, or the link may be wrong.",
        ),
        ErrorStatus::Gone => (
            "This session has expired",
            "Its owner shared it for a limited time, and that time is over.",
        ),
        ErrorStatus::BadRequest => {
            ("Not a session link", "This link does not look like a share link.")
        }
        ErrorStatus::TooManyRequests => {
            ("Too many requests", "Please wait a moment and try again.")
        }
        ErrorStatus::Unavailable => (
            "Temporarily unavailable",
            "Sessions cannot be loaded right now. Please try again shortly.",
        ),
        _ => ("Something went wrong", "The session could not be shown."),
    };
    let status = err.status.http();
    let mut builder = html_response(status).header(header::CACHE_CONTROL, "no-store");
    if let Some(secs) = err.retry_after {
        builder = builder.header(header::RETRY_AFTER, secs);
    }
    builder.body(error_page(status.as_u16(), heading, text))
}

/// One image of one message, decoded from its data URL; charged as a read.
#[handler]
async fn image(
    Path((id, message_index, image_index)): Path<(String, usize, usize)>,
    state: Data<&AppState>,
    settings: Data<&PageSettings>,
    client: ClientAddr,
) -> Response {
    let found = async {
        // Each image is a read: a page with many cannot be fetched without limit.
        state.charge_read(None, &client)?;
        let id = ShareId::parse(&id)?;
        let (_, doc) = load(&state, &settings, &id).await?;
        let url = doc
            .messages
            .get(message_index)
            .and_then(|m| m.images.get(image_index))
            .ok_or_else(ApiError::session_not_found)?;
        decode_image(url).ok_or_else(ApiError::session_not_found)
    }
    .await;
    match found {
        Ok((mime, bytes)) => Response::builder()
            .content_type(mime)
            .header(header::CACHE_CONTROL, "public, max-age=86400")
            .header("Content-Security-Policy", "default-src 'none'; sandbox")
            .header("X-Content-Type-Options", "nosniff")
            .body(bytes),
        Err(err) => html_error(err),
    }
}

fn asset(content_type: &str, body: &'static str) -> Response {
    Response::builder()
        .content_type(content_type)
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .header("X-Content-Type-Options", "nosniff")
        .body(body)
}

#[handler]
fn page_css() -> Response {
    asset("text/css; charset=utf-8", PAGE_CSS)
}

#[handler]
fn page_js() -> Response {
    asset("text/javascript; charset=utf-8", PAGE_JS)
}

#[handler]
fn highlight_css() -> Response {
    asset("text/css; charset=utf-8", HIGHLIGHT_CSS.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_part_that_panics_becomes_a_visible_notice() {
        let ok = tokio::task::spawn_blocking(|| Bytes::from_static(b"<article>")).await;
        assert_eq!(part_or_notice(ok, "abc", 0), Bytes::from_static(b"<article>"));
        let panicked = tokio::task::spawn_blocking(|| -> Bytes { panic!("a renderer bug") }).await;
        let notice = part_or_notice(panicked, "abc", 25);
        assert!(String::from_utf8_lossy(&notice).contains("could not be shown"));
    }
}
