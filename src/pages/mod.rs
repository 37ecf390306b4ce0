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
    domain::{RevisionInfo, ShareId, ShareRecord, Username},
    error::{ApiError, ErrorStatus},
    state::AppState,
    storage::{Opened, share_file},
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
    revision: Option<String>,
}

impl PageQuery {
    /// `?page=N`, from 1.
    fn page(&self) -> Result<usize, ApiError> {
        number(self.page.as_deref(), "page").map(|p| p.unwrap_or(1))
    }

    /// `?revision=N`, from 1; the latest when absent.
    fn revision(&self) -> Result<Option<u32>, ApiError> {
        number(self.revision.as_deref(), "revision").map(|r| r.map(|r| r as u32))
    }

    /// The query again for `page`, keeping the revision.
    fn with_page(&self, page: Option<usize>) -> String {
        let mut parts = Vec::new();
        if let Some(revision) = self.revision.as_deref().and_then(|r| r.trim().parse::<u32>().ok())
        {
            parts.push(format!("revision={revision}"));
        }
        if let Some(page) = page {
            parts.push(format!("page={page}"));
        }
        if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
    }
}

fn number(raw: Option<&str>, name: &str) -> Result<Option<usize>, ApiError> {
    raw.map(|raw| {
        raw.trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=u32::MAX as usize).contains(n))
            .ok_or_else(|| ApiError::invalid_request(format!("{name} must be a number from 1")))
    })
    .transpose()
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
    page(&state, &settings, &client, &id, &query).await.unwrap_or_else(html_error)
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
    let parsed = Username::parse(username.trim()).and_then(|_| ShareId::parse(id.trim()));
    match parsed {
        Ok(id) => {
            let page = query.page.as_deref().and_then(|p| p.trim().parse::<usize>().ok());
            let location = format!("{}{}", state.share_url(&id), query.with_page(page));
            Response::builder()
                .status(StatusCode::MOVED_PERMANENTLY)
                .header(header::LOCATION, location)
                .finish()
        }
        Err(e) => html_error(e.into()),
    }
}

/// A share's revision as a page shows it: the record (the latest's options, the revision's
/// own size and messages) and the parsed document.
struct Loaded {
    record: ShareRecord,
    /// Every revision kept, oldest first.
    revisions: Vec<RevisionInfo>,
    doc: Arc<PageDocument>,
}

/// The record decides access on every request (a share may have been deleted, made private
/// or have expired since it was cached); the parsed document comes from the cache.
async fn load(
    state: &AppState,
    settings: &PageSettings,
    id: &ShareId,
    revision: Option<u32>,
) -> Result<Loaded, ApiError> {
    // A browser sends no key: private shares are not shown here.
    let latest = state.sessions.current_record(id, None).await?;
    check_readable(&latest, None)?;
    let revision = revision.unwrap_or(latest.revision);
    let shown = shown_revision(&latest, revision).ok_or_else(ApiError::revision_not_found)?;
    let revisions = latest.revisions();
    let key = format!("{id}@{revision}");
    if let Some(doc) = settings.cache.get(&key).await {
        return Ok(Loaded { record: shown, revisions, doc });
    }
    // Not parsed yet: one storage read gives the document.
    let opened = if revision == latest.revision {
        state.sessions.open(id, Some(&latest.username), None).await
    } else {
        state.sessions.open_revision(id, Some(&latest.username), revision, None).await
    };
    let (record, Opened::Found { rest, .. }) = opened? else {
        return Err(ApiError::internal("not-modified answer to an unconditional read"));
    };
    check_readable(&record, None)?;
    let chunks: Vec<Bytes> = share_file::as_gzip(rest).try_collect().await.map_err(|e| {
        tracing::warn!(error = %e, share_id = %id, "reading a session for its page failed");
        ApiError::storage_unavailable()
    })?;
    let stored: Bytes = chunks.concat().into();
    let limit = state.uploads.max_body.max(record.size);
    let document = tokio::task::spawn_blocking(move || crate::compression::gunzip(&stored, limit))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| {
            ApiError::from(crate::storage::StorageError::Corrupt {
                path: format!("the share {id}"),
                reason: e.to_string(),
            })
        })?;
    let doc = settings.cache.insert(&key, document).await.map_err(ApiError::internal)?;
    Ok(Loaded { record, revisions, doc })
}

/// Revision `revision` of the share whose latest record is `latest`, as a page shows it.
fn shown_revision(latest: &ShareRecord, revision: u32) -> Option<ShareRecord> {
    if revision == latest.revision {
        return Some(latest.clone());
    }
    let earlier = latest.earlier.iter().find(|r| r.revision == revision)?;
    let mut shown = latest.clone();
    shown.revision = earlier.revision;
    shown.revised_at = earlier.created_at;
    shown.size = earlier.size;
    shown.message_count = earlier.message_count;
    Some(shown)
}

async fn page(
    state: &AppState,
    settings: &PageSettings,
    client: &ClientAddr,
    id: &str,
    query: &PageQuery,
) -> Result<Response, ApiError> {
    state.access.charge_read(None, client)?;
    let id = ShareId::parse(id.trim())?;
    let (page, revision) = (query.page()?, query.revision()?);
    let Loaded { record, revisions, doc } = load(state, settings, &id, revision).await?;
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
    let latest = revisions.last().map_or(record.revision, |r| r.revision);
    // Links within an earlier revision stay in it; the latest needs no query.
    let revision_query = if record.revision == latest {
        String::new()
    } else {
        format!("revision={}", record.revision)
    };
    let ctx = Arc::new(PageContext {
        id: id.to_string(),
        share_url: state.share_url(&id),
        import_url: format!("vscode://{}/import-session?id={id}", settings.vscode_extension_id),
        revision_query,
        revisions,
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
                    part.iter().map(|&i| doc.rendered(i, || message(&ctx, i, &doc))).collect();
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
    Query(query): Query<PageQuery>,
    state: Data<&AppState>,
    settings: Data<&PageSettings>,
    client: ClientAddr,
) -> Response {
    let found = async {
        // Each image is a read: a page with many cannot be fetched without limit.
        state.access.charge_read(None, &client)?;
        let id = ShareId::parse(id.trim())?;
        let Loaded { doc, .. } = load(&state, &settings, &id, query.revision()?).await?;
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
