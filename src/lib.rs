//! session-share: the backend of "share task" / "import task" in the Syntx VS Code extension.
//!
//! A session document is validated against `openapi/session.schema.json`, stored (gzip, decoding
//! to the uploaded bytes) in object storage as one object per share with its record,
//! `shares/<owner's id prefix>/<id>`, and served back to any client version.

pub mod access;
pub mod compression;
pub mod configuration;
pub mod domain;
pub mod error;
pub mod json;
pub mod metrics;
pub mod pages;
pub mod remote_keys;
pub mod routes;
pub mod server;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod validation;
