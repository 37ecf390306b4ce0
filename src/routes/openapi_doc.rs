//! The OpenAPI document as served, committed and printed: poem-openapi's, plus what its
//! derives cannot say.
//!
//! - `POST /api/sessions` takes two bodies; the media type gets both as named `examples`, so
//!   Swagger UI offers each and a test can send each.
//! - Every error response gets an example of its own status (poem-openapi has one example per
//!   schema, and every error shares `ErrorBody`), built by the same constructors the routes use.
//! - Path parameters get examples; PATCH fields that take `null` are marked `nullable`.
//!
//! Everything here only adds to the document; a test checks that every example it offers is
//! answered with its operation's documented success.

use poem_openapi::types::{Example, ToJSON};
use serde_json::{Value, json};

use super::models::{ImportRequest, SerializedSession};
use crate::{
    domain::{ShareId, Username},
    error::{ApiError, ErrorBody, ErrorCode, ErrorStatus},
};

/// The id and username every example uses.
pub const EXAMPLE_ID: &str = "HzKozOxIxl4dO0YijPu0q";
pub const EXAMPLE_USERNAME: &str = "viragtiwari";

const ID_PATTERN: &str = r"^[A-Za-z0-9_-]{1,64}$";
const USERNAME_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";

/// The finished document.
pub fn document() -> Value {
    // One API at a time, then merged: see `api_service`.
    let parse =
        |spec: String| -> Value { serde_json::from_str(&spec).expect("poem-openapi writes JSON") };
    let mut doc = parse(super::service((super::SessionsApi, super::HealthApi)).spec());
    merge(&mut doc, parse(super::service(super::OwnerApi).spec()));
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for operation in item.values_mut() {
                decorate_operation(path, operation);
            }
        }
    }
    if let Some(update) = doc.pointer_mut("/components/schemas/ShareUpdate/properties") {
        for field in ["title", "description", "expiresAt"] {
            update[field]["nullable"] = json!(true);
        }
    }
    doc
}

/// Adds `other`'s operations, schemas, security schemes and tags to `doc`.
fn merge(doc: &mut Value, other: Value) {
    for (section, key) in
        [("paths", None), ("components", Some("schemas")), ("components", Some("securitySchemes"))]
    {
        let (Some(from), Some(into)) = (
            key.map_or(other.get(section), |k| other.get(section).and_then(|s| s.get(k))),
            match key {
                None => doc.get_mut(section),
                Some(k) => doc.get_mut(section).and_then(|s| s.get_mut(k)),
            },
        ) else {
            continue;
        };
        let (Some(from), Some(into)) = (from.as_object(), into.as_object_mut()) else { continue };
        for (name, value) in from {
            match (into.get_mut(name).and_then(Value::as_object_mut), value.as_object()) {
                // A path both APIs serve: its operations side by side.
                (Some(existing), Some(more)) if section == "paths" => {
                    existing.extend(more.clone());
                }
                _ => {
                    into.entry(name.clone()).or_insert_with(|| value.clone());
                }
            }
        }
    }
    if let (Some(tags), Some(more)) =
        (doc.get_mut("tags").and_then(Value::as_array_mut), other["tags"].as_array())
    {
        for tag in more {
            if !tags.iter().any(|t| t["name"] == tag["name"]) {
                tags.push(tag.clone());
            }
        }
    }
}

fn decorate_operation(path: &str, operation: &mut Value) {
    let id = operation["operationId"].as_str().unwrap_or_default().to_owned();
    if let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) {
        for parameter in parameters {
            // The patterns are the domain parsers' rules (`ShareId::parse`, `Username::parse`),
            // which check them at run time: poem-openapi's `validator(pattern)` compiles its
            // regex on every request.
            match (parameter["name"].as_str(), parameter["in"].as_str()) {
                (Some("id"), Some("path")) => {
                    parameter["example"] = json!(EXAMPLE_ID);
                    parameter["schema"]["pattern"] = json!(ID_PATTERN);
                }
                (Some("username"), Some("path")) => {
                    parameter["example"] = json!(EXAMPLE_USERNAME);
                    parameter["schema"]["pattern"] = json!(USERNAME_PATTERN);
                }
                _ => {}
            }
        }
    }
    if path == "/api/sessions" && id == "createOrImportSession" {
        if let Some(media) = operation.pointer_mut("/requestBody/content/application~1json") {
            media["examples"] = json!({
                "create": {
                    "summary": "Share a session (what older extensions send)",
                    "value": SerializedSession::example().to_json(),
                },
                "import": {
                    "summary": "Import a share by share code (what newer extensions send)",
                    "value": ImportRequest::example().to_json(),
                },
            });
        }
    }
    let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    for (status, response) in responses.iter_mut() {
        let Ok(status) = status.parse::<u16>() else { continue };
        let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
            continue;
        };
        for media in content.values_mut() {
            if media["schema"]["$ref"] == "#/components/schemas/ErrorBody" {
                if let Some(body) = error_example(&id, status) {
                    media["example"] = body.to_json().unwrap_or(Value::Null);
                }
            }
        }
        if response["description"].as_str().is_none_or(str::is_empty) {
            if let Some(text) = default_description(status) {
                response["description"] = json!(text);
            }
        }
    }
}

/// For the statuses whose variant has no doc comment: what they mean on every route.
fn default_description(status: u16) -> Option<&'static str> {
    Some(match status {
        401 => "`MISSING_API_KEY` or `INVALID_API_KEY`: set your Syntx API key.",
        403 => "`ACCESS_DENIED`: the share belongs to another user.",
        404 => "`SESSION_NOT_FOUND`: no such share (or a private one that is not yours).",
        410 => "`SESSION_EXPIRED`: the share has expired.",
        413 => "`PAYLOAD_TOO_LARGE`: the body is over the server's `--max-body`.",
        415 => "`UNSUPPORTED_MEDIA_TYPE`: send the body as `Content-Type: application/json`.",
        _ => return None,
    })
}

/// What an operation answers with this status, in its most likely form.
fn error_example(operation: &str, status: u16) -> Option<ErrorBody> {
    let error = match status {
        400 => match operation {
            "createSession" | "createOrImportSession" => return Some(ErrorBody::example()),
            "listSessions" => ApiError::invalid_field(
                ErrorCode::InvalidRequest,
                "cursor",
                "not a cursor from this service",
            ),
            "updateSession" => ApiError::invalid_field(
                ErrorCode::InvalidRequest,
                "/title",
                "longer than 200 characters",
            ),
            "getSessionByShareCode" => Username::parse("../etc").unwrap_err().into(),
            _ => ShareId::parse("not an id!").unwrap_err().into(),
        },
        401 => ApiError::missing_api_key(),
        403 => ApiError::access_denied(),
        404 => ApiError::session_not_found(),
        409 => ApiError::conflict(),
        410 => ApiError::session_expired(),
        413 => ApiError::payload_too_large(64 * 1024 * 1024),
        415 => ApiError::unsupported_media_type(Some("text/plain")),
        429 => ApiError::rate_limited(2),
        500 => {
            ApiError::new(ErrorStatus::Internal, ErrorCode::InternalError, "internal server error")
        }
        503 => ApiError::storage_unavailable(),
        _ => return None,
    };
    Some(error.body)
}
