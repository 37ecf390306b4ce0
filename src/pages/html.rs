//! The share page as HTML: streamed in parts as it renders, and gzip-compressed for browsers
//! that take it. A page's compressed bytes are kept with its parsed session, so a page viewed
//! again is neither rendered nor compressed again.

use std::{
    hash::{Hash, Hasher},
    io::Write,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use flate2::{Compression, write::GzEncoder};
use futures::{StreamExt, stream::BoxStream};
use poem::{
    Body, Response,
    http::{StatusCode, header},
};

use super::{
    document::PageDocument,
    head::error_page,
    message::message,
    render::{MESSAGES_PER_PAGE, PageContext, bottom, top},
    settings::{MESSAGES_PER_PART, PAGE_CSP},
};
use crate::error::ApiError;

/// Page `ctx.page` of a share, for a client that does (`gzip`) or does not take gzip.
pub fn page(ctx: PageContext, doc: Arc<PageDocument>, gzip: bool) -> Result<Response, ApiError> {
    let order = doc.chronological();
    if ctx.page > ctx.pages {
        return Err(ApiError::session_not_found());
    }
    let shown: Vec<usize> = order
        .iter()
        .skip((ctx.page - 1) * MESSAGES_PER_PAGE)
        .take(MESSAGES_PER_PAGE)
        .copied()
        .collect();
    let response = html_response(StatusCode::OK)
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::VARY, "Accept, Accept-Encoding");
    let response = if ctx.indexable { response.header("X-Robots-Tag", "all") } else { response };
    // What the page's bytes depend on besides the session: its record, revisions and page.
    let key = fingerprint(&ctx);
    if gzip {
        if let Some(compressed) = doc.compressed_page(key) {
            return Ok(response.header(header::CONTENT_ENCODING, "gzip").body(compressed));
        }
    }
    let parts = rendered(Arc::new(ctx), doc.clone(), shown);
    if !gzip {
        return Ok(response.body(Body::from_bytes_stream(parts.map(Ok::<_, std::io::Error>))));
    }
    Ok(response
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::from_bytes_stream(compressed(parts, doc, key).map(Ok::<_, std::io::Error>))))
}

/// The page's parts as they render: the head and header first, so the browser paints while
/// the rest renders; messages in parts of [`MESSAGES_PER_PART`]; then the end.
fn rendered(
    ctx: Arc<PageContext>,
    doc: Arc<PageDocument>,
    shown: Vec<usize>,
) -> BoxStream<'static, Bytes> {
    let first = Bytes::from(top(&ctx, &doc));
    let last = Bytes::from(bottom(&ctx));
    let parts: Vec<Vec<usize>> = shown.chunks(MESSAGES_PER_PART).map(<[usize]>::to_vec).collect();
    let middle = futures::stream::iter(parts).then(move |part| {
        let (ctx, doc) = (ctx.clone(), doc.clone());
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
    futures::stream::once(async { first })
        .chain(middle)
        .chain(futures::stream::once(async { last }))
        .boxed()
}

/// `parts` gzip-compressed as they come (each flushed, so the browser can paint it), and the
/// whole kept with `doc` under `key` once the last part is out.
fn compressed(
    parts: BoxStream<'static, Bytes>,
    doc: Arc<PageDocument>,
    key: u64,
) -> BoxStream<'static, Bytes> {
    let encoder = Arc::new(Mutex::new(Some(GzEncoder::new(Vec::new(), Compression::default()))));
    let whole = Arc::new(Mutex::new(Vec::new()));
    let (encoding, kept) = (encoder.clone(), whole.clone());
    let body = parts.map(move |part| {
        let mut guard = encoding.lock().expect("never poisoned: nothing panics under it");
        let encoder = guard.as_mut().expect("finished only after the last part");
        // Writing to a Vec cannot fail.
        encoder.write_all(&part).and_then(|()| encoder.flush()).expect("gzip into memory");
        let out = std::mem::take(encoder.get_mut());
        kept.lock().expect("never poisoned").extend_from_slice(&out);
        Bytes::from(out)
    });
    let end = futures::stream::once(async move {
        let encoder = encoder.lock().expect("never poisoned").take();
        let tail = encoder.map(|e| e.finish().expect("gzip into memory")).unwrap_or_default();
        let mut whole = std::mem::take(&mut *whole.lock().expect("never poisoned"));
        whole.extend_from_slice(&tail);
        doc.keep_compressed_page(key, Bytes::from(whole));
        Bytes::from(tail)
    });
    body.chain(end).boxed()
}

fn fingerprint(ctx: &PageContext) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    serde_json::to_vec(&ctx.record).unwrap_or_default().hash(&mut hasher);
    serde_json::to_vec(&ctx.revisions).unwrap_or_default().hash(&mut hasher);
    (ctx.page, ctx.pages, &ctx.revision_query, ctx.indexable).hash(&mut hasher);
    hasher.finish()
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

pub fn html_response(status: StatusCode) -> poem::ResponseBuilder {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header("Content-Security-Policy", PAGE_CSP)
        .header("Referrer-Policy", "no-referrer")
}

/// Errors as pages a person can read, with the right status.
pub fn html_error(err: ApiError) -> Response {
    let (heading, text) = match err.status() {
        StatusCode::NOT_FOUND => (
            "Session not found",
            "There is no shared session here. It may have been deleted, or the link may be wrong.",
        ),
        StatusCode::GONE => (
            "This session has expired",
            "Its owner shared it for a limited time, and that time is over.",
        ),
        StatusCode::BAD_REQUEST => {
            ("Not a session link", "This link does not look like a share link.")
        }
        StatusCode::TOO_MANY_REQUESTS => {
            ("Too many requests", "Please wait a moment and try again.")
        }
        StatusCode::SERVICE_UNAVAILABLE => (
            "Temporarily unavailable",
            "Sessions cannot be loaded right now. Please try again shortly.",
        ),
        _ => ("Something went wrong", "The session could not be shown."),
    };
    let status = err.status();
    let mut builder = html_response(status).header(header::CACHE_CONTROL, "no-store");
    if let Some(secs) = err.retry_after {
        builder = builder.header(header::RETRY_AFTER, secs);
    }
    builder.body(error_page(status.as_u16(), heading, text))
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

    #[tokio::test]
    async fn the_compressed_page_is_the_page_and_is_kept() {
        let doc = Arc::new(PageDocument::parse(br#"{"task":{"task":"t"},"messages":[]}"#).unwrap());
        let parts =
            futures::stream::iter([&b"<p>one</p>"[..], b"<p>two</p>"].map(Bytes::from_static))
                .boxed();
        let sent: Vec<Bytes> = compressed(parts, doc.clone(), 7).collect().await;
        let sent = sent.concat();
        let plain = crate::compression::gunzip(&sent, 1 << 20).unwrap();
        assert_eq!(&plain[..], b"<p>one</p><p>two</p>");
        assert_eq!(doc.compressed_page(7).as_deref(), Some(&sent[..]));
    }
}
