//! Checks an uploaded session against `openapi/session.schema.json`.
//!
//! The schema is embedded at build time and compiled once at start-up; validation reports every
//! violation (up to a cap) with its JSON pointer, so a client developer can fix them all at once.

use serde_json::Value;

use crate::parse_failure::ParseFailure;

/// The JSON Schema of a `SerializedSession`, as committed in `openapi/`.
pub const SESSION_SCHEMA: &str = include_str!("../openapi/session.schema.json");

/// The major format version this service stores.
pub const SUPPORTED_MAJOR: &str = "1";

/// How many violations one error response lists.
pub const MAX_VIOLATIONS: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer to the offending value (`/messages/3/ts`); empty for the document itself.
    pub pointer: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("the body is not valid JSON: {message} at line {line}, column {column}")]
    InvalidJson { line: usize, column: usize, message: String },
    #[error("session format version {found} is not supported; this service accepts version 1.x.y")]
    UnsupportedVersion { found: String },
    #[error("the session does not match the SerializedSession schema")]
    Invalid { violations: Vec<Violation>, total: usize },
}

pub struct SessionValidator {
    schema: jsonschema::Validator,
}

impl SessionValidator {
    /// Compiles the embedded schema. Fails only if the committed schema itself is broken.
    pub fn new() -> anyhow::Result<Self> {
        let schema: Value = serde_json::from_str(SESSION_SCHEMA)?;
        let schema = jsonschema::draft202012::new(&schema)
            .map_err(|e| anyhow::anyhow!("openapi/session.schema.json does not compile: {e}"))?;
        Ok(Self { schema })
    }

    /// Parses a request body as JSON for checking, reporting where it breaks. Duplicate keys
    /// are refused, lone surrogate escapes tolerated, and very long strings shortened in a way
    /// no rule of the schema can tell (see [`crate::json::parse_for_checks`]): keep the bytes
    /// for anything else.
    pub fn parse_json(body: &[u8]) -> Result<Value, DocumentError> {
        crate::json::parse_for_checks(body).map_err(|e| invalid_json(e, body))
    }

    /// [`Self::parse_json`], handing every string value to `each` as it is decoded, and
    /// whether `each` saw them as they are (see [`crate::json::parse_for_checks_seeing`]).
    pub fn parse_json_seeing(
        body: &[u8],
        each: &dyn Fn(crate::json::StringValue),
    ) -> Result<(Value, bool), DocumentError> {
        crate::json::parse_for_checks_seeing(body, each).map_err(|e| invalid_json(e, body))
    }

    /// Checks a parsed document: first its major version (another major version has another
    /// shape, so schema errors about it would mislead), then the schema.
    pub fn check(&self, document: &Value) -> Result<(), DocumentError> {
        if let Some(version) = document.get("version").and_then(Value::as_str) {
            if let Some(major) = semver_major(version) {
                if major != SUPPORTED_MAJOR {
                    return Err(DocumentError::UnsupportedVersion { found: version.to_owned() });
                }
            }
        }
        // The fast path first: `is_valid` stops at the first error and builds none; every valid
        // upload takes only it. An invalid one is walked again for its full list of errors.
        if self.schema.is_valid(document) {
            return Ok(());
        }
        let mut total = 0;
        let mut violations = Vec::new();
        for error in self.schema.iter_errors(document) {
            total += 1;
            if violations.len() < MAX_VIOLATIONS {
                violations.push(Violation {
                    pointer: error.instance_path().to_string(),
                    message: error.to_string(),
                });
            }
        }
        if total == 0 { Ok(()) } else { Err(DocumentError::Invalid { violations, total }) }
    }
}

fn invalid_json(e: serde_json::Error, body: &[u8]) -> DocumentError {
    let ParseFailure { line, column, message } = crate::parse_failure::describe(&e, body);
    DocumentError::InvalidJson { line, column, message }
}

/// `"2.0.1"` → `Some("2")`; anything not shaped like `N.N.N…` → `None` (left to the schema).
fn semver_major(version: &str) -> Option<&str> {
    let mut parts = version.splitn(3, '.');
    let major = parts.next()?;
    let minor = parts.next()?;
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (numeric(major) && numeric(minor) && parts.next().is_some()).then_some(major)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({
            "version": "1.0.0",
            "task": {"id": "t1", "number": 1, "ts": 1, "task": "Fix it", "tokensIn": 1,
                     "tokensOut": 2, "totalCost": 0.5},
            "messages": [{"ts": 1, "type": "say", "say": "text", "text": "hi"}]
        })
    }

    #[test]
    fn accepts_a_minimal_session_with_unknown_kinds_and_extra_fields() {
        let v = SessionValidator::new().unwrap();
        let mut doc = minimal();
        doc["messages"][0]["say"] = json!("brand_new_kind_from_2027");
        doc["messages"][0]["futureField"] = json!({"x": 1});
        doc["task"]["mode"] = json!("architect");
        doc["title"] = json!("extra top-level keys are fine");
        assert_eq!(v.check(&doc), Ok(()));
    }

    #[test]
    fn lists_every_violation_with_its_pointer() {
        let v = SessionValidator::new().unwrap();
        let mut doc = minimal();
        doc["task"].as_object_mut().unwrap().remove("tokensIn");
        doc["messages"][0]["ts"] = json!("yesterday");
        doc["messages"][0]["type"] = json!("shout");
        let Err(DocumentError::Invalid { violations, total }) = v.check(&doc) else {
            panic!("expected violations")
        };
        assert_eq!(total, 3);
        let pointers: Vec<_> = violations.iter().map(|v| v.pointer.as_str()).collect();
        assert!(pointers.contains(&"/task"), "{pointers:?}");
        assert!(pointers.contains(&"/messages/0/ts"), "{pointers:?}");
        assert!(pointers.contains(&"/messages/0/type"), "{pointers:?}");
    }

    #[test]
    fn caps_the_list_but_counts_everything() {
        let v = SessionValidator::new().unwrap();
        let mut doc = minimal();
        doc["messages"] = json!((0..200).map(|_| json!({"type": "say"})).collect::<Vec<_>>());
        let Err(DocumentError::Invalid { violations, total }) = v.check(&doc) else { panic!() };
        assert_eq!(violations.len(), MAX_VIOLATIONS);
        assert_eq!(total, 200);
    }

    #[test]
    fn another_major_version_is_unsupported_but_garbage_is_a_schema_error() {
        let v = SessionValidator::new().unwrap();
        let mut doc = minimal();
        doc["version"] = json!("2.0.0");
        assert!(matches!(v.check(&doc), Err(DocumentError::UnsupportedVersion { .. })));
        doc["version"] = json!("1.4.2");
        assert_eq!(v.check(&doc), Ok(()));
        doc["version"] = json!("one");
        assert!(matches!(v.check(&doc), Err(DocumentError::Invalid { .. })));
    }

    #[test]
    fn every_fixture_is_valid() {
        let v = SessionValidator::new().unwrap();
        // The generated large ones are checked by the integration tests, which share them.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        for name in ["small.json", "medium.json"] {
            let bytes = std::fs::read(dir.join(name)).expect("committed in tests/fixtures");
            let doc = SessionValidator::parse_json(&bytes).unwrap();
            assert_eq!(v.check(&doc), Ok(()), "{name}");
        }
    }
}
