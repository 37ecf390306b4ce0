//! The OpenAPI document as served, committed and printed: poem-openapi's, plus what its
//! derives cannot say. Nothing here moves or merges what poem-openapi wrote.
//!
//! - `POST /api/sessions` takes two bodies; the media type gets both as named `examples`, so
//!   Swagger UI offers each and a test can send each.
//! - Every error response gets an example of its own status (poem-openapi has one example per
//!   schema, and every error shares `ErrorBody`), built by the same constructors the routes use.
//! - Path parameters get examples (their patterns come from their types); PATCH fields that
//!   take `null` are marked `nullable`.
//!
//! Everything here only adds to the document; a test checks that every example it offers is
//! answered with its operation's documented success.

use poem_openapi::types::{Example, ToJSON};
use serde_json::{Value, json};

use super::models::{ImportRequest, SerializedSession};
use crate::{
    domain::{ShareId, Username},
    error::{ApiError, ErrorBody, ErrorCode},
};

/// The id and username every example uses: the id `viragtiwari`'s share of the example
/// session gets when storage's id key is [`EXAMPLE_ID_KEY`] (the examples test sets it so).
pub const EXAMPLE_ID: &str = "az9MVr61PxEOK-sdvM2U5";
pub const EXAMPLE_USERNAME: &str = "viragtiwari";
pub const EXAMPLE_ID_KEY: &[u8; 32] = b"session-share's OpenAPI examples";

/// The finished document, from poem-openapi's (`spec`).
pub fn document(spec: &str) -> Value {
    let mut doc: Value = serde_json::from_str(spec).expect("poem-openapi writes JSON");
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

fn decorate_operation(path: &str, operation: &mut Value) {
    let id = operation["operationId"].as_str().unwrap_or_default().to_owned();
    if let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) {
        for parameter in parameters {
            // Their patterns come from their types (`routes::params`).
            match (parameter["name"].as_str(), parameter["in"].as_str()) {
                (Some("id"), Some("path")) => parameter["example"] = json!(EXAMPLE_ID),
                (Some("username"), Some("path")) => parameter["example"] = json!(EXAMPLE_USERNAME),
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
    }
}

/// What an operation answers with this status, in its most likely form.
fn error_example(operation: &str, status: u16) -> Option<ErrorBody> {
    let error = match status {
        400 => match operation {
            "createSession" | "createOrImportSession" | "replaceSession" => {
                return Some(ErrorBody::example());
            }
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
            _ => ShareId::parse("az9MVr61PxEOK-sdvM2U!").unwrap_err().into(),
        },
        401 => ApiError::missing_api_key(),
        403 => ApiError::access_denied(),
        404 => ApiError::session_not_found(),
        409 => ApiError::conflict(),
        412 => ApiError::precondition_failed(),
        410 => ApiError::session_expired(),
        // Each route's own limit; a session's is `--max-body`, as declared.
        413 => ApiError::payload_too_large(match operation {
            "updateSession" => super::session::MAX_UPDATE_BODY,
            "createLink" | "revokeLinks" => super::links::MAX_LINK_BODY,
            _ => crate::configuration::Settings::defaults().max_body,
        }),
        415 => ApiError::unsupported_media_type(Some("text/plain")),
        422 => ApiError::secrets_found(&[crate::secrets::Finding {
            rule: "github-pat".into(),
            pointer: "/messages/14/text".into(),
            raw: 0..0,
        }]),
        429 => ApiError::rate_limited(2),
        500 => ApiError::new(ErrorCode::InternalError, "internal server error"),
        503 => ApiError::storage_unavailable(),
        _ => return None,
    };
    Some(error.body)
}
