//! HTTP routes: one `#[OpenApi]` impl per resource.

mod auth;
mod envelope;
mod etag;
mod health;
mod models;
mod openapi_doc;
mod owner;
mod payload;
pub(crate) mod responses;
mod sessions;

pub use envelope::envelope;

pub use health::HealthApi;
pub use owner::OwnerApi;
use poem_openapi::Tags;
pub use sessions::SessionsApi;

#[derive(Tags)]
pub(crate) enum ApiTags {
    /// Share, import and read sessions.
    Sessions,
    /// Your own shares: list them, change their options, delete them.
    Owner,
}

/// The OpenAPI service: every route, for routing. Its own document writes a path that two
/// APIs share (`/api/sessions/{id}`: reads here, PATCH and DELETE in [`OwnerApi`]) once per
/// API, so the document served is [`openapi_doc::document`], which merges them.
pub fn api_service() -> poem_openapi::OpenApiService<(SessionsApi, OwnerApi, HealthApi), ()> {
    service((SessionsApi, OwnerApi, HealthApi))
}

fn service<T: poem_openapi::OpenApi>(api: T) -> poem_openapi::OpenApiService<T, ()> {
    poem_openapi::OpenApiService::new(api, "session-share", env!("CARGO_PKG_VERSION")).description(
        "Share AI coding sessions from the Syntx VS Code extension. A session \
         (`SerializedSession`: task metadata and the whole chat) is validated against \
         `openapi/session.schema.json`, stored byte for byte under `username/id`, and readable \
         by anyone with its id or share code. Errors are JSON `{error, code, details}`.",
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
    // poem-openapi embeds its own document in the page; ours adds to it (see `openapi_doc`).
    let html = api.swagger_ui_html();
    let embedded = api.spec();
    assert!(html.contains(&embedded), "poem-openapi's Swagger UI page embeds its document");
    html.replacen(&embedded, &openapi_json(), 1)
}
