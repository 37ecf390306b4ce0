//! Every path's API together: what the server routes, and the OpenAPI document and Swagger UI
//! made from it.

use super::{
    create::CreateApi, health::HealthApi, openapi_doc, public::PublicApi, revisions::RevisionsApi,
    session::SessionApi, sessions::SessionsApi, share_code::ShareCodeApi,
};

/// Every path's API, for routing and for the document.
pub type Api =
    (SessionsApi, CreateApi, SessionApi, RevisionsApi, ShareCodeApi, PublicApi, HealthApi);

pub fn api_service() -> poem_openapi::OpenApiService<Api, ()> {
    let api =
        (SessionsApi, CreateApi, SessionApi, RevisionsApi, ShareCodeApi, PublicApi, HealthApi);
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
    serde_json::to_string_pretty(&openapi_doc::document(&api_service().spec()))
        .expect("a JSON value serializes")
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
