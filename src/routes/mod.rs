//! HTTP routes: one `#[OpenApi]` impl per path, each handler returning
//! `Result<Success, Refusal<Statuses>>` so that its statuses are where it is written.

mod auth;
mod create;
mod envelope;
mod errors;
mod etag;
mod health;
mod models;
mod openapi_doc;
mod public;
mod read;
mod revisions;
mod session;
mod sessions;
mod share_code;
mod sharing;
mod stored;
mod upload;

pub use auth::key_in;
pub use envelope::envelope;
pub use models::ShareSummary;
pub use openapi_doc::{EXAMPLE_ID, EXAMPLE_ID_KEY};
pub use read::{ReadRequest, read};
pub use sharing::summary;

use poem_openapi::Tags;

#[derive(Tags)]
pub(crate) enum ApiTags {
    /// Share, import and read sessions.
    Sessions,
    /// Your own shares: list them, replace their sessions, change their options, delete them.
    Owner,
}

/// Every path's API, for routing and for the document.
pub type Api = (
    sessions::SessionsApi,
    create::CreateApi,
    session::SessionApi,
    revisions::RevisionsApi,
    share_code::ShareCodeApi,
    public::PublicApi,
    health::HealthApi,
);

pub fn api_service() -> poem_openapi::OpenApiService<Api, ()> {
    let api = (
        sessions::SessionsApi,
        create::CreateApi,
        session::SessionApi,
        revisions::RevisionsApi,
        share_code::ShareCodeApi,
        public::PublicApi,
        health::HealthApi,
    );
    poem_openapi::OpenApiService::new(api, "session-share", env!("CARGO_PKG_VERSION")).description(
        "Share AI coding sessions from the Syntx VS Code extension. A session \
         (`SerializedSession`: task metadata and the whole chat) is validated against \
         `openapi/session.schema.json` and stored in S3-compatible storage under \
         `sessions/<username>/<id>.json.gz`, a standard gzip file of the uploaded bytes; anyone \
         with its id or share code reads it back byte for byte. Sharing a task again keeps its \
         link and adds a revision. Errors are JSON `{error, code, details}`.",
    )
}

/// The OpenAPI document as served at `/api/openapi.json`, shown by Swagger UI, printed by
/// `session-share openapi` and committed in `openapi/openapi.json`.
pub fn openapi_json() -> String {
    serde_json::to_string_pretty(&openapi_doc::document()).expect("a JSON value serializes")
}

/// Swagger UI's page (everything embedded), showing [`openapi_json`].
pub fn swagger_ui_html() -> String {
    let api = api_service();
    // poem-openapi embeds its own document in the page; ours adds examples to it.
    let html = api.swagger_ui_html();
    let embedded = api.spec();
    assert!(html.contains(&embedded), "poem-openapi's Swagger UI page embeds its document");
    html.replacen(&embedded, &openapi_json(), 1)
}
