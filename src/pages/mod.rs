//! The share page: a session readable in any browser at `/session/{id}` and
//! `/session/{username}/{id}`, served by this binary with everything it needs embedded.
//!
//! Session content is hostile: it is rendered by [`markdown`] (sanitized) and the page is
//! served with a strict Content-Security-Policy that allows only this binary's own script,
//! styles and images. Long conversations are split into pages of
//! [`render::MESSAGES_PER_PAGE`] messages and streamed; images are separate, lazily loaded
//! requests, never inlined.
//!
//! The page's URL is also what users paste into "import task", and what agents are handed,
//! so `/session/{id}` answers what the client asks for (`Accept`): the page, the stored
//! JSON exactly as `GET /api/sessions/{id}` answers it (older extensions GET a pasted URL
//! with `Accept: application/json`), or a Markdown transcript (also `/session/{id}.md`).

mod document;
mod head;
mod html;
mod load;
mod markdown;
mod message;
mod owner;
mod render;
mod settings;
mod transcript;

use std::sync::{Arc, LazyLock};

use poem::{
    IntoResponse, Request, Response, handler,
    http::{StatusCode, header},
    web::{Accept, Data, Path, Query},
};
use serde::Deserialize;

pub use document::DocumentCache;
use document::decode_image;
use html::html_error;
use load::{Loaded, load};
use render::{MESSAGES_PER_PAGE, PageContext};
pub use settings::PageSettings;

use crate::{
    access::{ClientAddr, Granted, Reader},
    domain::{ShareId, Username},
    error::ApiError,
    router::Router,
    routes::{ReadRequest, accepts_gzip, key_in, read},
    state::AppState,
};

static PAGE_CSS: &str = include_str!("assets/page.css");
static PAGE_JS: &str = include_str!("assets/page.js");
static OWNER_JS: &str = include_str!("assets/my.js");
static FAVICON: &[u8] = include_bytes!("assets/favicon.ico");
static HIGHLIGHT_CSS: LazyLock<String> = LazyLock::new(markdown::highlight_css);

/// The pages, their assets and the owner's page, added to `router`.
pub fn routes(router: Router) -> Router {
    router
        .get("/session/:id", page_by_id)
        .get("/session/:username/:id", page_by_share_code)
        .get("/session/:id/images/:message/:image", image)
        .get("/assets/page.css", page_css)
        .get("/assets/page.js", page_js)
        .get("/assets/my.js", owner_js)
        .get("/assets/highlight.css", highlight_css)
        .get("/favicon.ico", favicon)
        .get("/my", owner::owner_page)
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<String>,
    revision: Option<String>,
    /// A signed link's token: the page (and what it links) opens while the link holds.
    link: Option<String>,
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
        if let Some(link) = self.link() {
            parts.push(format!("link={link}"));
        }
        if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
    }

    /// `?link=`, if it is one a link could be (its characters are URL-safe; anything else
    /// is no link, and no link opens it).
    fn link(&self) -> Option<&str> {
        self.link.as_deref().map(str::trim).filter(|l| {
            !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
    }

    /// Who is reading: the key a client sent (as the API reads it), and the link.
    async fn reader(
        &self,
        req: &Request,
        state: &AppState,
        client: &ClientAddr,
    ) -> Result<Reader, ApiError> {
        Ok(state.access.reader(key_in(req), client).await?.with_link(self.link()))
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

/// What a request for a share's page asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Html,
    Json,
    Markdown,
}

impl Form {
    /// The first of the page, the JSON or the transcript that `Accept` names, most wanted
    /// first; the page when it names none of them (or nothing).
    fn wanted(accept: &Accept) -> Self {
        let acceptable = accept.0.iter().filter(|m| m.get_param("q").is_none_or(|q| q != "0"));
        for mime in acceptable {
            match (mime.type_().as_str(), mime.subtype().as_str()) {
                ("text", "html" | "*") | ("*", "*") | ("application", "xhtml+xml") => {
                    return Self::Html;
                }
                ("application", "json") => return Self::Json,
                ("text", "markdown") => return Self::Markdown,
                _ => {}
            }
        }
        Self::Html
    }
}

#[handler]
async fn page_by_id(
    req: &Request,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
    accept: Accept,
    state: Data<&AppState>,
    settings: Data<&PageSettings>,
    client: ClientAddr,
) -> Response {
    // `/session/{id}.md` is the transcript whatever `Accept` says.
    let (id, form) = match id.trim().strip_suffix(".md") {
        Some(id) => (id.to_owned(), Form::Markdown),
        None => (id, Form::wanted(&accept)),
    };
    let answer = match form {
        Form::Json => return stored_json(req, &state, &client, &id, &query).await,
        Form::Html => page(req, &state, &settings, &client, &id, &query).await,
        Form::Markdown => markdown_transcript(req, &state, &settings, &client, &id, &query).await,
    };
    let mut response = answer.unwrap_or_else(html_error);
    response
        .headers_mut()
        .insert(header::VARY, header::HeaderValue::from_static("Accept, Accept-Encoding"));
    response
}

/// The page's context for the revision and page asked for, and the parsed session.
async fn context(
    req: &Request,
    state: &AppState,
    settings: &PageSettings,
    client: &ClientAddr,
    id: &str,
    query: &PageQuery,
) -> Result<(PageContext, Arc<document::PageDocument>), ApiError> {
    let reader = query.reader(req, state, client).await?;
    let id = ShareId::parse(id.trim())?;
    let (page, revision) = (query.page()?, query.revision()?);
    let Loaded { record, revisions, doc, granted, .. } =
        load(state, settings, &id, revision, &reader).await?;
    let latest = revisions.last().map_or(record.revision, |r| r.revision);
    // Links within an earlier revision stay in it; the latest needs no query.
    let revision_query = if record.revision == latest {
        String::new()
    } else {
        format!("revision={}", record.revision)
    };
    let ctx = PageContext {
        id: id.to_string(),
        share_url: state.share_url(&id),
        public_url: state.public_url.clone(),
        import_url: format!("vscode://{}/import-session?id={id}", settings.vscode_extension_id),
        indexable: state.allow_indexing && granted == Granted::Public,
        link: query.link().map(str::to_owned),
        revision_query,
        revisions,
        record,
        page,
        pages: doc.chronological().len().div_ceil(MESSAGES_PER_PAGE).max(1),
    };
    Ok((ctx, doc))
}

async fn page(
    req: &Request,
    state: &AppState,
    settings: &PageSettings,
    client: &ClientAddr,
    id: &str,
    query: &PageQuery,
) -> Result<Response, ApiError> {
    let (ctx, doc) = context(req, state, settings, client, id, query).await?;
    let gzip = accepts_gzip(req);
    html::page(ctx, doc, gzip)
}

/// The whole session as Markdown, every message (no pages).
async fn markdown_transcript(
    req: &Request,
    state: &AppState,
    settings: &PageSettings,
    client: &ClientAddr,
    id: &str,
    query: &PageQuery,
) -> Result<Response, ApiError> {
    let (ctx, doc) = context(req, state, settings, client, id, query).await?;
    let indexable = ctx.indexable;
    let text = tokio::task::spawn_blocking(move || transcript::transcript(&ctx, &doc))
        .await
        .map_err(ApiError::internal)?;
    Ok(Response::builder()
        .content_type("text/markdown; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .header("X-Robots-Tag", if indexable { "all" } else { "noindex" })
        .body(text))
}

/// The stored session, exactly as `GET /api/sessions/{id}` answers it (a key may be sent,
/// as there), with its errors as JSON: the client asking is a program.
async fn stored_json(
    req: &Request,
    state: &AppState,
    client: &ClientAddr,
    id: &str,
    query: &PageQuery,
) -> Response {
    let answer = async {
        let reader = query.reader(req, state, client).await?;
        let id = ShareId::parse(id.trim())?;
        let ask = ReadRequest {
            id: &id,
            owner: None,
            revision: query.revision()?,
            if_none_match: req.header(header::IF_NONE_MATCH),
            accepts_gzip: accepts_gzip(req),
        };
        read(state, &reader, ask).await
    };
    let mut response = match answer.await {
        Ok(read) => read.into_response(),
        Err(e) => e.into_response(),
    };
    response
        .headers_mut()
        .insert(header::VARY, header::HeaderValue::from_static("Accept, Accept-Encoding"));
    response
}

/// `/session/{username}/{id}` answers with a permanent redirect to `/session/{id}` (and
/// `/session/{username}/{id}.md` to `/session/{id}.md`): the extension parses only that form,
/// so any page URL a user copies from the address bar must be one it can import. No storage
/// is read; the page itself checks the share.
#[handler]
async fn page_by_share_code(
    Path((username, id)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
    state: Data<&AppState>,
) -> Response {
    let (id, suffix) = match id.trim().strip_suffix(".md") {
        Some(id) => (id.to_owned(), ".md"),
        None => (id, ""),
    };
    let parsed = Username::parse(username.trim()).and_then(|_| ShareId::parse(id.trim()));
    match parsed {
        Ok(id) => {
            let page = query.page.as_deref().and_then(|p| p.trim().parse::<usize>().ok());
            let location = format!("{}{suffix}{}", state.share_url(&id), query.with_page(page));
            Response::builder()
                .status(StatusCode::MOVED_PERMANENTLY)
                .header(header::LOCATION, location)
                .finish()
        }
        Err(e) => html_error(e.into()),
    }
}

/// One image of one message, decoded from its data URL; charged as a read. A browser keeps it
/// but asks again (`no-cache`) with its `ETag`, which names the revision's bytes: a share made
/// private stops showing its images at once, and an unchanged one answers 304.
#[handler]
async fn image(
    req: &Request,
    Path((id, message_index, image_index)): Path<(String, usize, usize)>,
    Query(query): Query<PageQuery>,
    state: Data<&AppState>,
    settings: Data<&PageSettings>,
    client: ClientAddr,
) -> Response {
    let found = async {
        // Each image is a read: a page with many cannot be fetched without limit.
        let reader = query.reader(req, &state, &client).await?;
        let id = ShareId::parse(id.trim())?;
        let Loaded { doc, key, .. } =
            load(&state, &settings, &id, query.revision()?, &reader).await?;
        let url = doc
            .messages
            .get(message_index)
            .and_then(|m| m.images.get(image_index))
            .ok_or_else(ApiError::session_not_found)?;
        let etag = image_etag(&key, message_index, image_index);
        if req.header(header::IF_NONE_MATCH).is_some_and(|sent| {
            sent.split(',').any(|tag| tag.trim().trim_start_matches("W/") == etag)
        }) {
            return Ok((etag, None));
        }
        let image = decode_image(url).ok_or_else(ApiError::session_not_found)?;
        Ok::<_, ApiError>((etag, Some(image)))
    }
    .await;
    let response = |status: StatusCode, etag: String| {
        Response::builder()
            .status(status)
            .header(header::CACHE_CONTROL, "no-cache")
            .header(header::ETAG, etag)
            .header("Content-Security-Policy", "default-src 'none'; sandbox")
            .header("X-Content-Type-Options", "nosniff")
    };
    match found {
        Ok((etag, Some((mime, bytes)))) => {
            response(StatusCode::OK, etag).content_type(mime).body(bytes)
        }
        Ok((etag, None)) => response(StatusCode::NOT_MODIFIED, etag).finish(),
        Err(err) => html_error(err),
    }
}

/// An image's entity tag: the revision's bytes and the image's place in them.
fn image_etag(document_key: &str, message: usize, index: usize) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{document_key}/{message}/{index}"));
    format!("\"{}\"", hex::encode(&digest[..12]))
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
fn owner_js() -> Response {
    asset("text/javascript; charset=utf-8", OWNER_JS)
}

#[handler]
fn highlight_css() -> Response {
    asset("text/css; charset=utf-8", HIGHLIGHT_CSS.as_str())
}

#[handler]
fn favicon() -> Response {
    Response::builder()
        .content_type("image/x-icon")
        .header(header::CACHE_CONTROL, "public, max-age=86400")
        .body(FAVICON)
}

#[cfg(test)]
mod tests {
    use poem::FromRequest;

    use super::*;

    fn wanted(accept: &str) -> Form {
        let req = Request::builder().header(header::ACCEPT, accept).finish();
        let accept = futures::executor::block_on(Accept::from_request_without_body(&req)).unwrap();
        Form::wanted(&accept)
    }

    #[test]
    fn the_page_answers_what_the_client_prefers() {
        use Form::*;
        for (accept, form) in [
            ("", Html),
            ("*/*", Html),
            ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", Html),
            ("application/json", Json),
            ("application/json, text/plain, */*", Json),
            ("text/html;q=0.5, application/json", Json),
            ("application/json;q=0.5, text/html", Html),
            ("text/markdown", Markdown),
            ("text/markdown, text/html;q=0.9", Markdown),
            ("text/html;q=0, application/json", Json),
        ] {
            assert_eq!(wanted(accept), form, "{accept:?}");
        }
    }
}
