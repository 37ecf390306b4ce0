//! Answers that carry a stored session: streamed from storage without being parsed, as the
//! client accepts it (gzip as stored, or decoded to the uploaded bytes), with the share's
//! metadata in `X-Session-*` headers.

use bytes::Bytes;
use futures::stream::BoxStream;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use poem::{Body, IntoResponse, Response, http::header};
use poem_openapi::{
    ApiResponse,
    registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry},
    types::Type,
};

use super::{etag::http_etag, models::SerializedSession};
use crate::{domain::ShareRecord, storage::share_file};

/// A stored session on its way to a client.
pub struct StoredSession {
    pub body: Body,
    pub size: u64,
    pub record: ShareRecord,
    /// `Some("gzip")` when the body is sent compressed, as it is stored.
    pub encoding: Option<&'static str>,
    /// As the client should see it: weak for the gzip form, the two forms of one document not
    /// being byte-identical.
    pub etag: Option<String>,
}

impl StoredSession {
    /// A stored document (`compressed`: a deflate stream and its gzip trailer, see
    /// [`share_file`]): to a client that accepts gzip, as a gzip member (no work on our side);
    /// to any other, decompressed as it streams, so every client gets the uploaded bytes.
    pub fn serve(
        compressed: BoxStream<'static, object_store::Result<Bytes>>,
        compressed_len: u64,
        etag: Option<String>,
        record: ShareRecord,
        accepts_gzip: bool,
    ) -> Self {
        let gzip = share_file::as_gzip(compressed);
        let etag = etag.as_deref().map(http_etag);
        if accepts_gzip {
            let weak = etag.map(|e| if e.starts_with("W/") { e } else { format!("W/{e}") });
            let size = share_file::PLAIN_HEADER.len() as u64 + compressed_len;
            let body = Body::from_bytes_stream(gzip);
            return Self { body, size, record, encoding: Some("gzip"), etag: weak };
        }
        let body = Body::from_bytes_stream(crate::compression::gunzip_stream(gzip));
        Self { body, size: record.size, record, encoding: None, etag }
    }
}

/// Header values must be visible ASCII: text is percent-encoded (UTF-8), like a URL.
const HEADER_TEXT: &AsciiSet = &CONTROLS.add(b'%').add(b',');

fn header_text(text: &str) -> String {
    utf8_percent_encode(text, HEADER_TEXT).to_string()
}

/// The share's metadata as response headers, so a client can show it without another request.
pub fn metadata_headers(record: &ShareRecord) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("X-Session-Owner", record.username.to_string()),
        ("X-Session-Title", header_text(&record.title)),
        ("X-Session-Public", record.is_public().to_string()),
        ("X-Session-Created-At", record.created_at.to_rfc3339()),
        ("X-Session-Message-Count", record.message_count.to_string()),
        ("X-Session-Revision", record.revision.to_string()),
    ];
    if let Some(description) = &record.description {
        headers.push(("X-Session-Description", header_text(description)));
    }
    if !record.tags.is_empty() {
        let tags: Vec<String> = record.tags.iter().map(|t| header_text(t)).collect();
        headers.push(("X-Session-Tags", tags.join(",")));
    }
    if let Some(at) = record.expires_at {
        headers.push(("X-Session-Expires-At", at.to_rfc3339()));
    }
    headers
}

impl IntoResponse for StoredSession {
    fn into_response(self) -> Response {
        let mut builder = Response::builder()
            .content_type("application/json")
            .header(header::CONTENT_LENGTH, self.size)
            .header(header::VARY, "Accept-Encoding")
            .header("X-Content-Type-Options", "nosniff");
        if let Some(encoding) = self.encoding {
            builder = builder.header(header::CONTENT_ENCODING, encoding);
        }
        if let Some(etag) = &self.etag {
            builder = builder.header(header::ETAG, etag);
        }
        for (name, value) in metadata_headers(&self.record) {
            builder = builder.header(name, value);
        }
        builder.body(self.body)
    }
}

/// A header of a 200 that carries a stored session: name, whether always sent, type, text.
type SessionHeader = (&'static str, bool, fn() -> MetaSchemaRef, &'static str);

const SESSION_HEADERS: &[SessionHeader] = &[
    ("ETag", false, String::schema_ref, "The stored version's tag; weak (`W/`) for the gzip form."),
    ("X-Session-Owner", true, String::schema_ref, "The share's author."),
    ("X-Session-Title", true, String::schema_ref, "Percent-encoded UTF-8."),
    (
        "X-Session-Description",
        false,
        String::schema_ref,
        "Percent-encoded UTF-8; absent when none.",
    ),
    (
        "X-Session-Tags",
        false,
        String::schema_ref,
        "Comma-separated, each percent-encoded; absent when none.",
    ),
    ("X-Session-Public", true, bool::schema_ref, "`false` for a private share."),
    ("X-Session-Created-At", true, String::schema_ref, "When the share was first made, RFC 3339."),
    (
        "X-Session-Expires-At",
        false,
        String::schema_ref,
        "RFC 3339; absent when the share does not expire.",
    ),
    ("X-Session-Message-Count", true, u64::schema_ref, "Messages in the session."),
    (
        "X-Session-Revision",
        true,
        u32::schema_ref,
        "The revision answered: 1 for the first share, one more for each share of the task since.",
    ),
    (
        "Content-Encoding",
        false,
        String::schema_ref,
        "`gzip` when the request's `Accept-Encoding` allows it (the document as stored, \
         decoding to the uploaded bytes; the `ETag` is then weak); absent otherwise, and the \
         body is the uploaded bytes.",
    ),
    (
        "Vary",
        true,
        String::schema_ref,
        "`Accept-Encoding, Syntx-Api-Key, Authorization`: the answer depends on each.",
    ),
    (
        "Cache-Control",
        true,
        String::schema_ref,
        "`no-cache` (a cache may keep it, and asks again with its `ETag`); `private, no-store` \
         when the request carried a key.",
    ),
];

/// The 200 of a route that answers a stored session, described as `description`.
pub fn session_meta(description: &'static str) -> MetaResponse {
    MetaResponse {
        description,
        status: Some(200),
        status_range: None,
        content: vec![MetaMediaType {
            content_type: "application/json",
            schema: SerializedSession::schema_ref(),
        }],
        headers: SESSION_HEADERS
            .iter()
            .map(|&(name, required, schema, text)| MetaHeader {
                name: name.to_uppercase(),
                description: Some(text.into()),
                required,
                deprecated: false,
                schema: schema(),
            })
            .collect(),
    }
}

/// A read of a share: the session, or "not modified".
// One per request, answered at once: boxing the large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum SessionRead {
    Found(StoredSession),
    /// `If-None-Match` matched; the tag repeated is the client's own when it sent one.
    NotModified(Option<String>),
}

impl ApiResponse for SessionRead {
    fn meta() -> MetaResponses {
        let not_modified = MetaResponse {
            description: "`If-None-Match` matched: the copy the client has is current.",
            status: Some(304),
            status_range: None,
            content: vec![],
            headers: vec![MetaHeader {
                name: "ETAG".into(),
                description: None,
                required: false,
                deprecated: false,
                schema: String::schema_ref(),
            }],
        };
        let found = session_meta(
            "The stored session, byte for byte as uploaded, with the share's metadata in \
             `X-Session-*` headers. The `ETag` names the stored version: it changes with a new \
             revision and with the share's options.",
        );
        MetaResponses { responses: vec![found, not_modified] }
    }

    fn register(registry: &mut Registry) {
        SerializedSession::register(registry);
    }
}

impl IntoResponse for SessionRead {
    fn into_response(self) -> Response {
        match self {
            Self::Found(session) => session.into_response(),
            Self::NotModified(etag) => {
                let mut builder = Response::builder().status(poem::http::StatusCode::NOT_MODIFIED);
                if let Some(etag) = etag {
                    builder = builder.header(header::ETAG, etag);
                }
                builder.finish()
            }
        }
    }
}
