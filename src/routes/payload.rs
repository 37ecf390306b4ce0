//! Request and response bodies that stay bytes.
//!
//! A session is stored and served exactly as uploaded, so the body is never deserialized into
//! Rust types; `T` only supplies the schema shown in the OpenAPI document.

use std::marker::PhantomData;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use poem::{Body, IntoResponse, Request, RequestBody, Response, http::header};
use poem_openapi::{
    impl_apirequest_for_payload,
    payload::{ParsePayload, Payload},
    registry::{MetaSchemaRef, Registry},
    types::Type,
};

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use super::models::SerializedSession;
use crate::error::ApiError;
use crate::storage::ShareRecord;

fn is_json(content_type: &str) -> bool {
    matches!(content_type.parse::<mime::Mime>(), Ok(m) if m.type_() == "application"
        && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json")))
}

/// A JSON request body, not yet read. Read it with [`JsonUpload::read`] once the caller is
/// authenticated, so an unauthenticated client cannot make us buffer 64 MiB.
pub struct JsonUpload<T> {
    body: Body,
    declared_len: Option<u64>,
    _schema: PhantomData<fn() -> T>,
}

impl<T: Type> Payload for JsonUpload<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        is_json(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type> ParsePayload for JsonUpload<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let declared_len = request.header(header::CONTENT_LENGTH).and_then(|v| v.parse().ok());
        Ok(Self { body: body.take()?, declared_len, _schema: PhantomData })
    }
}

impl_apirequest_for_payload!(JsonUpload<T>, T: Type);

impl<T> JsonUpload<T> {
    /// Reads the body, refusing it as soon as it is known to exceed `limit` bytes: at once from
    /// `Content-Length`, else as the chunks arrive.
    pub async fn read(self, limit: u64) -> Result<Bytes, ApiError> {
        if self.declared_len.is_some_and(|n| n > limit) {
            return Err(ApiError::payload_too_large(limit));
        }
        let capacity = self.declared_len.unwrap_or(0).min(limit) as usize;
        let mut buffer = BytesMut::with_capacity(capacity);
        let mut chunks = self.body.into_bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::invalid_request(format!("could not read the request body: {e}"))
            })?;
            if (buffer.len() + chunk.len()) as u64 > limit {
                return Err(ApiError::payload_too_large(limit));
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok(buffer.freeze())
    }
}

/// A stored session, streamed from storage to the client without being parsed, with the
/// share's metadata as `X-Session-*` headers (see [`metadata_headers`]).
pub struct StoredSession {
    pub body: Body,
    pub size: u64,
    pub record: ShareRecord,
}

/// Header values must be visible ASCII: text is percent-encoded (UTF-8), like a URL.
const HEADER_TEXT: &AsciiSet = &CONTROLS.add(b'%').add(b',');

fn header_text(text: &str) -> String {
    utf8_percent_encode(text, HEADER_TEXT).to_string()
}

/// The share's metadata as response headers, so a client can show it without another request.
pub fn metadata_headers(record: &ShareRecord) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("X-Session-Owner", record.username.clone()),
        ("X-Session-Title", header_text(&record.title)),
        ("X-Session-Public", record.is_public.to_string()),
        ("X-Session-Created-At", record.created_at.to_rfc3339()),
        ("X-Session-Message-Count", record.message_count.to_string()),
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

impl Payload for StoredSession {
    const CONTENT_TYPE: &'static str = "application/json";

    fn schema_ref() -> MetaSchemaRef {
        SerializedSession::schema_ref()
    }

    fn register(registry: &mut Registry) {
        SerializedSession::register(registry);
    }
}

impl IntoResponse for StoredSession {
    fn into_response(self) -> Response {
        let mut builder = Response::builder()
            .content_type(Self::CONTENT_TYPE)
            .header(header::CONTENT_LENGTH, self.size);
        for (name, value) in metadata_headers(&self.record) {
            builder = builder.header(name, value);
        }
        builder.body(self.body)
    }
}
