//! Integration tests: the service on port 0, talking HTTP to its clients and the S3 protocol to
//! a real S3 server (in-process s3s-fs by default, or `TEST_S3_ENDPOINT`).

mod caching;
mod cli;
mod compression;
mod concurrency;
mod connections;
mod create;
#[path = "../support/credentials.rs"]
mod credentials;
mod docs;
mod errors;
mod faults;
mod fixtures;
mod health;
mod helpers;
mod import;
mod layout;
mod limits;
mod links;
mod listing;
mod metrics;
mod openapi;
mod options;
mod outage;
mod owner;
mod pages;
mod read;
mod remote_auth;
mod replicas;
mod revisions;
mod secrets;
#[path = "../support/sessions.rs"]
mod sessions;
