//! session-share: the backend of "share task" / "import task" in the Syntx VS Code extension.
//!
//! A session document is validated against `openapi/session.schema.json`, stored in object
//! storage at `sessions/<username>/<id>.json.gz` (a standard gzip file of the uploaded bytes,
//! the share's record in its gzip header; see [`storage::layout`]), and served back to any
//! client version. Sharing a task again adds a revision to its share.

pub mod access;
pub mod compression;
pub mod configuration;
pub mod deadline;
pub mod domain;
pub mod error;
pub mod json;
pub mod metrics;
pub mod pages;
pub mod parse_failure;
pub mod remote_keys;
pub mod router;
pub mod routes;
pub mod secrets;
pub mod server;
pub mod startup;
pub mod state;
pub mod storage;
pub mod surface;
pub mod telemetry;
pub mod validation;
